"""The default batch size: as many rows as fit in a memory budget.

With `generate_params.batch_magnitude` unset, a run is cut into batches of at most `default_batch_rows` root
rows, so that one batch (every table of it, as codes, as a DataFrame and as the writer's encoded copy) stays
within `HAZY_BATCH_MEMORY` (default `DEFAULT_BATCH_MEMORY`, 512 MB; "512MB", "2GB", "300M" or a number of
bytes). A run of any size then holds one batch per worker process plus the one being written, so the calling
process peaks below about twice the budget plus the model and the Python libraries.

The estimate reads only the model (column types, code columns, the longest source string where the model
holds it, degree caps), never the data, so the plan - and with it the rows a run makes - is the same for
every process that reads the same model with the same `HAZY_BATCH_MEMORY`: a mapped run's tasks must share
it. A table smaller than the budget stays one batch, as before.
"""

from __future__ import annotations

import os
import re
from typing import Dict, Mapping

from ..config.schema import BaseTable
from ..core import multitable
from ..core.batching import rows_for_magnitude
from .model import Model

DEFAULT_BATCH_MEMORY = 512 * 1024**2
FIXED_WIDTH_BYTES = 9
"""A number, bool, date or datetime value: 8 bytes and its null flag."""
TEXT_OVERHEAD_BYTES = 16
"""A text value besides its characters: its offset, null flag and the writer's separators."""
DEFAULT_TEXT_LENGTH = 24
"""Characters assumed for a text column whose longest source string the model does not hold."""
CODE_BYTES = 16
"""One int64 code per modelled code column, and the parent codes drawn beside it."""
WRITER_COPIES = 2
"""The frame and the writer's encoded copy of it (CSV text, COPY binary, Arrow batch)."""
_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3, "gb": 1024**3}


def batch_memory(value: str | None = None) -> int:
    """The batch memory budget in bytes: `value`, else `HAZY_BATCH_MEMORY`, else `DEFAULT_BATCH_MEMORY`."""
    text = (value if value is not None else os.environ.get("HAZY_BATCH_MEMORY", "")).strip()
    if not text:
        return DEFAULT_BATCH_MEMORY
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-zA-Z]*)", text)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS or float(match.group(1)) <= 0:
        raise ValueError(f"HAZY_BATCH_MEMORY must be a size such as 512MB, 2GB or a number of bytes, got {text!r}")
    return int(float(match.group(1)) * _UNITS[unit])


def column_bytes(column_type: str, max_length: int | None) -> int:
    """Bytes one generated value of a column of `column_type` takes in a batch (frame and writer copy)."""
    if column_type in ("integer", "float", "bool", "date", "datetime", "age", "foreign_key"):
        width = FIXED_WIDTH_BYTES
    else:
        width = TEXT_OVERHEAD_BYTES + (max_length if max_length is not None else DEFAULT_TEXT_LENGTH)
    return width * WRITER_COPIES


def row_bytes(table: BaseTable, n_code_columns: int, max_lengths: Mapping[str, int]) -> int:
    """Bytes one generated row of `table` takes: its codes, its columns and the writer's copy."""
    columns = sum(column_bytes(column.type, max_lengths.get(column.name)) for column in table.columns)
    return CODE_BYTES * n_code_columns + columns


def default_batch_rows(
    row_bytes_by_table: Mapping[str, int], rows_per_root_row: Mapping[str, float], budget: int
) -> int:
    """Root rows per batch so that a batch's rows of every table (`rows_per_root_row[t]` rows of table t per
    root row, 1 for the root) fit in `budget` bytes; at least 1."""
    per_root_row = sum(row_bytes_by_table[name] * rows_per_root_row.get(name, 1.0) for name in row_bytes_by_table)
    return max(1, int(budget // max(per_root_row, 1)))


def rows_per_root_row(graph: multitable.ForeignKeyGraph, caps: Mapping[str, float]) -> Dict[str, float]:
    """Rows of each modelled table per row of its root: 1 for a root, the product of the degree caps (with
    orphans) down the driving chain for a descendant - the capacity a batch reserves for it."""
    ratios: Dict[str, float] = {}
    for name in graph.modelled_tables:
        relation = graph.driving[name]
        ratios[name] = 1.0 if relation is None else ratios[relation.parent] * float(caps[name])
    return ratios


def memory_batch_magnitude(n_training_rows: int, total_rows: int, batch_rows: int) -> float | None:
    """The `batch_magnitude` that cuts `total_rows` lead-table rows into batches of about `batch_rows`, or None
    (one batch) when they fit in one."""
    if total_rows <= batch_rows or n_training_rows <= 0:
        return None
    return batch_rows / n_training_rows if batch_rows >= 1 else None


def model_batch_magnitude(
    model: Model, graph: multitable.ForeignKeyGraph, caps: Mapping[str, float], magnitude: float
) -> float | None:
    """The `batch_magnitude` of a run with none configured: batches of `default_batch_rows` rows of the
    largest root table (the others in proportion, descendants by their capacities), or None for one batch."""
    if not graph.roots:
        return None
    totals = {name: rows_for_magnitude(model.tables[name].n_rows, magnitude) for name in graph.roots}
    lead = max(graph.roots, key=lambda name: totals[name])
    ratios = rows_per_root_row(graph, caps)
    per_lead_row = {
        name: ratio * (totals[root] / totals[lead] if totals[lead] else 1.0)
        for name, ratio in ratios.items()
        for root in [_root_of(graph, name)]
    }
    sizes = {
        name: row_bytes(
            model.tables[name].encoding.table,
            len(model.tables[name].encoding.domain_sizes),
            model.tables[name].encoding.max_string_lengths,
        )
        for name in graph.modelled_tables
    }
    batch_rows = default_batch_rows(sizes, per_lead_row, batch_memory())
    return memory_batch_magnitude(model.tables[lead].n_rows, totals[lead], batch_rows)


def _root_of(graph: multitable.ForeignKeyGraph, name: str) -> str:
    while graph.driving[name] is not None:
        name = graph.driving[name].parent
    return name
