"""The engine's entry points: `train(config) -> model path`, `generate(config) -> report`, `inspect_model`.

The same calls serve a notebook, the `hazy` command line and the Airflow operators.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import pandas as pd

from . import __version__
from .config import GenerationConfig, TrainingConfig
from .config.schema import BaseTable, ReferenceTable, SequentialTable
from .core import privbayes
from .core.batching import Batch, plan_batches, rows_for_magnitude, run_entropy, table_batch_seed
from .core.encoding import TableEncoding, fit_table_encoding, prepare_frame
from .core.postprocess import apply_post_generation, drop_unique_violations, limit_string_lengths
from .core.privacy import BudgetLedger
from .io.locations import fail_safe_path, location_path, open_writer, read_table
from .model_file import read_manifest, read_model, write_model

AUTO_SAMPLE_ROWS = 25
ConfigLike = Union[TrainingConfig, GenerationConfig, Dict[str, Any], str, Path]


@dataclass
class TableModel:
    """One table's fitted parts: its encoding and its PrivBayes model over the encoded columns."""

    name: str
    n_rows: int
    encoding: TableEncoding
    network: privbayes.PrivBayesModel

    def sample(self, n_rows: int, start_row: int, rng: np.random.Generator) -> pd.DataFrame:
        """`n_rows` synthetic rows whose generated keys start at global row `start_row`."""
        codes = privbayes.sample(self.network, n_rows, rng)
        return self.encoding.generate(codes, start_row, rng)


@dataclass
class Model:
    """A trained model: the manifest (metadata, ledger, schema) and one `TableModel` per table."""

    manifest: Dict[str, Any]
    tables: Dict[str, TableModel]

    @property
    def total_epsilon(self) -> float:
        """The privacy ledger's total."""
        return float(self.manifest["privacy"]["total_epsilon"])


def _as_config(config: ConfigLike, kind: type) -> Any:
    if isinstance(config, kind):
        return config
    if isinstance(config, dict):
        return kind.model_validate(config)
    return kind.from_file(config)


def _modelled_tables(config: TrainingConfig) -> List[BaseTable]:
    tables = []
    for table in config.data_schema.tables:
        if isinstance(table, (ReferenceTable, SequentialTable)) or table.foreign_keys:
            raise NotImplementedError(
                f"table '{table.name}': {table.type} tables and foreign keys need multi-table synthesis "
                "(not available yet); single tabular tables are supported"
            )
        tables.append(table)
    return tables


def _read_source(config: TrainingConfig, table: BaseTable) -> pd.DataFrame:
    location = next(item.location for item in config.data_input if item.name == table.name)
    frame = read_table(table.name, location, nrows=config.nrows)
    return prepare_frame(
        frame, table, strip_strings=config.strip_strings, empty_strings_as_null=config.empty_strings_as_null
    )


def _fit_table(
    config: TrainingConfig,
    table: BaseTable,
    frame: pd.DataFrame,
    epsilon: float,
    processing_epsilon: Optional[float],
    rng: np.random.Generator,
    ledger: BudgetLedger,
) -> TableModel:
    generator = config.model_parameters.generator
    encoding = fit_table_encoding(
        frame, table, generator, processing_epsilon=processing_epsilon, rng=rng, ledger=ledger, table_name=table.name
    )
    codes = encoding.encode(frame)
    network = privbayes.fit(
        codes,
        encoding.domain_sizes,
        epsilon=epsilon,
        n_parents=getattr(generator, "n_parents", 0),
        sample_parents=getattr(generator, "sample_parents", 1),
        network_sample_rows=getattr(generator, "network_sample_rows", None),
        default_strategy=getattr(generator, "default_strategy", "uniform"),
        hierarchies=encoding.hierarchies(),
        rng=rng,
        ledger=ledger,
        table=table.name,
    )
    return TableModel(name=table.name, n_rows=len(frame), encoding=encoding, network=network)


def _sample_size(config: TrainingConfig, n_rows: int) -> int:
    params = config.sample_params
    if params is None:
        return 0
    if params.auto_magnitude:
        return AUTO_SAMPLE_ROWS
    return rows_for_magnitude(n_rows, params.magnitude)


def _frame_records(frame: pd.DataFrame) -> List[Dict[str, Any]]:
    return json.loads(frame.to_json(orient="records", date_format="iso"))


def fit(config: ConfigLike) -> Model:
    """Train a model in memory: read and encode each table, learn its network, measure it, record the ledger."""
    config = _as_config(config, TrainingConfig)
    generator = config.model_parameters.generator
    tables = _modelled_tables(config)
    rng = np.random.default_rng(config.random_state)
    ledger = BudgetLedger()
    # Sequential composition over tables: each modelled table gets an equal share of each budget.
    epsilon_share = generator.epsilon / len(tables)
    processing_share = None if generator.processing_epsilon is None else generator.processing_epsilon / len(tables)
    fitted: Dict[str, TableModel] = {}
    for table in tables:
        frame = _read_source(config, table)
        fitted[table.name] = _fit_table(config, table, frame, epsilon_share, processing_share, rng, ledger)
    manifest = _manifest(config, fitted, ledger)
    model = Model(manifest=manifest, tables=fitted)
    sample_rng = np.random.default_rng(np.random.SeedSequence(config.random_state, spawn_key=(2**31,)))
    manifest["sample"] = {
        name: _frame_records(table.sample(_sample_size(config, table.n_rows), 0, sample_rng))
        for name, table in fitted.items()
    }
    return model


def _manifest(config: TrainingConfig, tables: Dict[str, TableModel], ledger: BudgetLedger) -> Dict[str, Any]:
    generator = config.model_parameters.generator
    processing_private = generator.processing_epsilon is not None
    return {
        "package_version": __version__,
        "synthesiser": generator.generator_type,
        "created_at": config.created_at.isoformat() if config.created_at else None,
        "title": config.title,
        "description": config.description,
        "metadata": dict(config.metadata),
        "privacy": {
            "total_epsilon": ledger.total_epsilon,
            "epsilon": generator.epsilon,
            "processing_epsilon": generator.processing_epsilon,
            "processing_private": processing_private,
            "neighbouring": "bounded: datasets differ in one row; row counts are public",
            "ledger": ledger.to_dict(),
        },
        "training_config": config.sanitize().model_dump(mode="json"),
        "schema": config.data_schema.model_dump(mode="json"),
        "tables": {
            name: {
                "n_rows": table.n_rows,
                "epsilon": ledger.total_for_table(name),
                "columns": table.encoding.describe(),
                "network_edges": _named_edges(table),
                "encoding": table.encoding.to_json(),
                "network": table.network.to_json(),
            }
            for name, table in tables.items()
        },
        "evaluation": None,
    }


def _named_edges(table: TableModel) -> List[Dict[str, Any]]:
    names = table.encoding.modelled_columns
    return [
        {"child": names[child], "parents": [names[parent] for parent in parents]}
        for child, parents in table.network.network_edges()
    ]


def inspect_model(path: Union[str, Path]) -> Dict[str, Any]:
    """What a model holds, from its manifest alone: synthesiser, privacy ledger, tables, columns, network."""
    manifest = read_manifest(path)
    return {
        "path": str(path),
        "format_version": manifest["format_version"],
        "package_version": manifest.get("package_version"),
        "synthesiser": manifest["synthesiser"],
        "title": manifest.get("title", ""),
        "created_at": manifest.get("created_at"),
        "privacy": manifest["privacy"],
        "tables": {
            name: {
                "n_rows": entry["n_rows"],
                "epsilon": entry["epsilon"],
                "columns": entry["columns"],
                "network": entry["network_edges"],
            }
            for name, entry in manifest["tables"].items()
        },
        "evaluation": manifest.get("evaluation"),
    }


def _model_arrays(model: Model) -> Dict[str, np.ndarray]:
    arrays: Dict[str, np.ndarray] = {}
    for index, table in enumerate(model.tables.values()):
        for name, array in table.encoding.arrays().items():
            arrays[f"t{index}.encoding.{name}"] = array
        for name, array in table.network.to_arrays().items():
            arrays[f"t{index}.network.{name}"] = array
    return arrays


def save_model(model: Model, path: Union[str, Path]) -> Path:
    """Write a model to a `.hmf` file."""
    return write_model(path, model.manifest, _model_arrays(model))


def load_model(path: Union[str, Path]) -> Model:
    """Read a `.hmf` file (no pickle: the manifest is JSON, the arrays plain .npy)."""
    manifest, arrays = read_model(path)
    tables: Dict[str, TableModel] = {}
    for index, (name, entry) in enumerate(manifest["tables"].items()):
        prefix = f"t{index}."
        encoding_arrays = {
            k[len(prefix + "encoding.") :]: v for k, v in arrays.items() if k.startswith(prefix + "encoding.")
        }
        network_arrays = {
            k[len(prefix + "network.") :]: v for k, v in arrays.items() if k.startswith(prefix + "network.")
        }
        tables[name] = TableModel(
            name=name,
            n_rows=int(entry["n_rows"]),
            encoding=TableEncoding.from_parts(entry["encoding"], encoding_arrays),
            network=privbayes.PrivBayesModel.from_parts(entry["network"], network_arrays),
        )
    return Model(manifest=manifest, tables=tables)


def train(config: ConfigLike) -> Path:
    """Train on the configured source tables and write the model file; returns its path."""
    config = _as_config(config, TrainingConfig)
    output = location_path(config.model_output) if config.model_output is not None else None
    if output is None:
        raise ValueError("model_output: set the path of the model file (.hmf) to write")
    return save_model(fit(config), output)


class GenerationError(RuntimeError):
    """A generation run that could not write every batch; `state` says which batches landed where."""

    def __init__(self, message: str, state: Dict[str, Any]) -> None:
        super().__init__(message)
        self.state = state


def _model_path(config: GenerationConfig) -> str:
    path = location_path(config.model) if not isinstance(config.model, Path) else str(config.model)
    if path is None:
        raise ValueError("model: set the path of the model file (.hmf) to generate from")
    return path


def _finish_frame(config: GenerationConfig, table: TableModel, frame: pd.DataFrame) -> pd.DataFrame:
    params = config.generate_params
    if params.limit_strings:
        frame = limit_string_lengths(frame, table.encoding.max_string_lengths)
    if params.drop_unique_violation:
        frame = drop_unique_violations(frame, table.encoding.unique_columns)
    post = params.post_generation
    for entry in post.tables if post else []:
        if entry.table == table.name:
            frame = apply_post_generation(frame, table.name, entry.steps)
    return frame


def _write_fail_safe(directory: str, table: str, batch: Batch, frame: pd.DataFrame) -> str:
    safe_name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in table)
    path = Path(directory) / f"{safe_name}.batch-{batch.index:05d}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return str(path)


def _generate_table(
    config: GenerationConfig, table: TableModel, table_index: int, entropy: int, location: Any
) -> Dict[str, Any]:
    params = config.generate_params
    batches = plan_batches(table.n_rows, params.magnitude, params.batch_magnitude)
    entries: List[Dict[str, Any]] = []
    failure: Optional[str] = None
    with open_writer(table.name, location) as writer:
        for batch in batches:
            started = time.perf_counter()
            rng = np.random.default_rng(table_batch_seed(entropy, batch.index, table_index))
            frame = _finish_frame(config, table, table.sample(batch.n_rows, batch.start_row, rng))
            entry: Dict[str, Any] = {"index": batch.index, "start_row": batch.start_row, "rows": len(frame)}
            try:
                writer.write_batch(frame)
                entry.update(status="written", destination=location_path(location))
            except Exception as error:  # noqa: BLE001 - any write failure goes to the fail-safe path
                entry["error"] = f"{type(error).__name__}: {error}"
                fail_safe = fail_safe_path(location)
                if fail_safe is None:
                    entry["status"] = "failed"
                    failure = entry["error"]
                else:
                    entry.update(status="fail_safe", destination=_write_fail_safe(fail_safe, table.name, batch, frame))
            entry["seconds"] = round(time.perf_counter() - started, 4)
            entries.append(entry)
            if failure:
                break
    written = sum(item["rows"] for item in entries if item["status"] == "written")
    return {"rows": written, "output": location_path(location), "batches": entries, "failure": failure}


def generate(config: ConfigLike, *, batch_indices: Optional[Sequence[int]] = None) -> Dict[str, Any]:
    """Generate every configured table in batches and write it; returns the generation state (a report).

    The state lists every batch, where it went and why; it is also written to `generation_state_path`.
    A batch that fails to write goes to the location's fail-safe path when one is set; otherwise the run
    stops and raises `GenerationError` carrying the state, which says which batches were written.
    """
    config = _as_config(config, GenerationConfig)
    if batch_indices is not None:
        return generate_batches(config, batch_indices)
    started = time.time()
    model_path = _model_path(config)
    model = load_model(model_path)
    entropy = run_entropy(config.random_state)
    names = list(model.tables)
    for item in config.data_output:
        if item.name not in model.tables:
            raise ValueError(f"data_output: table '{item.name}' is not in the model (tables: {names})")
    state: Dict[str, Any] = {
        "run_id": uuid.uuid4().hex,
        "package_version": __version__,
        "model": model_path,
        "synthesiser": model.manifest["synthesiser"],
        "total_epsilon": model.total_epsilon,
        "random_state": config.random_state,
        "seed": entropy,
        "magnitude": config.generate_params.magnitude,
        "batch_magnitude": config.generate_params.batch_magnitude,
        "tables": {},
        "validation": None,
    }
    failures = []
    for item in config.data_output:
        table_state = _generate_table(config, model.tables[item.name], names.index(item.name), entropy, item.location)
        state["tables"][item.name] = table_state
        if table_state["failure"]:
            failures.append(f"table '{item.name}': {table_state['failure']}")
            break
    state["seconds"] = round(time.time() - started, 3)
    _write_state(config, state)
    if failures:
        written = {
            name: [b["index"] for b in t["batches"] if b["status"] == "written"] for name, t in state["tables"].items()
        }
        raise GenerationError(f"generation failed: {'; '.join(failures)}; batches written: {written}", state)
    return state


def _write_state(config: GenerationConfig, state: Dict[str, Any]) -> None:
    if config.generation_state_path is None:
        return
    path = Path(location_path(config.generation_state_path))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state, indent=2, default=str) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------------------------------
# Mapped generation (one Airflow task per batch). Added by i8; the multi-table generate of i6 replaces
# these if it brings its own `batch_indices`.


def list_batches(config: ConfigLike) -> List[int]:
    """The batch indices of a generation run over every output table (read from the model's manifest)."""
    config = _as_config(config, GenerationConfig)
    tables = read_manifest(_model_path(config))["tables"]
    params = config.generate_params
    counts = [
        len(plan_batches(int(tables[item.name]["n_rows"]), params.magnitude, params.batch_magnitude))
        for item in config.data_output
        if item.name in tables
    ]
    return list(range(max(counts, default=0)))


def generate_batches(config: ConfigLike, batch_indices: Sequence[int]) -> Dict[str, Any]:
    """Generate and write only the batches `batch_indices`, each so that running it again replaces its rows.

    An empty `batch_indices` is the *prepare* step: it applies each output's `if_exists` (drop, create,
    fail) and writes no row; the batches then append. A database batch first deletes the rows holding its
    own generated keys (ids are a function of the global row, so a rerun makes the same keys); a file or
    S3 batch writes its own part, `<name>/part-00003.<ext>`, replacing it. The union of all batches is
    the rows of one unmapped run with the same `random_state` (see docs/airflow.md).
    """
    config = _as_config(config, GenerationConfig)
    model_path = _model_path(config)
    model = load_model(model_path)
    entropy = run_entropy(config.random_state)
    names = list(model.tables)
    params = config.generate_params
    wanted = {int(index) for index in batch_indices}
    state: Dict[str, Any] = {"model": model_path, "random_state": config.random_state, "tables": {}}
    for item in config.data_output:
        if item.name not in model.tables:
            raise ValueError(f"data_output: table '{item.name}' is not in the model (tables: {names})")
        table, table_index = model.tables[item.name], names.index(item.name)
        batches = plan_batches(table.n_rows, params.magnitude, params.batch_magnitude)
        entries = []
        if not wanted:  # prepare: the table gets the column types the first batch would give it
            first = _batch_frame(config, table, table_index, entropy, batches[0])
            _prepare_output(item.name, item.location, first.iloc[:0])
        for batch in (batch for batch in batches if batch.index in wanted):
            frame = _batch_frame(config, table, table_index, entropy, batch)
            with open_writer(item.name, _batch_location(item.location, batch.index)) as writer:
                _delete_batch_keys(writer, table, frame)
                writer.write_batch(frame)
            entries.append({"index": batch.index, "start_row": batch.start_row, "rows": len(frame)})
        state["tables"][item.name] = {
            "rows": sum(entry["rows"] for entry in entries),
            "n_batches": len(batches),
            "batches": entries,
        }
    return state


def _batch_frame(
    config: GenerationConfig, table: TableModel, table_index: int, entropy: int, batch: Batch
) -> pd.DataFrame:
    """Batch `batch` of `table`, drawn from its own seed (the same rows whichever task makes it)."""
    rng = np.random.default_rng(table_batch_seed(entropy, batch.index, table_index))
    return _finish_frame(config, table, table.sample(batch.n_rows, batch.start_row, rng))


def _part_path(path: str, index: int) -> str:
    head, _, name = path.rpartition("/")
    stem, dot, ext = name.partition(".")
    return f"{head}/{stem}/part-{index:05d}{dot}{ext}" if head else f"{stem}/part-{index:05d}{dot}{ext}"


def _batch_location(location: Any, index: int) -> Any:
    """Where batch `index` goes: the table itself (appending) for a database, its own part for a file."""
    from .config import DatabaseWriteTableConfig, IfExists, PathWriteTableConfig

    if isinstance(location, DatabaseWriteTableConfig):
        return location.model_copy(update={"if_exists": IfExists.APPEND})
    if isinstance(location, str):
        location = PathWriteTableConfig(path=location)
    return location.model_copy(update={"path": _part_path(location.path, index), "if_exists": IfExists.REPLACE})


def _prepare_output(name: str, location: Any, empty: pd.DataFrame) -> None:
    """Apply `if_exists` once: create (or replace) a database table with no row; empty a local part folder."""
    from .config import DatabaseWriteTableConfig, IfExists

    if isinstance(location, DatabaseWriteTableConfig):
        with open_writer(name, location) as writer:
            writer.write_batch(empty)
        return
    path = location_path(location) or ""
    if "://" not in path and getattr(location, "if_exists", IfExists.FAIL) == IfExists.REPLACE:
        folder = Path(_part_path(path, 0)).parent
        for part in folder.glob("part-*"):
            part.unlink()


def _delete_batch_keys(writer: Any, table: TableModel, frame: pd.DataFrame) -> None:
    """Before a database batch is written: delete target rows holding this batch's generated ids."""
    from .io.sql import SqlTableWriter, reflect_table

    inner = getattr(writer, "writer", writer)
    ids = [c.name for c in table.encoding.table.columns if c.type == "id" and c.name in frame.columns]
    if not isinstance(inner, SqlTableWriter) or not ids or len(frame) == 0:
        return
    sa_table = reflect_table(inner.engine, inner.table_name, inner.schema_name)
    column = sa_table.c[ids[0]]
    values = frame[ids[0]].tolist()
    with inner.engine.begin() as connection:
        for start in range(0, len(values), 1000):
            connection.execute(sa_table.delete().where(column.in_(values[start : start + 1000])))


# --------------------------------------------------------------------------------------------------
# Minimal stand-ins (i8) so the operators and example DAGs run on this branch: the integrator keeps
# i7's `evaluate` / `validate` and i6b's `subset`, which follow the same contracts.


def evaluate(config: ConfigLike) -> Dict[str, Any]:
    """Score the trained model (`model_output`) against its source tables with the configured metrics."""
    from .config.evaluation import EvaluationConfig
    from .metrics.evaluate import evaluate as run_metrics

    config = _as_config(config, TrainingConfig)
    path = location_path(config.model_output)
    model = load_model(path)
    rng = np.random.default_rng(np.random.SeedSequence(config.random_state, spawn_key=(2**31 + 1,)))
    tables = [table for table in config.data_schema.tables if table.name in model.tables]
    real = {table.name: _read_source(config, table) for table in tables}
    synthetic = {name: model.tables[name].sample(len(frame), 0, rng) for name, frame in real.items()}
    metrics = run_metrics(config.evaluation or EvaluationConfig(), config.data_schema, real, synthetic, rng=rng)
    return {"model": path, "metrics": metrics, "scores": {key: entry.get("score") for key, entry in metrics.items()}}


def _read_output(name: str, location: Any) -> pd.DataFrame:
    """A generated table as written: the table, the file, or the concatenated parts of a mapped run."""
    from .io.sources import DataSources

    path = location_path(location)
    if path is None or Path(path).exists():
        return read_table(name, location)
    folder = _part_path(path, 0).rsplit("/", 1)[0]
    if "://" not in path:
        parts = sorted(str(part) for part in Path(folder).glob("part-*"))
    else:
        bucket, _, prefix = folder.split("://", 1)[1].partition("/")
        client = DataSources().s3_client(getattr(location, "source_id", None))
        listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix + "/part-").get("Contents", [])
        parts = sorted(f"s3://{bucket}/{item['Key']}" for item in listed)
    if not parts:
        return read_table(name, location)  # raises, naming the table and the missing path
    source_id = getattr(location, "source_id", None)
    from .config import PathReadTableConfig

    frames = [read_table(name, PathReadTableConfig(path=part, source_id=source_id)) for part in parts]
    return pd.concat(frames, ignore_index=True)


def validate(config: ConfigLike) -> Dict[str, Any]:
    """Check the generated tables against the model's schema (keys, types, row counts): `passed`, `checks`."""
    from .metrics.validation import validate as run_checks

    config = _as_config(config, GenerationConfig)
    manifest = read_manifest(_model_path(config))
    from .config.schema import DataSchema

    schema = DataSchema.model_validate(manifest["schema"])
    magnitude = config.generate_params.magnitude
    tables = {item.name: _read_output(item.name, item.location) for item in config.data_output}
    expected = {name: rows_for_magnitude(int(manifest["tables"][name]["n_rows"]), magnitude) for name in tables}
    return run_checks(schema, tables, expected_rows=expected).to_json()


def subset(config: ConfigLike, output_dir: Union[str, Path]) -> Dict[str, Any]:
    """Extract the source tables (the first `nrows` rows) into Parquet files under `output_dir` and write a
    training config reading them; returns the tables' row counts and paths and the new config's path."""
    config = _as_config(config, TrainingConfig)
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    inputs, tables = [], {}
    for item in config.data_input:
        frame = read_table(item.name, item.location, nrows=config.nrows)
        path = output / f"{item.name}.parquet"
        frame.to_parquet(path, index=False)
        tables[item.name] = {"rows": len(frame), "path": str(path)}
        inputs.append({"name": item.name, "location": str(path)})
    subset_config = config.sanitize().model_copy(update={"data_input": [], "data_sources": []})
    data = subset_config.model_dump(mode="json")
    data["data_input"] = inputs
    training_path = TrainingConfig.model_validate(data).to_file(output / "training_config.json")
    return {"tables": tables, "training_config": str(training_path), "output_dir": str(output)}
