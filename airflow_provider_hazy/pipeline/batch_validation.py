"""Validation as the rows are written: each batch checked in memory where it is made, then only row counts
read back from the run's staging (write-audit-publish, docs/publish.md; docs/scale.md).

A generation run with validation on checks every batch (`BatchChecker.check_batch`, run where the batch is
made: in a worker process when there is a pool) with the checks of `metrics.validation.validate`: columns,
types, ranges, categories, nulls, string lengths, primary keys unique within the batch and foreign keys
resolving within the batch (a batch is referentially complete: its child rows point at its own parent rows or
at a reference table). Across batches a primary key stays unique by construction: generated ids are a
bijection of the global row index (`core.generated_columns`) and a batch holds its own index range, a key
holding a foreign key to such a parent inherits it, and a reference table is written once. `BatchValidation`
also records each batch's key range for keys of one integer column and counts the rows of any range
overlapping another's as violations. After the last batch only each staged table's row count is read back
(`io.locations.count_output_rows`: `count(*)`, a Parquet footer, CSV records streamed, parts summed) for the
`row_count` check. The checks are merged into one report of the same shape and order as the read-back
validation (`pipeline.evaluation.validate_output`), violations summed, up to five examples: memory holds one
batch, never the output.

A mapped run (one Airflow task per batch) checks each batch in its own task and keeps the checks in that
task's state file (`batch_checks`, beside `generation_state_path`; a retry rewrites its file from its start,
so its result replaces the earlier attempt's); the prepare step checks the reference tables it writes. The
publish step merges them (`mapped_validation`).

The staging is read back whole (`evaluation.run_validation`) only where the batch checks cannot stand for it
(`read_back_reason`): a primary key not unique across batches by construction (made only of foreign keys to
reference tables, or rewritten by a post-generation step), and a mapped run whose batch checks are not all
found (no `generation_state_path`, a state folder the tasks do not share, a batch without its checks). A run
appending to a target is validated on its own rows either way: its staging holds only them, and the database
checks the publish's insert against the rows already there (docs/publish.md).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pandas as pd

from ..config import GenerationConfig
from ..config.schema import DataSchema
from ..io.locations import count_output_rows, location_label
from ..metrics.validation import MAX_EXAMPLES, ValidationReport, validate
from . import evaluation
from .batches import batch_plan
from .model import Model
from .run_state import mapped_states

log = logging.getLogger(__name__)
CheckKey = Tuple[str, str, Optional[str]]
PREPARE = "prepare"
"""The key of the prepare step's checks (the reference tables) in a mapped run's `batch_checks`."""


@dataclass
class BatchChecks:
    """One batch's checks (without row counts) and the key range of each table whose key is one number."""

    checks: List[Dict[str, Any]]
    key_ranges: Dict[str, Tuple[int, int, int]] = field(default_factory=dict)

    def to_json(self) -> Dict[str, Any]:
        return {"checks": self.checks, "key_ranges": {name: list(bounds) for name, bounds in self.key_ranges.items()}}

    @classmethod
    def from_json(cls, body: Dict[str, Any]) -> BatchChecks:
        ranges = {name: (int(low), int(high), int(rows)) for name, (low, high, rows) in body["key_ranges"].items()}
        return cls([dict(check) for check in body["checks"]], ranges)


def _unique_by_construction(schema: DataSchema, references: Sequence[str], table: str, column: str) -> bool:
    """Whether the values of `table.column` of different batches never meet: an id column of a generated table,
    or a foreign key to such a column of another generated table (its rows are the batch's own)."""
    seen = set()
    while (table, column) not in seen and table in schema.table_names and table not in references:
        seen.add((table, column))
        spec = next((c for c in schema.table(table).columns if c.name == column), None)
        if spec is None:
            return False
        if spec.type == "id":
            return True
        if spec.type != "foreign_key" or spec.ref_table == table:
            return False
        table, column = spec.ref_table, spec.ref_column
    return False


class BatchChecker:
    """The validation schema and metadata of a run, to check its batches in memory."""

    def __init__(self, config: GenerationConfig, model: Model) -> None:
        self.names = [item.name for item in config.data_output]
        self.references = [name for name in self.names if name in model.references]
        self.model_references = list(model.references)
        self.schema = evaluation.validation_schema(config, model)
        self.model_schema = model.schema
        self.metadata = {name: evaluation.generation_metadata(config, model, name) for name in self.names}

    def read_back_reason(self) -> Optional[str]:
        """Why batch checks cannot stand for reading the staging back (a primary key whose uniqueness across
        batches no batch can see), else None."""
        for name in self.names:
            keys = list(self.model_schema.table(name).key_columns)
            if not keys or name in self.references:
                continue
            checked = {column.name for column in self.schema.table(name).columns}
            if not set(keys) <= checked:
                return f"table '{name}': a post-generation step rewrites its primary key {keys}"
            if not any(_unique_by_construction(self.model_schema, self.model_references, name, key) for key in keys):
                return f"table '{name}': its primary key {keys} is not unique across batches by construction"
        return None

    def check_batch(self, frames: Dict[str, pd.DataFrame], written: Sequence[str]) -> BatchChecks:
        """The checks of the `written` tables of one batch, row counts left out. Every output table of the
        batch is passed (a reference table written with batch 0 too), so foreign keys resolve as they do in
        the read-back validation of the whole output."""
        if not written:
            return BatchChecks([])
        columns_only = {name: {"columns": meta["columns"]} for name, meta in self.metadata.items()}
        outputs = {name: frames[name] for name in self.names if name in frames}
        report = validate(self.schema, outputs, columns_only)
        checks = [check for check in report.checks if check["table"] in written]
        ranges: Dict[str, Tuple[int, int, int]] = {}
        for name in written:
            key = list(self.schema.table(name).key_columns)
            frame = frames.get(name)
            if frame is not None and len(key) == 1 and key[0] in frame.columns and len(frame):
                values = pd.to_numeric(frame[key[0]], errors="coerce")
                if values.notna().all() and pd.api.types.is_integer_dtype(values):
                    ranges[name] = (int(values.min()), int(values.max()), len(frame))
        return BatchChecks(checks, ranges)

    def written_tables(self, index: int, with_references: bool) -> List[str]:
        """The output tables batch `index` writes: the generated ones, and the reference tables with batch 0
        of an unmapped run (a mapped run's prepare step writes those)."""
        return [name for name in self.names if name not in self.references or (with_references and index == 0)]


def _merge(into: Dict[str, Any], check: Dict[str, Any]) -> None:
    into["violations"] += check["violations"]
    into["passed"] = into["violations"] == 0
    room = MAX_EXAMPLES - len(into["examples"])
    if room > 0:
        fresh = [example for example in check["examples"] if example not in into["examples"]]
        into["examples"].extend(fresh[:room])


class BatchValidation:
    """The checks of every batch of a run, merged; `report` adds row counts and key ranges at the end."""

    def __init__(self, checker: BatchChecker) -> None:
        self.checker = checker
        self.merged: Dict[CheckKey, Dict[str, Any]] = {}
        self.ranges: Dict[str, List[Tuple[int, int, int]]] = {}
        self.batches = 0
        self.where = ""

    def add(self, batch: BatchChecks, *, counted: bool = True) -> None:
        """Merge one batch's checks (`counted` False for the reference tables of a mapped run's prepare step)."""
        self.batches += int(counted)
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


def run_checker(config: GenerationConfig, model: Model) -> Optional[BatchChecker]:
    """The checker of a run that validates batch by batch; None when validation is off or the staging must be
    read back whole (`read_back_reason`, logged)."""
    if config.validation is None or not config.validation.enable:
        return None
    checker = BatchChecker(config, model)
    reason = checker.read_back_reason()
    if reason is not None:
        log.info("validation reads the staging back whole: %s", reason)
        return None
    return checker


def mapped_validation(config: GenerationConfig, model: Model, run_id: str) -> Optional[BatchValidation]:
    """The checks of the mapped run `run_id` merged from its prepare and batch states (`run_state.mapped_states`,
    the latest attempt of each batch), or None (logged) when some are missing: then the staging is read back."""
    checker = run_checker(config, model)
    if checker is None:
        return None
    if config.generation_state_path is None:
        log.warning("run %s: no generation_state_path, so no batch checks: the staging is read back whole", run_id)
        return None
    found: Dict[str, Dict[str, Any]] = {}
    for state in mapped_states(config, run_id):
        found.update(state.get("batch_checks") or {})
    n_batches = batch_plan(model, model.graph(), config).n_batches
    wanted = [PREPARE] + [str(index) for index in range(n_batches)]
    missing = [key for key in wanted if key not in found]
    if missing:
        log.warning(
            "run %s: no batch checks found for %s beside %s: the staging is read back whole",
            run_id,
            ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else ""),
            config.generation_state_path,
        )
        return None
    validation = BatchValidation(checker)
    validation.where = ", each in its own task"
    for key in wanted:
        validation.add(BatchChecks.from_json(found[key]), counted=key != PREPARE)
    return validation


def finish(config: GenerationConfig, validation: BatchValidation, sources: Any) -> Dict[str, Any]:
    """The validation summary for the state, the full report written beside the state (as
    `pipeline.evaluation.run_validation` does): every batch's checks merged, the row counts of the outputs of
    `config` (the run's staging) read back."""
    outputs = {item.name: item.location for item in config.data_output}
    try:
        counts = {name: count_output_rows(name, location, sources=sources) for name, location in outputs.items()}
        report = validation.report(counts)
    except Exception as error:  # noqa: BLE001 - any read-back failure is reported in the state
        message = f"could not validate the output: {type(error).__name__}: {error}"
        return {"passed": False, "n_checks": 0, "n_failed": 0, "failures": [message], "report": None}
    path = evaluation.validation_report_path(config)
    body = {
        **report.to_json(),
        "failures": report.summary().splitlines(),
        "outputs": {name: location_label(location) for name, location in outputs.items()},
        "report": None if path is None else str(path),
        "checked": f"in memory, batch by batch ({validation.batches} batches{validation.where}); row counts read back",
    }
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(body, indent=2, default=str) + "\n", encoding="utf-8")
    return {key: body[key] for key in ("passed", "n_checks", "n_failed", "failures", "report", "checked")}
