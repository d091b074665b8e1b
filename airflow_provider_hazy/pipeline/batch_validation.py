"""Validation as the rows are written: each batch checked in memory before it is written, then only row counts
read back from the targets.

An unmapped generation run with validation on checks every batch (`check_batch`, run where the batch is made:
in a worker process when there is a pool) with the checks of `metrics.validation.validate`: columns, types,
ranges, categories, nulls, string lengths, primary keys unique within the batch and foreign keys resolving
within the batch (a batch is referentially complete: its child rows point at its own parent rows or at a
reference table). Across batches a primary key stays unique because every batch's generated keys lie in its
own range (ids are a function of the global row index, `core.generated_columns`): `BatchValidation` records
each batch's key range for numeric keys and counts the rows of any range overlapping another's as
violations. After the last batch only each target's row count is read back (`count_written_rows`) for the
`row_count` check. The checks are merged into one report of the same shape and order as the read-back
validation (`pipeline.evaluation.validate_output`), with violations summed and up to five examples, so memory
holds one batch, never the output. A run that appends to a target (`if_exists: append`) is validated by
reading the target back whole, as before: the rows already there are checked only so (duplicate keys, the
count). `api.validate` still reads a written output back in full.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pandas as pd

from ..config import GenerationConfig
from ..io.locations import location_kind, location_label, location_path, read_output_table
from ..metrics.validation import MAX_EXAMPLES, ValidationReport, validate
from .evaluation import generation_metadata, validation_report_path, validation_schema
from .model import Model

CheckKey = Tuple[str, str, Optional[str]]


@dataclass
class BatchChecks:
    """One batch's checks (without row counts) and the key range of each table whose key is one number."""

    checks: List[Dict[str, Any]]
    key_ranges: Dict[str, Tuple[int, int, int]] = field(default_factory=dict)


class BatchChecker:
    """The validation schema and metadata of a run, to check its batches in memory."""

    def __init__(self, config: GenerationConfig, model: Model) -> None:
        self.names = [item.name for item in config.data_output]
        self.schema = validation_schema(config, model)
        self.metadata = {name: generation_metadata(config, model, name) for name in self.names}

    def check_batch(self, frames: Dict[str, pd.DataFrame], written: Sequence[str]) -> BatchChecks:
        """The checks of the `written` tables of one batch, row counts left out. Every output table of the
        batch is passed (a reference table written with batch 0 too), so foreign keys resolve as they do in
        the read-back validation of the whole output."""
        columns_only = {name: {"columns": meta["columns"]} for name, meta in self.metadata.items()}
        outputs = {name: frames[name] for name in self.names if name in frames}
        report = validate(self.schema, outputs, columns_only)
        checks = [check for check in report.checks if check["table"] in written]
        ranges: Dict[str, Tuple[int, int, int]] = {}
        for name in written:
            table = self.schema.table(name)
            key = list(table.key_columns)
            frame = frames[name]
            if len(key) == 1 and key[0] in frame.columns and len(frame):
                values = pd.to_numeric(frame[key[0]], errors="coerce")
                if values.notna().all() and pd.api.types.is_integer_dtype(values):
                    ranges[name] = (int(values.min()), int(values.max()), len(frame))
        return BatchChecks(checks, ranges)


def _merge(into: Dict[str, Any], check: Dict[str, Any]) -> None:
    into["violations"] += check["violations"]
    into["passed"] = into["violations"] == 0
    room = MAX_EXAMPLES - len(into["examples"])
    if room > 0:
        into["examples"].extend(example for example in check["examples"][:room] if example not in into["examples"])


class BatchValidation:
    """The checks of every batch of a run, merged; `report` adds row counts and key ranges at the end."""

    def __init__(self, checker: BatchChecker) -> None:
        self.checker = checker
        self.merged: Dict[CheckKey, Dict[str, Any]] = {}
        self.ranges: Dict[str, List[Tuple[int, int, int]]] = {}

    def add(self, batch: BatchChecks) -> None:
        for check in batch.checks:
            key = (check["check"], check["table"], check["column"])
            if key in self.merged:
                _merge(self.merged[key], check)
            else:
                self.merged[key] = {**check, "examples": list(check["examples"])}
        for name, key_range in batch.key_ranges.items():
            self.ranges.setdefault(name, []).append(key_range)

    def _overlapping_rows(self, name: str) -> Tuple[int, List[int]]:
        """Rows of batches whose key range overlaps an earlier batch's, and examples of their bounds."""
        seen: List[Tuple[int, int]] = []
        rows, examples = 0, []
        for low, high, n_rows in self.ranges.get(name, []):
            if any(low <= other_high and other_low <= high for other_low, other_high in seen):
                rows += n_rows
                examples.append(low)
            seen.append((low, high))
        return rows, examples[:MAX_EXAMPLES]

    def report(self, row_counts: Dict[str, int]) -> ValidationReport:
        """The run's report, in the order of the read-back validation: per table, columns present, the row
        count read back, the key checks, the column checks."""
        checks: List[Dict[str, Any]] = []
        for table in self.checker.schema.tables:
            name = table.name
            if name not in self.checker.names:
                continue
            own = [check for key, check in self.merged.items() if key[1] == name]
            expected = self.checker.metadata[name].get("rows")
            count = validate(
                self.checker.schema.model_copy(update={"tables": [table]}),
                {name: pd.DataFrame(index=range(row_counts.get(name, 0)))},
                {name: {"rows": expected}},
            ).checks
            row_check = [check for check in count if check["check"] == "row_count"]
            for check in own:
                if check["check"] == "primary_key_unique":
                    overlap, examples = self._overlapping_rows(name)
                    if overlap:
                        _merge(check, {"violations": overlap, "examples": examples})
            checks.extend(own[:1] + row_check + own[1:])
        return ValidationReport(checks)


def count_written_rows(name: str, location: Any, sources: Any) -> int:
    """The rows the target of `name` holds now: COUNT(*) of a database table, the row count in a Parquet
    file's footer, the records of a CSV file (parsed in streaming blocks, not held), else the table read."""
    kind = location_kind(location)
    if kind == "sql":
        import sqlalchemy as sa

        from ..io.sources import DataSources
        from ..io.sql import qualified_name

        registry = DataSources.coerce(sources)
        engine = registry.engine(location.source_id)
        with engine.connect() as connection:
            table = qualified_name(engine.dialect, location.table_name, location.schema_name)
            return int(connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
    path = location_path(location)
    if kind == "file" and path is not None and str(path).endswith(".parquet"):
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    if kind == "file" and path is not None and str(path).endswith(".csv"):
        import pyarrow.csv as pacsv

        reader = pacsv.open_csv(path, convert_options=pacsv.ConvertOptions(include_columns=[]))
        return sum(batch.num_rows for batch in reader)
    return len(read_output_table(name, location, sources=sources))


def finish(
    config: GenerationConfig, validation: BatchValidation, state: Dict[str, Any], sources: Any
) -> Dict[str, Any]:
    """The run's validation summary for the state, the full report written beside the state (as
    `pipeline.evaluation.run_validation` does): row counts read back, every batch's checks merged."""
    try:
        outputs = {item.name: item.location for item in config.data_output}
        counts = {name: count_written_rows(name, location, sources) for name, location in outputs.items()}
        report = validation.report(counts)
    except Exception as error:  # noqa: BLE001 - any read-back failure is reported in the state
        message = f"could not validate the output: {type(error).__name__}: {error}"
        return {"passed": False, "n_checks": 0, "n_failed": 0, "failures": [message], "report": None}
    path = validation_report_path(config)
    body = {
        **report.to_json(),
        "failures": report.summary().splitlines(),
        "outputs": {name: location_label(location) for name, location in outputs.items()},
        "report": None if path is None else str(path),
        "checked": "in memory, batch by batch; row counts read back",
    }
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(body, indent=2, default=str) + "\n", encoding="utf-8")
    return {key: body[key] for key in ("passed", "n_checks", "n_failed", "failures", "report")}
