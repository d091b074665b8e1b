"""The rows the training-time evaluation scores: a bounded, seeded sample, so that training memory does not grow
with the table.

A table with no foreign-key relation trains streamed even when the evaluation is on; the evaluation then
scores `EVALUATION_ROWS` of its source rows, drawn without replacement from the row count with a seed from
`random_state` and the table's position (`sample_indices`), gathered in one more pass over its chunks
(`gather_sample`; memory holds the sample and one chunk), against a synthetic sample of at most as many
rows (`synthetic_rows`). A smaller table is scored whole, as before. Tables linked by foreign keys are read
whole for training already and are scored whole (a sample would cut their keys).

Sampling error: a histogram bin of probability p estimated from n = 200,000 rows has a standard error of
sqrt(p (1 - p) / n) <= 0.0011, and the histogram similarity (1 - total variation) of k bins moves by about
sqrt(k / (2 pi n)) at most, 0.009 for 100 bins; a normalised mutual information of two columns of about
100 values each moves by a few thousandths. Both are small against the differences the scores are read for.
The scores are computed outside the privacy budget, as before (`pipeline.evaluation`).
"""

from __future__ import annotations

from typing import Callable, Dict, Iterator, Mapping, Optional

import numpy as np
import pandas as pd

from ..config import TrainingConfig

EVALUATION_ROWS = 200_000
"""Source rows (and synthetic rows) the training-time evaluation scores per table, at most."""
_SAMPLE_STREAM = 2**31 + 3
"""Seed stream of the evaluation's source sample (apart from the model's and the evaluation's own)."""

ChunkSource = Callable[[], Iterator[pd.DataFrame]]


def evaluation_on(config: TrainingConfig) -> bool:
    """Whether training computes the evaluation (a metric is configured)."""
    return config.evaluation is not None and bool(config.evaluation.metrics)


def synthetic_rows(rows: int) -> int:
    """The synthetic rows of a root table the evaluation scores: the configured magnitude, at most
    `EVALUATION_ROWS`."""
    return min(rows, EVALUATION_ROWS)


def sample_indices(config: TrainingConfig, table: str, n_rows: int) -> Optional[np.ndarray]:
    """The sorted row indices of `table`'s evaluation sample, or None when every row is scored."""
    if n_rows <= EVALUATION_ROWS:
        return None
    position = config.data_schema.table_names.index(table)
    rng = np.random.default_rng(np.random.SeedSequence(config.random_state, spawn_key=(_SAMPLE_STREAM, position)))
    return np.sort(rng.choice(n_rows, size=EVALUATION_ROWS, replace=False))


def gather_sample(chunks: ChunkSource, indices: Optional[np.ndarray]) -> pd.DataFrame:
    """The rows at `indices` (every row when None) of one pass over the chunks, in order."""
    picked, start = [], 0
    for chunk in chunks():
        stop = start + len(chunk)
        if indices is None:
            picked.append(chunk)
        else:
            low, high = np.searchsorted(indices, [start, stop])
            if high > low:
                picked.append(chunk.iloc[indices[low:high] - start])
        start = stop
    if not picked:
        return pd.DataFrame()
    return pd.concat(picked, ignore_index=True)


def evaluation_frames(
    config: TrainingConfig,
    frames: Mapping[str, pd.DataFrame],
    streamed: Mapping[str, ChunkSource],
    n_rows: Mapping[str, int],
) -> Dict[str, pd.DataFrame]:
    """The real tables the evaluation scores: each table trained from its chunks (`streamed`) as its seeded
    sample, every other table as it is held in `frames`. Empty when no metric is configured."""
    if not evaluation_on(config):
        return {}
    real = dict(frames)
    for name, chunks in streamed.items():
        indices = sample_indices(config, name, n_rows[name])
        if name in frames and indices is None:
            continue
        real[name] = frames[name].iloc[indices].reset_index(drop=True) if name in frames else gather_sample(
            chunks, indices
        )
    return real
