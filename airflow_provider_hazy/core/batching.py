"""Generation batches: how many rows each batch makes and the seed it draws from.

Batch i of a run seeded with `random_state` draws from `SeedSequence(random_state, spawn_key=(i,))`,
which is exactly the i-th child of `SeedSequence(random_state).spawn(n)` for any n: a batch can be made
on its own (an Airflow mapped task, a retry) and the union of the batches equals a sequential run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional

import numpy as np


@dataclass(frozen=True)
class Batch:
    """One batch of a table: rows [start_row, start_row + n_rows) of the whole run."""

    index: int
    start_row: int
    n_rows: int


def rows_for_magnitude(n_training_rows: int, magnitude: float) -> int:
    """Rows generated for a table of `n_training_rows` at `magnitude` (rounded half up, at least 1 if any)."""
    if n_training_rows <= 0:
        return 0
    return max(1, int(math.floor(n_training_rows * magnitude + 0.5)))


def plan_batches(n_training_rows: int, magnitude: float, batch_magnitude: Optional[float]) -> List[Batch]:
    """The batches of one table: `batch_magnitude` rows each (the last one smaller), or one batch."""
    total = rows_for_magnitude(n_training_rows, magnitude)
    if total == 0:
        return [Batch(index=0, start_row=0, n_rows=0)]
    size = total if batch_magnitude is None else rows_for_magnitude(n_training_rows, batch_magnitude)
    n_batches = math.ceil(total / size)
    return [Batch(index=i, start_row=i * size, n_rows=min(size, total - i * size)) for i in range(n_batches)]


def run_entropy(random_state: Optional[int]) -> int:
    """The run's root entropy: `random_state`, or fresh entropy (recorded so the run can be repeated)."""
    if random_state is not None:
        return int(random_state)
    return int(np.random.SeedSequence().entropy)


def batch_seed(entropy: int, batch_index: int) -> np.random.SeedSequence:
    """The seed of batch `batch_index`: the batch_index-th child of SeedSequence(entropy)."""
    return np.random.SeedSequence(entropy, spawn_key=(batch_index,))


def table_batch_seed(entropy: int, batch_index: int, table_index: int) -> np.random.SeedSequence:
    """The stream of table `table_index` within batch `batch_index`: a child of that batch's seed.

    Equal to `batch_seed(entropy, batch_index).spawn(n_tables)[table_index]` for any n_tables.
    """
    return np.random.SeedSequence(entropy, spawn_key=(batch_index, table_index))
