"""The engine's entry points: `train(config) -> model path`, `generate(config) -> report`, `inspect_model`.

The same calls serve a notebook, the `hazy` command line and the Airflow operators.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import numpy as np
import pandas as pd

from . import __version__
from .config import GenerationConfig, TrainingConfig
from .config.schema import BaseTable, DataSchema, ReferenceTable, SequentialTable
from .core import privbayes
from .core.batching import Batch, plan_batches, rows_for_magnitude, run_entropy, table_batch_seed
from .core.encoding import TableEncoding, fit_table_encoding, prepare_frame
from .core.postprocess import apply_post_generation, drop_unique_violations, limit_string_lengths
from .core.privacy import BudgetLedger
from .core.streaming import fit_table_encoding_from_chunks
from .io.locations import fail_safe_path, location_label, location_path, open_writer, read_table, read_table_chunks
from .io.sources import DataSources
from .model_file import read_manifest, read_model, write_model

AUTO_SAMPLE_ROWS = 25
TRAIN_CHUNK_ROWS = 100_000
"""Rows per chunk when training reads a table (override: `chunk_rows=` or `HAZY_TRAIN_CHUNK_ROWS`)."""
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


def _read_source(config: TrainingConfig, table: BaseTable, sources: Optional[DataSources] = None) -> pd.DataFrame:
    location = next(item.location for item in config.data_input if item.name == table.name)
    frame = read_table(table.name, location, nrows=config.nrows, sources=sources)
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


def train_chunk_rows(chunk_rows: Optional[int] = None) -> int:
    """Rows per training chunk: `chunk_rows`, else `HAZY_TRAIN_CHUNK_ROWS`, else `TRAIN_CHUNK_ROWS`."""
    value = chunk_rows if chunk_rows is not None else int(os.environ.get("HAZY_TRAIN_CHUNK_ROWS", TRAIN_CHUNK_ROWS))
    if value < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {value}")
    return value


def _fit_table_streaming(
    config: TrainingConfig,
    table: BaseTable,
    sources: DataSources,
    epsilon: float,
    processing_epsilon: Optional[float],
    rng: np.random.Generator,
    ledger: BudgetLedger,
    chunk_rows: int,
) -> TableModel:
    """Fit one table read in chunks of `chunk_rows` (a few passes; see `core.streaming`): memory holds one
    chunk, the summaries, the network sample and the count tables, never the table."""
    generator = config.model_parameters.generator
    location = next(item.location for item in config.data_input if item.name == table.name)

    def chunks():
        for frame in read_table_chunks(
            table.name, location, chunk_size=chunk_rows, nrows=config.nrows, sources=sources
        ):
            yield prepare_frame(
                frame, table, strip_strings=config.strip_strings, empty_strings_as_null=config.empty_strings_as_null
            )

    encoding, n_rows = fit_table_encoding_from_chunks(
        chunks, table, generator, processing_epsilon=processing_epsilon, rng=rng, ledger=ledger, table_name=table.name
    )
    network = privbayes.fit_from_chunks(
        lambda: (encoding.encode(frame) for frame in chunks()),
        n_rows,
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
    return TableModel(name=table.name, n_rows=n_rows, encoding=encoding, network=network)


def _sample_size(config: TrainingConfig, n_rows: int) -> int:
    params = config.sample_params
    if params is None:
        return 0
    if params.auto_magnitude:
        return AUTO_SAMPLE_ROWS
    return rows_for_magnitude(n_rows, params.magnitude)


def _frame_records(frame: pd.DataFrame) -> List[Dict[str, Any]]:
    return json.loads(frame.to_json(orient="records", date_format="iso"))


def fit(config: ConfigLike, *, chunk_rows: Optional[int] = None) -> Model:
    """Train a model: read each table in chunks, encode it, learn its network, measure it, record the ledger.

    Tables stream in chunks of `train_chunk_rows(chunk_rows)` rows; the model does not depend on the chunk size.
    """
    config = _as_config(config, TrainingConfig)
    chunk_rows = train_chunk_rows(chunk_rows)
    generator = config.model_parameters.generator
    tables = _modelled_tables(config)
    rng = np.random.default_rng(config.random_state)
    ledger = BudgetLedger()
    # Sequential composition over tables: each modelled table gets an equal share of each budget.
    epsilon_share = generator.epsilon / len(tables)
    processing_share = None if generator.processing_epsilon is None else generator.processing_epsilon / len(tables)
    fitted: Dict[str, TableModel] = {}
    with DataSources(config.data_sources) as sources:
        for table in tables:
            fitted[table.name] = _fit_table_streaming(
                config, table, sources, epsilon_share, processing_share, rng, ledger, chunk_rows
            )
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


def train(config: ConfigLike, *, chunk_rows: Optional[int] = None) -> Path:
    """Train on the configured source tables and write the model file; returns its path."""
    config = _as_config(config, TrainingConfig)
    output = location_path(config.model_output) if config.model_output is not None else None
    if output is None:
        raise ValueError("model_output: set the path of the model file (.hmf) to write")
    return save_model(fit(config, chunk_rows=chunk_rows), output)


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
    config: GenerationConfig,
    table: TableModel,
    table_index: int,
    entropy: int,
    location: Any,
    sources: Optional[DataSources] = None,
    data_schema: Optional[DataSchema] = None,
) -> Dict[str, Any]:
    params = config.generate_params
    batches = plan_batches(table.n_rows, params.magnitude, params.batch_magnitude)
    entries: List[Dict[str, Any]] = []
    failure: Optional[str] = None
    writer_context = open_writer(
        table.name,
        location,
        table_schema=table.encoding.table,
        data_schema=data_schema,
        sources=sources,
        # declared text lengths only when strings are cut to them (Faker values may be longer otherwise)
        string_lengths=table.encoding.max_string_lengths if params.limit_strings else None,
    )
    with writer_context as writer:
        for batch in batches:
            started = time.perf_counter()
            rng = np.random.default_rng(table_batch_seed(entropy, batch.index, table_index))
            frame = _finish_frame(config, table, table.sample(batch.n_rows, batch.start_row, rng))
            entry: Dict[str, Any] = {"index": batch.index, "start_row": batch.start_row, "rows": len(frame)}
            try:
                writer.write_batch(frame)
                entry.update(status="written", destination=location_label(location))
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
    return {"rows": written, "output": location_label(location), "batches": entries, "failure": failure}


def generate(config: ConfigLike) -> Dict[str, Any]:
    """Generate every configured table in batches and write it; returns the generation state (a report).

    The state lists every batch, where it went and why; it is also written to `generation_state_path`.
    A batch that fails to write goes to the location's fail-safe path when one is set; otherwise the run
    stops and raises `GenerationError` carrying the state, which says which batches were written.
    """
    config = _as_config(config, GenerationConfig)
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
    data_schema = DataSchema.model_validate(model.manifest["schema"])
    with DataSources(config.data_sources) as sources:
        for item in config.data_output:
            table_state = _generate_table(
                config, model.tables[item.name], names.index(item.name), entropy, item.location, sources, data_schema
            )
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
