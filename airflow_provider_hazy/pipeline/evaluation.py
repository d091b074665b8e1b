"""Evaluation and validation orchestration: at training, after generation and on demand.

- `evaluate_model`: the configured `EvaluationConfig` on a synthetic sample of
  `eval_sample_params.magnitude`; the result is stored in the manifest under `evaluation`.
- `validation_metadata`: per column, what generation can produce, derived from the fitted encoders only
  (category domains, bin ranges, null codes), so it costs no privacy beyond the model itself.
- `validate_output`: read the written tables back and run `metrics.validation.validate` on them.

Privacy: evaluation scores are computed from the source rows themselves, outside the privacy budget
(no noise, no ledger entry). The manifest says so (`outside_privacy_budget: true` and `privacy_note`);
set `TrainingConfig.evaluation` to null, or `metrics: []`, to keep them out of the model.

Imports `model` and `batches` (the generation plan gives a child table's expected row count), never `api`;
`training` and `generation` call into it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import pandas as pd

from ..config import EvaluateConfig, EvaluationConfig, GenerationConfig, TrainingConfig
from ..config.schema import DataSchema
from ..core.batching import rows_for_magnitude
from ..core.category_encoder import CategoryEncoder
from ..core.column_encoders import BoolEncoder, NumericEncoder
from ..core.datetime_encoders import UNITS_PER_DAY, DatetimeEncoder, SplitDatetimeEncoder
from ..core.encoding import TableEncoding, prepare_frame
from ..io.locations import location_label, location_path, read_output_table
from ..metrics.discretise import FAKED_TYPES
from ..metrics.evaluate import evaluate
from ..metrics.results import PRIVACY_NOTE, metric_results
from ..metrics.validation import ValidationReport, text_columns, validate
from ..model_file import read_manifest
from .batches import batch_plan
from .evaluation_file import scores_only
from .model import Model

# Keys of an evaluation dict that are not metric results.
META_KEYS = ("outside_privacy_budget", "privacy_note", "sample_rows", "holdout_rows", "random_state")
# Seed stream of the evaluation sample (apart from the model's own streams).
_EVAL_STREAM = 2**31 + 1


def _stream(random_state: Optional[int], stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(random_state, spawn_key=(stream,)))


# --- evaluation at training -----------------------------------------------------------------------------


def evaluation_wrapper(
    results: Dict[str, Any], sample_rows: Dict[str, int], holdout_rows: Dict[str, int]
) -> Dict[str, Any]:
    """Metric results with the outside-the-budget flag and note, and the sizes scored."""
    return {
        "outside_privacy_budget": True,
        "privacy_note": PRIVACY_NOTE,
        "sample_rows": sample_rows,
        "holdout_rows": holdout_rows,
        **results,
    }


def evaluate_model(
    config: TrainingConfig,
    model: Model,
    real: Dict[str, pd.DataFrame],
    holdout: Optional[Dict[str, pd.DataFrame]] = None,
    synthetic: Optional[Dict[str, pd.DataFrame]] = None,
) -> Optional[Dict[str, Any]]:
    """The configured metrics on a synthetic sample (or the given `synthetic` tables), or None when
    `config.evaluation` is None or lists no metric. `real` is what the model was trained on."""
    evaluation: Optional[EvaluationConfig] = config.evaluation
    if evaluation is None or not evaluation.metrics:
        return None
    rng = _stream(config.random_state, _EVAL_STREAM)
    if synthetic is None:
        magnitude = evaluation.eval_sample_params.magnitude
        synthetic = {
            name: table.sample(rows_for_magnitude(table.n_rows, magnitude), 0, rng)
            for name, table in model.tables.items()
        }
    holdout = {name: frame for name, frame in (holdout or {}).items() if frame is not None} or None
    schema = DataSchema.model_validate(model.manifest["schema"])
    results = _without_source_text(schema, evaluate(evaluation, schema, real, synthetic, holdout, rng))
    return evaluation_wrapper(
        results,
        {name: len(frame) for name, frame in synthetic.items()},
        {name: len(frame) for name, frame in (holdout or {}).items()},
    )


def _without_source_text(schema: DataSchema, results: Dict[str, Any]) -> Dict[str, Any]:
    """Results fit for the model file: the histograms of person and location columns, whose bins are
    source values (names, addresses), are left out; their scores stay."""
    for entry in metric_results(results).values():
        if entry["metric_type"] != "histogram_similarity":
            continue
        for table, details in entry.get("tables", {}).items():
            for name, column in details.get("columns", {}).items():
                if schema.table(table).column(name).type in FAKED_TYPES:
                    for key in ("bins", "real", "synthetic"):
                        column.pop(key, None)
                    column["distribution"] = "left out of the model: its bins are source values"
    return results


def annotate_model(
    config: TrainingConfig,
    model: Model,
    real: Dict[str, pd.DataFrame],
    holdout: Optional[Dict[str, Optional[pd.DataFrame]]] = None,
    synthetic: Optional[Dict[str, pd.DataFrame]] = None,
) -> None:
    """Store the evaluation and each table's validation metadata in the model's manifest. Pass
    `synthetic` (a multi-table sample with foreign keys assigned) to score it instead of per-table samples."""
    model.evaluation_detail = evaluate_model(config, model, real, holdout, synthetic)
    model.manifest["evaluation"] = scores_only(model.evaluation_detail)  # the detail never enters the model
    for name, table in model.tables.items():
        model.manifest["tables"][name]["validation_metadata"] = validation_metadata(table.encoding)


# --- validation metadata from the encoders --------------------------------------------------------------


def _iso(epoch: float, unit: str, round_down: bool) -> str:
    value = math.floor(epoch) if round_down else math.ceil(epoch)
    return str(np.datetime64(int(value), unit))


def _datetime_bounds(low: float, high: float, unit: str, kind: str, formatted: bool) -> Dict[str, Any]:
    # A date, or a datetime written in a format, may lose its time of day: widen to whole days.
    if kind == "date" or formatted:
        per_day = UNITS_PER_DAY[unit]
        low, high = math.floor(low / per_day) * per_day, (math.floor(high / per_day) + 1) * per_day - 1
    return {"min": _iso(low, unit, True), "max": _iso(high, unit, False)}


def _encoder_metadata(encoder: Any, column: Any) -> Dict[str, Any]:
    if isinstance(encoder, CategoryEncoder):
        categories = list(encoder.categories)
        if encoder.other_label is not None:
            categories.append(encoder.other_label)
        nullable = encoder.has_null or (encoder.other_bucket and encoder.other_label is None)
        return {"nullable": bool(nullable), "categories": categories}
    if isinstance(encoder, BoolEncoder):
        return {"nullable": encoder.has_null}
    if isinstance(encoder, NumericEncoder):
        low, high = encoder.domain.value_range
        return {"nullable": encoder.domain.has_null, "min": low, "max": high}
    if isinstance(encoder, DatetimeEncoder):
        low, high = encoder.domain.value_range
        bounds = _datetime_bounds(low, high, encoder.source.unit, column.type, bool(encoder.source.format))
        return {"nullable": encoder.domain.has_null, **bounds}
    if isinstance(encoder, SplitDatetimeEncoder):
        if encoder.preserve_range:
            low, high = encoder.value_range
        else:
            day_low, day_high = encoder.date_domain.value_range
            time_low, time_high = encoder.time_domain.value_range
            low, high = day_low * encoder.per_day + time_low, day_high * encoder.per_day + time_high
        nullable = encoder.date_domain.has_null or encoder.time_domain.has_null
        bounds = _datetime_bounds(low, high, encoder.source.unit, column.type, bool(encoder.source.format))
        return {"nullable": nullable, **bounds}
    return {}


def validation_metadata(encoding: TableEncoding) -> Dict[str, Any]:
    """Per column, what generation can produce (`metrics.validation` metadata): from the encoders'
    categories, bin ranges and null codes, plus the longest source string of each text column where the
    model already holds it (`max_length`, only when preprocessing was not private)."""
    encoders = {encoder.column: encoder for encoder in encoding.encoders}
    columns: Dict[str, Any] = {}
    for column in encoding.table.columns:
        entry: Dict[str, Any] = {}
        if column.name in encoders:
            entry.update(_encoder_metadata(encoders[column.name], column))
        elif column.type in ("person", "location"):
            entry["nullable"] = False
        if column.name in encoding.max_string_lengths:
            entry["max_length"] = int(encoding.max_string_lengths[column.name])
            other_label = getattr(encoders.get(column.name), "other_label", None)
            if other_label is not None:  # rare values merged into the other-bucket come back as its label
                entry["max_length"] = max(entry["max_length"], len(other_label))
        if entry:
            columns[column.name] = entry
    return {"columns": columns}


# --- validation of written output -----------------------------------------------------------------------


def _touched_columns(config: GenerationConfig, table: str) -> List[str]:
    """Columns that post-generation steps drop, rename or rewrite (not checked against the model)."""
    post = config.generate_params.post_generation
    touched: List[str] = []
    for entry in post.tables if post else []:
        if entry.table != table:
            continue
        for step in entry.steps:
            touched += list(getattr(step, "columns", None) or getattr(step, "mapping", None) or [])
            if getattr(step, "column", None):
                touched.append(step.column)
    return touched


def generation_metadata(config: GenerationConfig, model: Model, table: str) -> Dict[str, Any]:
    """What a generation run's output of `table` is validated against: its expected row count and, per
    column, the model's domains and ranges (shared by the read-back and the batch-by-batch validation)."""
    entry = model.manifest["tables"][table]
    if table in model.references:  # copied as it is: its rows, its schema types and keys are checked
        return {"rows": len(model.references[table]), "columns": {}}
    meta = entry.get("validation_metadata") or validation_metadata(model.tables[table].encoding)
    params = config.generate_params
    columns = {name: dict(info) for name, info in meta["columns"].items()}
    modelled = {encoder.column for encoder in model.tables[table].encoding.encoders}
    for name, info in columns.items():
        # Faker text is only held to the source's longest string when limit_strings trims it.
        if name not in modelled and not params.limit_strings:
            info.pop("max_length", None)
    expected: Any = rows_for_magnitude(int(entry["n_rows"]), params.magnitude)
    if params.drop_unique_violation:
        expected = [0, expected]  # dropping duplicate rows can only lower the count
    if model.tables[table].degree is not None:
        # a child table's row count is drawn by its degree model: at most the run's planned capacity
        expected = [0, int(sum(batch_plan(model, model.graph(), config).capacities[table]))]
    return {"rows": expected, "columns": columns}


def validation_schema(config: GenerationConfig, model: Model) -> DataSchema:
    """The model's schema without the columns post-generation steps drop, rename or rewrite."""
    schema = DataSchema.model_validate(model.manifest["schema"])
    tables = []
    for table in schema.tables:
        touched = set(_touched_columns(config, table.name))
        if touched:
            table = table.model_copy(update={"columns": [c for c in table.columns if c.name not in touched]})
        tables.append(table)
    return schema.model_copy(update={"tables": tables})


def validate_output(config: GenerationConfig, model: Model) -> ValidationReport:
    """Read every `data_output` table back from where it was written (a mapped run's parts concatenated,
    `io.locations.read_output_table`) and validate it against the model: schema types and keys, the
    encoders' domains and ranges, and the row count the magnitude asks for."""
    schema = validation_schema(config, model)
    frames: Dict[str, pd.DataFrame] = {}
    for item in config.data_output:
        text = text_columns(schema, item.name)  # a CSV's "01581" stays text
        frames[item.name] = read_output_table(item.name, item.location, sources=config.data_sources, text_columns=text)
    metadata = {item.name: generation_metadata(config, model, item.name) for item in config.data_output}
    report = validate(schema, frames, metadata)
    names = {item.name for item in config.data_output}
    # Tables of the model that this run did not write are not expected.
    report.checks = [c for c in report.checks if c["table"] in names]
    return report


def validation_report_path(config: GenerationConfig) -> Optional[Path]:
    """Where the validation report goes: beside the generation state, `<state stem>.validation.json`."""
    if config.generation_state_path is None:
        return None
    state = Path(location_path(config.generation_state_path))
    return state.with_name(state.stem + ".validation.json")


def write_validation_report(config: GenerationConfig, model: Model) -> Dict[str, Any]:
    """Validate the written output and write the JSON report beside the generation state (when that is
    set); the full report: passed, counts, every check, the outputs read and the report's path."""
    report = validate_output(config, model)
    path = validation_report_path(config)
    body = {
        **report.to_json(),
        "failures": report.summary().splitlines(),
        "outputs": {item.name: location_label(item.location) for item in config.data_output},
        "report": None if path is None else str(path),
        "checked": "read back whole",
    }
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(body, indent=2, default=str) + "\n", encoding="utf-8")
    return body


def run_validation(config: GenerationConfig, model: Model) -> Dict[str, Any]:
    """Validation after generation: the report written beside the state, its summary for the state.

    The tables are written by then: a failure to read them back is recorded in the summary (failed,
    with the error) rather than raised, so the state still says which batches landed where."""
    try:
        body = write_validation_report(config, model)
    except Exception as error:  # noqa: BLE001 - any read-back failure is reported in the state
        message = f"could not validate the output: {type(error).__name__}: {error}"
        return {"passed": False, "n_checks": 0, "n_failed": 0, "failures": [message], "report": None}
    return {key: body[key] for key in ("passed", "n_checks", "n_failed", "failures", "report", "checked")}


# --- evaluation on demand -------------------------------------------------------------------------------


def _read_frames(schema: DataSchema, items: List[Any], sources: Any) -> Dict[str, pd.DataFrame]:
    frames = {}
    for item in items:
        frame = read_output_table(item.name, item.location, sources=sources)
        frames[item.name] = prepare_frame(frame, schema.table(item.name))
    return frames


def evaluate_pair(config: EvaluateConfig) -> Dict[str, Any]:
    """`hazy evaluate`: the configured metrics on the real and synthetic tables (and holdout, if given),
    with the outside-the-budget note; written to `config.output` when set."""
    if config.data_schema is not None:
        schema = config.data_schema
    else:
        schema = DataSchema.model_validate(read_manifest(config.model)["schema"])
        for field in ("real", "synthetic", "holdout"):
            unknown = [item.name for item in getattr(config, field) if item.name not in schema.table_names]
            if unknown:
                raise ValueError(f"{field}: table(s) {unknown} are not in the model's schema {schema.table_names}")
    real = _read_frames(schema, config.real, config.data_sources)
    synthetic = _read_frames(schema, config.synthetic, config.data_sources)
    holdout = _read_frames(schema, config.holdout, config.data_sources) or None
    rng = _stream(config.random_state, _EVAL_STREAM)
    results = evaluate(config.evaluation, schema, real, synthetic, holdout, rng)
    body = evaluation_wrapper(
        results,
        {name: len(frame) for name, frame in synthetic.items()},
        {name: len(frame) for name, frame in (holdout or {}).items()},
    )
    if config.output:
        path = Path(config.output)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(body, indent=2, default=str) + "\n", encoding="utf-8")
    return body
