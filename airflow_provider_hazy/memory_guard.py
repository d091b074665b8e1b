"""A memory estimate before training: a configuration that cannot fit is refused, naming the setting to change.

What grows with the settings is PrivBayes' count tables: one per modelled column, of the column's domain
times its parents' domains (`n_parents` of them), each capped at `privbayes.MAX_TABLE_CELLS` (parents are
coarsened to fit) and kept as float64 noisy counts, their projection and the conditional distribution.
Columns' domains come from the settings (`n_bins`, `max_cat`, per-column overrides) plus the null and
point-mass codes; the rows themselves (codes and the source frame) count when `nrows` bounds them.

The estimate is an upper bound before any data is read (the theta-usefulness rule shrinks the tables of a
small table further); it is compared with the memory the process can have: `MemAvailable` of
/proc/meminfo, the cgroup limit when lower, or `HAZY_MEMORY_LIMIT_BYTES`. Unknown memory: no check.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional

from .config import TrainingConfig
from .config.schema import BaseTable, ReferenceTable
from .core.privbayes import MAX_TABLE_CELLS
from .outcome import ConfigError

CELL_BYTES = 8 * 3  # noisy counts, their projection, the conditional distribution (float64 each)
ROW_VALUE_BYTES = 8 + 16  # an int64 code and the source value in the frame
EXTRA_CODES = 3  # null, and point masses / the other-bucket
UNMODELLED = ("id", "foreign_key", "constant")


class MemoryEstimateError(ConfigError):
    """A configuration whose training would need more memory than the process can have (exit code 2)."""


def available_memory() -> Optional[int]:
    """Bytes this process can still allocate: `HAZY_MEMORY_LIMIT_BYTES`, else the lower of MemAvailable and
    the cgroup's remaining limit; None when unknown."""
    override = os.environ.get("HAZY_MEMORY_LIMIT_BYTES", "").strip()
    if override.isdigit():
        return int(override)
    found: List[int] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = Path("/sys/fs/cgroup/memory.current").read_text().strip()
        if limit.isdigit() and used.isdigit():
            found.append(int(limit) - int(used))
    except OSError:
        pass
    return min(found) if found else None


def _domains(table: BaseTable, generator: Any) -> List[int]:
    """An upper bound on each modelled column's number of codes."""
    domains = []
    for column in table.columns:
        kind = getattr(column, "type", "")
        if kind in UNMODELLED:
            continue
        if kind == "bool":
            domains.append(2 + EXTRA_CODES)
        elif kind in ("integer", "float", "datetime", "date", "age"):
            domains.append((getattr(column, "n_bins", None) or generator.n_bins) + EXTRA_CODES)
        else:  # category, person, location: categories
            domains.append((getattr(column, "max_cat", None) or generator.max_cat) + EXTRA_CODES)
    return domains


def table_cells(domains: List[int], n_parents: int) -> int:
    """The most count-table cells the columns' tables can have together (each capped at MAX_TABLE_CELLS)."""
    largest = sorted(domains, reverse=True)
    parents = min(n_parents, max(0, len(domains) - 1))
    parent_cells = math.prod(largest[:parents])
    return sum(min(MAX_TABLE_CELLS, domain * parent_cells) for domain in domains)


@dataclass
class TableEstimate:
    name: str
    n_columns: int
    tables_bytes: int
    rows_bytes: int

    @property
    def total(self) -> int:
        return self.tables_bytes + self.rows_bytes


def estimate_training(config: TrainingConfig, n_parents: Optional[int] = None) -> List[TableEstimate]:
    """The estimate of every modelled table (n_parents: the generator's, unless given)."""
    generator = config.model_parameters.generator
    k = getattr(generator, "n_parents", 0) if n_parents is None else n_parents
    estimates = []
    for table in config.data_schema.tables:
        if isinstance(table, ReferenceTable):
            continue
        domains = _domains(table, generator)
        rows = config.nrows or 0
        tables_bytes = table_cells(domains, k) * CELL_BYTES
        estimates.append(TableEstimate(table.name, len(domains), tables_bytes, rows * len(domains) * ROW_VALUE_BYTES))
    return estimates


def _gb(value: float) -> str:
    return f"{value / 1e9:.1f} GB"


def check_training_memory(config: TrainingConfig, available: Optional[int] = None) -> None:
    """Raise `MemoryEstimateError` when training `config` cannot fit in memory, naming the setting to change."""
    available = available_memory() if available is None else available
    if available is None:
        return
    estimates = estimate_training(config)
    needed = sum(e.total for e in estimates)
    if needed <= available:
        return
    largest = max(estimates, key=lambda e: e.total)
    generator = config.model_parameters.generator
    k = getattr(generator, "n_parents", 0)
    rows = sum(e.rows_bytes for e in estimates)
    if rows > needed / 2:
        advice = f"lower nrows (now {config.nrows})"
    else:
        fitting = [p for p in range(k - 1, -1, -1) if sum(e.total for e in estimate_training(config, p)) <= available]
        advice = (
            f"set model_parameters.generator.n_parents to {fitting[0]} or lower (now {k})"
            if fitting
            else f"lower model_parameters.generator.n_bins (now {generator.n_bins}) or max_cat "
            f"(now {generator.max_cat})"
        )
    raise MemoryEstimateError(
        f"training needs about {_gb(needed)} of memory, more than the {_gb(available)} available "
        f"(table '{largest.name}': {largest.n_columns} modelled columns, count tables of up to "
        f"{_gb(largest.tables_bytes)} at n_parents {k}): {advice}"
    )
