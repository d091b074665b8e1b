"""The engine's entry points: `train(config) -> model path`, `generate(config) -> report`, `inspect_model`,
`list_batches(config) -> batch indices`.

A schema of several tables linked by foreign keys is one model: tables are fitted parents first, each child
with its degree model and conditioned on its driving parent's columns; generation makes batches that are each
referentially complete (core/multitable.py, docs/multitable.md).

The same calls serve a notebook, the `hazy` command line and the Airflow operators.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Collection, Dict, Iterator, List, Optional, Sequence, Union

import numpy as np
import pandas as pd

from . import __version__, evaluation, evaluation_file
from .config import GenerationConfig, TrainingConfig
from .config.enums import AdjacencyType, IfExists
from .config.schema import BaseTable, DataSchema, IdColumn, ReferenceTable, SequentialTable
from .core import multitable, privbayes
from .core.batching import Batch, rows_for_magnitude, run_entropy, table_batch_seed
from .core.encoding import TableEncoding, fit_table_encoding, prepare_frame
from .core.noise import noise_for_training
from .core.postprocess import apply_post_generation, drop_unique_violations, limit_string_lengths
from .core.privacy import BudgetLedger
from .core.streaming import fit_table_encoding_from_chunks
from .core.subsetting import Subset, subset_tables
from .io.locations import (
    fail_safe_path,
    location_kind,
    location_label,
    location_path,
    open_writer,
    order_tables_for_write,
    part_location,
    prepare_parts,
    read_table,
    read_table_chunks,
)
from .io.sources import DataSources
from .model_file import read_manifest, read_model, write_model

AUTO_SAMPLE_ROWS = 25
log = logging.getLogger(__name__)
ConfigLike = Union[TrainingConfig, GenerationConfig, Dict[str, Any], str, Path]
TRAIN_CHUNK_ROWS = 100_000
"""Rows per chunk when training reads a table (override: `chunk_rows=` or `HAZY_TRAIN_CHUNK_ROWS`)."""


@dataclass
class CrossTable:
    """A child table's network conditioned on parent columns: which parent code columns are joined on."""

    parent: str
    parent_columns: List[int]
    selected: List[int]
    n_child_columns: int
    parent_column_names: List[str] = field(default_factory=list)

    def to_json(self) -> Dict[str, Any]:
        return {
            "parent": self.parent,
            "parent_columns": list(self.parent_columns),
            "selected": list(self.selected),
            "n_child_columns": self.n_child_columns,
            "parent_column_names": list(self.parent_column_names),
        }


@dataclass
class TableModel:
    """One table's fitted parts: its encoding and its PrivBayes model over the encoded columns, and for a child
    table its degree model, the parent columns its network is conditioned on, and its foreign keys' null rates."""

    name: str
    n_rows: int
    encoding: TableEncoding
    network: privbayes.PrivBayesModel
    cross_table: Optional[CrossTable] = None
    degree: Optional[multitable.DegreeModel] = None
    null_rates: Dict[str, float] = field(default_factory=dict)

    def sample_codes(self, n_rows: int, rng: np.random.Generator, given: Optional[np.ndarray] = None) -> np.ndarray:
        """Codes of `n_rows` rows; with `given` (the joined parent columns), drawn conditionally on them."""
        if self.cross_table is None:
            return privbayes.sample(self.network, n_rows, rng)
        assert given is not None, f"table '{self.name}': its network needs its parent's columns"
        return multitable.sample_conditioned(self.network, self.cross_table.n_child_columns, given, rng)

    def sample(self, n_rows: int, start_row: int, rng: np.random.Generator) -> pd.DataFrame:
        """`n_rows` synthetic rows whose generated keys start at global row `start_row` (a table on its own)."""
        if self.cross_table is not None:
            raise ValueError(f"table '{self.name}' is a child table: generate it with its parents (api.generate)")
        return self.encoding.generate(privbayes.sample(self.network, n_rows, rng), start_row, rng)


@dataclass
class Model:
    """A trained model: the manifest (metadata, ledger, schema), one `TableModel` per modelled table, and the
    reference tables (public by declaration, copied as they are)."""

    manifest: Dict[str, Any]
    tables: Dict[str, TableModel]
    references: Dict[str, pd.DataFrame] = field(default_factory=dict)
    evaluation_detail: Optional[Dict[str, Any]] = None
    """The full evaluation of training (histograms, matrices): written beside the model, never into it."""

    @property
    def total_epsilon(self) -> float:
        """The privacy ledger's total."""
        return float(self.manifest["privacy"]["total_epsilon"])

    @property
    def schema(self) -> DataSchema:
        return DataSchema.model_validate(self.manifest["schema"])

    def graph(self) -> multitable.ForeignKeyGraph:
        """The foreign-key graph, with driving parents chosen from the recorded (public) row counts."""
        n_rows = {name: int(entry["n_rows"]) for name, entry in self.manifest["tables"].items()}
        return multitable.build_graph(self.schema, n_rows)


def _as_config(config: ConfigLike, kind: type) -> Any:
    if isinstance(config, kind):
        return config
    if isinstance(config, dict):
        return kind.model_validate(config)
    return kind.from_file(config)


def _modelled_tables(config: TrainingConfig) -> List[BaseTable]:
    """The tables a network is learned for (reference tables are copied; sequential ones are not supported)."""
    tables = []
    for table in config.data_schema.tables:
        if isinstance(table, SequentialTable):
            raise NotImplementedError(
                f"table '{table.name}': sequential tables are not supported yet; tabular and reference tables are"
            )
        if not isinstance(table, ReferenceTable):
            tables.append(table)
    return tables


def _read_source(config: TrainingConfig, table: BaseTable, sources: Optional[DataSources] = None) -> pd.DataFrame:
    location = next(item.location for item in config.data_input if item.name == table.name)
    frame = read_table(table.name, location, nrows=config.nrows, sources=sources)
    return prepare_frame(
        frame, table, strip_strings=config.strip_strings, empty_strings_as_null=config.empty_strings_as_null
    )


@dataclass
class ParentContext:
    """What a child table's fit needs from its driving parent: the relation, the parent's model and codes, and
    the child rows' parent row (-1 for none) in the source."""

    relation: multitable.Relation
    parent: TableModel
    parent_codes: np.ndarray
    parent_index: np.ndarray
    cap: int
    max_given: int
    adjacency: str
    degree_epsilon: float
    orphan_rate: float = 0.0


def _generator_settings(generator: Any) -> Dict[str, Any]:
    return {
        "n_parents": getattr(generator, "n_parents", 0),
        "sample_parents": getattr(generator, "sample_parents", 1),
        "network_sample_rows": getattr(generator, "network_sample_rows", None),
        "default_strategy": getattr(generator, "default_strategy", "uniform"),
    }


def _fit_table(
    config: TrainingConfig,
    table: BaseTable,
    frame: pd.DataFrame,
    epsilon: float,
    processing_epsilon: Optional[float],
    rng: np.random.Generator,
    ledger: BudgetLedger,
    parent: Optional[ParentContext] = None,
) -> TableModel:
    """Encode one table and learn its network; with `parent`, conditioned on the parent's columns, plus the
    degree model of the driving relation."""
    generator = config.model_parameters.generator
    settings = _generator_settings(generator)
    encoding = fit_table_encoding(
        frame, table, generator, processing_epsilon=processing_epsilon, rng=rng, ledger=ledger, table_name=table.name
    )
    codes = encoding.encode(frame)
    cross: Optional[CrossTable] = None
    parent_columns = list(range(len(parent.parent.encoding.domain_sizes))) if parent else []
    if parent and parent_columns and parent.max_given > 0 and settings["n_parents"] > 0 and codes.shape[1]:
        ranks = multitable.child_ranks(parent.parent_index)
        parent_sizes = [parent.parent.encoding.domain_sizes[j] for j in parent_columns]
        given = multitable.joined_parent_codes(
            parent.parent_codes[:, parent_columns], parent.parent_index, ranks, parent.cap, parent_sizes
        )
        parent_maps = parent.parent.encoding.hierarchies()
        conditioned = multitable.fit_conditioned(
            codes,
            encoding.domain_sizes,
            encoding.hierarchies(),
            given,
            parent_sizes,
            [parent_maps[j] for j in parent_columns],
            epsilon=epsilon,
            group=multitable.group_size(parent.cap),
            max_given=parent.max_given,
            rng=rng,
            ledger=ledger,
            table=table.name,
            parent_table=parent.relation.parent,
            **settings,
        )
        network = conditioned.model
        cross = CrossTable(
            parent.relation.parent,
            parent_columns,
            [parent_columns[j] for j in conditioned.given_columns],
            conditioned.n_child_columns,
            [parent.parent.encoding.modelled_columns[j] for j in parent_columns],
        )
    else:
        network = privbayes.fit(
            codes,
            encoding.domain_sizes,
            epsilon=epsilon,
            hierarchies=encoding.hierarchies(),
            rng=rng,
            ledger=ledger,
            table=table.name,
            **settings,
        )
    model = TableModel(name=table.name, n_rows=len(frame), encoding=encoding, network=network, cross_table=cross)
    if parent is not None:
        model.degree = _fit_degree(parent, len(frame), cross, rng, ledger)
    return model


def train_chunk_rows(chunk_rows: Optional[int] = None) -> int:
    """Rows per training chunk: `chunk_rows`, else `HAZY_TRAIN_CHUNK_ROWS`, else `TRAIN_CHUNK_ROWS`."""
    value = chunk_rows if chunk_rows is not None else int(os.environ.get("HAZY_TRAIN_CHUNK_ROWS", TRAIN_CHUNK_ROWS))
    if value < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {value}")
    return value


ChunkSource = Callable[[], Iterator[pd.DataFrame]]
"""Each call starts a new pass over a table's prepared rows, chunk by chunk."""


def _source_chunks(config: TrainingConfig, table: BaseTable, sources: DataSources, chunk_rows: int) -> ChunkSource:
    location = next(item.location for item in config.data_input if item.name == table.name)

    def chunks() -> Iterator[pd.DataFrame]:
        for frame in read_table_chunks(
            table.name, location, chunk_size=chunk_rows, nrows=config.nrows, sources=sources
        ):
            yield prepare_frame(
                frame, table, strip_strings=config.strip_strings, empty_strings_as_null=config.empty_strings_as_null
            )

    return chunks


def _frame_chunks(frame: pd.DataFrame, chunk_rows: int) -> ChunkSource:
    def chunks() -> Iterator[pd.DataFrame]:
        for start in range(0, max(len(frame), 1), chunk_rows):
            yield frame.iloc[start : start + chunk_rows]

    return chunks


def _fit_table_streaming(
    config: TrainingConfig,
    table: BaseTable,
    chunks: ChunkSource,
    epsilon: float,
    processing_epsilon: Optional[float],
    rng: np.random.Generator,
    ledger: BudgetLedger,
) -> TableModel:
    """Fit a table with no foreign-key relation from passes over its chunks (see `core.streaming`): memory
    holds one chunk, the summaries, the network sample and the count tables, never the table. A table read
    into memory goes through the same code in chunks, so the model never depends on how it was read."""
    generator = config.model_parameters.generator
    encoding, n_rows = fit_table_encoding_from_chunks(
        chunks, table, generator, processing_epsilon=processing_epsilon, rng=rng, ledger=ledger, table_name=table.name
    )
    network = privbayes.fit_from_chunks(
        lambda: (encoding.encode(frame) for frame in chunks()),
        n_rows,
        encoding.domain_sizes,
        epsilon=epsilon,
        hierarchies=encoding.hierarchies(),
        rng=rng,
        ledger=ledger,
        table=table.name,
        **_generator_settings(generator),
    )
    return TableModel(name=table.name, n_rows=n_rows, encoding=encoding, network=network)


def _unrelated_tables(schema: DataSchema) -> set:
    """The modelled tables with no foreign key of their own and none pointing at them (they can train
    streamed), read off the schema alone, before any row count is known."""
    referenced = {fk.ref_table for table in schema.tables for fk in table.foreign_keys}
    return {
        table.name
        for table in schema.tables
        if not isinstance(table, ReferenceTable) and not table.foreign_keys and table.name not in referenced
    }


def _needs_frames(config: TrainingConfig) -> bool:
    """Whether training must hold every source table in memory: subsetting, a train/test split, the
    evaluation and the source cache all work on whole tables."""
    evaluation_on = config.evaluation is not None and bool(config.evaluation.metrics)
    cached = config.model_parameters.multi_table.use_cache
    return config.database_subsetting_params is not None or config.train_test_split or evaluation_on or cached


def _fit_degree(
    parent: ParentContext, n_child: int, cross: Optional[CrossTable], rng: np.random.Generator, ledger: BudgetLedger
) -> multitable.DegreeModel:
    n_parent = parent.parent_codes.shape[0]
    # children with a parent: the public row count less the noisy share without one (post-processing)
    n_child = int(round(n_child * (1.0 - min(parent.orphan_rate, multitable.MAX_ORPHAN_RATE))))
    if parent.adjacency == "random":
        return multitable.random_degree_model(parent.relation, n_child, n_parent)
    encoding = parent.parent.encoding
    hierarchies = privbayes.check_inputs(
        parent.parent_codes, encoding.domain_sizes, encoding.hierarchies(), parent.relation.parent
    ).hierarchies
    return multitable.fit_degree_model(
        parent.relation,
        multitable.clipped_degrees(parent.parent_index, n_parent, parent.cap),
        parent.parent_codes,
        hierarchies,
        cross.selected if cross else [],
        parent.cap,
        n_child,
        epsilon=parent.degree_epsilon,
        ledger=ledger,
    )


def _fit_null_rates(
    graph: multitable.ForeignKeyGraph,
    table: BaseTable,
    frame: pd.DataFrame,
    budget: multitable.BudgetPlan,
    rng: np.random.Generator,
    ledger: BudgetLedger,
    parent: Optional[ParentContext] = None,
) -> Dict[str, float]:
    rates = {}
    for relation in graph.nullable(table.name):
        if relation == graph.driving[table.name] and parent is not None:
            n_null = int((parent.parent_index < 0).sum())  # null or dangling: no parent row
        else:
            n_null = int(frame[list(relation.child_columns)].isna().any(axis=1).sum())
        rates[relation.name] = multitable.noisy_null_rate(
            relation, n_null, len(frame), epsilon=budget.null_rate[relation.name], ledger=ledger
        )
    return rates


def _sample_size(config: TrainingConfig, n_rows: int) -> int:
    params = config.sample_params
    if params is None:
        return 0
    if params.auto_magnitude:
        return AUTO_SAMPLE_ROWS
    return rows_for_magnitude(n_rows, params.magnitude)


def _frame_records(frame: pd.DataFrame) -> List[Dict[str, Any]]:
    return json.loads(frame.to_json(orient="records", date_format="iso"))


def read_source_frames(
    config: TrainingConfig, sources: DataSources, skip: Collection[str] = ()
) -> Dict[str, pd.DataFrame]:
    """Every schema table but those in `skip` (tables that train streamed) read from its `data_input` and
    prepared (`prepare_frame`). With `model_parameters.multi_table.use_cache` (which streams nothing), the
    prepared frames come from the source cache when the schema, every source's fingerprint and row count,
    and the read settings are unchanged, and are stored there after a read otherwise (docs/subsetting.md,
    "Source cache")."""
    tables = [table for table in config.data_schema.tables if table.name not in skip]
    if not config.model_parameters.multi_table.use_cache:
        return {table.name: _read_source(config, table, sources) for table in tables}
    from .core import source_cache

    key = _source_cache_key(config, sources)
    found = source_cache.load_frames(key)
    if found is not None and list(found[0]) == [table.name for table in tables]:
        log.info("source cache hit %s: %d table(s) not read", key[:12], len(tables))
        return found[0]
    frames = {table.name: _read_source(config, table, sources) for table in tables}
    source_cache.save_frames(key, frames, {"tables": {name: len(frame) for name, frame in frames.items()}})
    log.info("source cache miss %s: %d table(s) read and stored", key[:12], len(tables))
    return frames


def _source_cache_key(config: TrainingConfig, sources: DataSources) -> str:
    """The cache key of the prepared source frames: the schema, each table's source label and row count
    (`source_fingerprint`) and the settings the read and `prepare_frame` depend on. Encoding and subsetting
    settings are not in it: they run on the cached frames, so changing them reuses the entry."""
    from .core import source_cache

    fingerprints = {}
    for item in config.data_input:
        label, n_rows = source_cache.source_fingerprint(item.name, item.location, nrows=config.nrows, sources=sources)
        fingerprints[item.name] = [label, n_rows]
    settings = {
        "kind": "prepared_source_frames",
        "sources": fingerprints,
        "nrows": config.nrows,
        "strip_strings": config.strip_strings,
        "empty_strings_as_null": config.empty_strings_as_null,
    }
    n_rows = sum(count for _, count in fingerprints.values() if count is not None)
    return source_cache.cache_key(config.data_schema, json.dumps(sorted(fingerprints)), n_rows, settings)


def subset_source_frames(config: TrainingConfig, frames: Dict[str, pd.DataFrame]) -> Subset:
    """The read source tables, subset before training (`database_subsetting_params`) and split
    (`train_test_split`) by `core.subsetting`, keeping full referential integrity; the frames unchanged
    when neither is set. `Subset.test` holds the held-out rows the evaluation scores against."""
    if config.database_subsetting_params is None and not config.train_test_split:
        return Subset(train=frames)
    return subset_tables(
        frames,
        config.data_schema,
        config.database_subsetting_params,
        train_test_split=config.train_test_split,
        random_state=config.random_state,
    )


def _adjacency(config: TrainingConfig) -> str:
    """`default` is degree_preserving (docs/multitable.md)."""
    adjacency = config.model_parameters.multi_table.adjacency_type
    return "random" if adjacency == AdjacencyType.RANDOM else "degree_preserving"


def _max_given(config: TrainingConfig) -> int:
    compression = config.model_parameters.multi_table.parent_compression
    return multitable.DEFAULT_PARENT_COLUMNS if compression is None else int(compression)


def fit(config: ConfigLike, *, chunk_rows: Optional[int] = None) -> Model:
    """Train a model: read every table, learn each modelled table's network in parent-first order (a child's
    conditioned on its driving parent's columns) and each foreign key's degree model, all charged to one
    ledger whose total is the configured epsilon (plus processing_epsilon).

    A table with no foreign-key relation streams from its source in chunks of `train_chunk_rows(chunk_rows)`
    rows, unless subsetting, a train/test split or the evaluation needs it whole in memory; either way the
    model is the same (docs/streaming.md).
    """
    config = _as_config(config, TrainingConfig)
    chunk_rows = train_chunk_rows(chunk_rows)
    generator = config.model_parameters.generator
    _modelled_tables(config)
    schema = config.data_schema
    unrelated = _unrelated_tables(schema)
    streamed = set() if _needs_frames(config) else unrelated
    with DataSources(config.data_sources) as sources:
        frames = read_source_frames(config, sources, skip=streamed)
        subset = subset_source_frames(config, frames)
        frames = subset.train
        graph = multitable.build_graph(schema, {name: len(frame) for name, frame in frames.items()})
        adjacency = _adjacency(config)
        budget = multitable.split_model_budget(
            graph, generator.epsilon, generator.processing_epsilon, adjacency == "degree_preserving"
        )
        rng = np.random.default_rng(config.random_state)
        ledger = BudgetLedger(noise=noise_for_training(config.random_state, os.environ))
        fitted: Dict[str, TableModel] = {}
        codes: Dict[str, np.ndarray] = {}
        for name in graph.modelled_tables:
            table = schema.table(name)
            if name in unrelated:
                chunks = (
                    _source_chunks(config, table, sources, chunk_rows)
                    if name in streamed
                    else _frame_chunks(frames[name], chunk_rows)
                )
                fitted[name] = _fit_table_streaming(
                    config, table, chunks, budget.network[name], budget.processing[name], rng, ledger
                )
                continue
            frame = frames[name]
            parent = _parent_context(config, graph, name, frames, fitted, codes, budget, adjacency)
            null_rates = _fit_null_rates(graph, table, frame, budget, rng, ledger, parent)
            if parent is not None:
                parent.orphan_rate = null_rates.get(parent.relation.name, 0.0)
            model = _fit_table(config, table, frame, budget.network[name], budget.processing[name], rng, ledger, parent)
            model.null_rates = null_rates
            fitted[name] = model
            if graph.children(name):
                codes[name] = model.encoding.encode(frame)
    references = {name: frames[name] for name in graph.reference_tables}
    ordered = {name: fitted[name] for name in schema.table_names if name in fitted}
    manifest = _manifest(config, ordered, ledger, graph=graph, references=references, budget=budget)
    model = Model(manifest=manifest, tables=ordered, references=references)
    manifest["sample"] = _sample(config, model, graph)
    if subset.summary:
        manifest["subset"] = subset.summary
    evaluation.annotate_model(config, model, frames, subset.test, synthetic=_evaluation_sample(config, model, graph))
    return model


def _parent_context(
    config: TrainingConfig,
    graph: multitable.ForeignKeyGraph,
    name: str,
    frames: Dict[str, pd.DataFrame],
    fitted: Dict[str, TableModel],
    codes: Dict[str, np.ndarray],
    budget: multitable.BudgetPlan,
    adjacency: str,
) -> Optional[ParentContext]:
    relation = graph.driving[name]
    if relation is None:
        return None
    parent_frame = frames[relation.parent]
    parent_index = multitable.parent_row_index(
        parent_frame[list(relation.parent_columns)], frames[name][list(relation.child_columns)]
    )
    return ParentContext(
        relation=relation,
        parent=fitted[relation.parent],
        parent_codes=codes[relation.parent],
        parent_index=parent_index,
        cap=multitable.degree_cap(len(frames[name]), len(parent_frame)),
        max_given=_max_given(config),
        adjacency=adjacency,
        degree_epsilon=budget.degree.get(relation.name, 0.0),
    )


def _sample(config: TrainingConfig, model: Model, graph: multitable.ForeignKeyGraph) -> Dict[str, Any]:
    """A small synthetic sample for the manifest: one batch of `_sample_size` root rows and their descendants."""
    roots = {name: _sample_size(config, model.tables[name].n_rows) for name in graph.roots}
    frames = _one_batch(config, model, graph, roots, stream=2**31)
    return {name: _frame_records(frames[name]) for name in model.tables}


def _evaluation_sample(
    config: TrainingConfig, model: Model, graph: multitable.ForeignKeyGraph
) -> Optional[Dict[str, pd.DataFrame]]:
    """The synthetic tables the evaluation scores: `eval_sample_params.magnitude` of each root table's
    training rows and their descendants, foreign keys assigned (None when no metric is configured)."""
    if config.evaluation is None or not config.evaluation.metrics:
        return None
    magnitude = config.evaluation.eval_sample_params.magnitude
    roots = {name: rows_for_magnitude(model.tables[name].n_rows, magnitude) for name in graph.roots}
    frames = _one_batch(config, model, graph, roots, stream=2**31 + 1)
    frames.update({name: frame for name, frame in model.references.items()})
    return frames


def _one_batch(
    config: TrainingConfig,
    model: Model,
    graph: multitable.ForeignKeyGraph,
    roots: Dict[str, int],
    stream: int,
) -> Dict[str, pd.DataFrame]:
    """One generation batch of `roots` rows per root table (and their descendants), seeded apart from the
    generation runs by `stream`."""
    plan = multitable.GenerationPlan(
        1,
        {name: [Batch(0, 0, rows)] for name, rows in roots.items()},
        {name: [0] for name in graph.modelled_tables},
        {},
    )
    seed = np.random.SeedSequence(config.random_state)
    return _make_batch(
        model, graph, plan, 0, lambda table_index: np.random.SeedSequence(seed.entropy, spawn_key=(stream, table_index))
    )


def _manifest(
    config: TrainingConfig,
    tables: Dict[str, TableModel],
    ledger: BudgetLedger,
    *,
    graph: Optional[multitable.ForeignKeyGraph] = None,
    references: Optional[Dict[str, pd.DataFrame]] = None,
    budget: Optional[multitable.BudgetPlan] = None,
) -> Dict[str, Any]:
    generator = config.model_parameters.generator
    processing_private = generator.processing_epsilon is not None
    references = references or {}
    entries: Dict[str, Any] = {}
    for table in config.data_schema.tables:
        name = table.name
        if name in references:
            entries[name] = _reference_entry(table, references[name])
        elif name in tables:
            entries[name] = _table_entry(tables[name], ledger, graph)
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
            "neighbouring": "bounded: databases differ in one row of one table; row counts are public",
            "budget_rule": MULTI_TABLE_BUDGET_RULE,
            "ledger": ledger.to_dict(),
        },
        "training_config": config.sanitize().model_dump(mode="json"),
        "schema": config.data_schema.model_dump(mode="json"),
        "multi_table": _multi_table_entry(config, graph, budget),
        "tables": entries,
        "evaluation": None,
    }


MULTI_TABLE_BUDGET_RULE = (
    "epsilon / (T + 0.5 R) per modelled table (T tables) and half that per degree model (R driving foreign "
    "keys); 2% of a table's share per null rate of a foreign key outside its primary key; processing_epsilon / T "
    "per table; reference tables are public and cost nothing (docs/multitable.md)"
)


def _multi_table_entry(
    config: TrainingConfig, graph: Optional[multitable.ForeignKeyGraph], budget: Optional[multitable.BudgetPlan]
) -> Dict[str, Any]:
    if graph is None:
        return {}
    return {
        "adjacency_type": _adjacency(config),
        "parent_compression": _max_given(config),
        "order": list(graph.order),
        "reference_tables": list(graph.reference_tables),
        "relations": [
            {
                **relation.to_json(),
                "role": "self"
                if relation.is_self
                else ("driving" if graph.driving.get(relation.child) == relation else "secondary"),
                "epsilon": 0.0
                if budget is None
                else budget.degree.get(relation.name, 0.0) + budget.null_rate.get(relation.name, 0.0),
            }
            for relation in graph.relations
        ],
    }


def _table_entry(
    table: TableModel, ledger: BudgetLedger, graph: Optional[multitable.ForeignKeyGraph]
) -> Dict[str, Any]:
    entry: Dict[str, Any] = {
        "type": table.encoding.table.type,
        "n_rows": table.n_rows,
        "epsilon": ledger.total_for_table(table.name),
        "columns": table.encoding.describe(),
        "network_edges": _named_edges(table),
        "encoding": table.encoding.to_json(),
        "network": table.network.to_json(),
    }
    if table.cross_table is not None:
        entry["cross_table"] = table.cross_table.to_json()
    if table.degree is not None:
        entry["degree"] = table.degree.to_json()
    if table.null_rates:
        entry["null_rates"] = dict(table.null_rates)
    return entry


def _reference_entry(table: BaseTable, frame: pd.DataFrame) -> Dict[str, Any]:
    return {
        "type": "reference",
        "n_rows": len(frame),
        "epsilon": 0.0,
        "copied": True,
        "privacy": "public by declaration (type: reference): copied as it is, not charged to the ledger",
        "columns": [
            {"name": column.name, "type": column.type, "modelled": False, "generated": "copied"}
            for column in table.columns
        ],
        "network_edges": [],
        "rows": _frame_records(frame),
    }


def _named_edges(table: TableModel) -> List[Dict[str, Any]]:
    names = list(table.encoding.modelled_columns)
    if table.cross_table is not None:
        parent = table.cross_table.parent
        parent_names = [f"{parent}.{column}" for column in table.cross_table.parent_column_names]
        names = names + parent_names
    return [
        {"child": names[child], "parents": [names[parent] for parent in parents]}
        for child, parents in table.network.network_edges()
        if child < len(table.encoding.modelled_columns)
    ]


def inspect_model(path: Union[str, Path]) -> Dict[str, Any]:
    """What a model holds, from its manifest alone: synthesiser, privacy ledger, tables (each with its share of
    epsilon, its columns and network, its degree model), the foreign-key relations."""
    manifest = read_manifest(path)
    return {
        "path": str(path),
        "format_version": manifest["format_version"],
        "package_version": manifest.get("package_version"),
        "synthesiser": manifest["synthesiser"],
        "title": manifest.get("title", ""),
        "created_at": manifest.get("created_at"),
        "privacy": manifest["privacy"],
        "multi_table": manifest.get("multi_table", {}),
        "tables": {
            name: {
                "type": entry.get("type", "tabular"),
                "n_rows": entry["n_rows"],
                "epsilon": entry["epsilon"],
                "columns": entry["columns"],
                "network": entry["network_edges"],
                **({"degree": entry["degree"]} if "degree" in entry else {}),
                **({"copied": True} if entry.get("copied") else {}),
            }
            for name, entry in manifest["tables"].items()
        },
        "evaluation": manifest.get("evaluation"),
    }


def table_order(manifest: Dict[str, Any]) -> List[str]:
    """The model's tables in schema order (the order of the `t<index>` arrays and of the table streams)."""
    return [table["name"] for table in manifest["schema"]["tables"] if table["name"] in manifest["tables"]]


def _model_arrays(model: Model) -> Dict[str, np.ndarray]:
    arrays: Dict[str, np.ndarray] = {}
    for index, name in enumerate(table_order(model.manifest)):
        table = model.tables.get(name)
        if table is None:
            continue
        for key, array in table.encoding.arrays().items():
            arrays[f"t{index}.encoding.{key}"] = array
        for key, array in table.network.to_arrays().items():
            arrays[f"t{index}.network.{key}"] = array
        if table.degree is not None and table.degree.adjacency != "random":
            for key, array in table.degree.arrays().items():
                arrays[f"t{index}.degree.{key}"] = array
    return arrays


def save_model(model: Model, path: Union[str, Path]) -> Path:
    """Write a model to a `.hmf` file, and its evaluation detail (if any) to `<stem>.evaluation.json` beside it."""
    written = write_model(path, evaluation_file.with_detail_name(model.manifest, path), _model_arrays(model))
    evaluation_file.write_detail(written, model.evaluation_detail)
    return written


def _prefixed(arrays: Dict[str, np.ndarray], prefix: str) -> Dict[str, np.ndarray]:
    return {key[len(prefix) :]: value for key, value in arrays.items() if key.startswith(prefix)}


def _reference_frame(table: BaseTable, rows: List[Dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(rows, columns=[column.name for column in table.columns])
    for column in table.columns:
        if column.type in ("datetime", "date") and len(frame):
            frame[column.name] = pd.to_datetime(frame[column.name], errors="coerce")
            if column.type == "date":
                frame[column.name] = frame[column.name].dt.date
    return frame


def load_model(path: Union[str, Path]) -> Model:
    """Read a `.hmf` file (no pickle: the manifest is JSON, the arrays plain .npy)."""
    manifest, arrays = read_model(path)
    schema = DataSchema.model_validate(manifest["schema"])
    tables: Dict[str, TableModel] = {}
    references: Dict[str, pd.DataFrame] = {}
    for index, name in enumerate(table_order(manifest)):
        entry = manifest["tables"][name]
        if entry.get("type") == "reference":
            references[name] = _reference_frame(schema.table(name), entry.get("rows", []))
            continue
        prefix = f"t{index}."
        cross = entry.get("cross_table")
        degree = entry.get("degree")
        tables[name] = TableModel(
            name=name,
            n_rows=int(entry["n_rows"]),
            encoding=TableEncoding.from_parts(entry["encoding"], _prefixed(arrays, prefix + "encoding.")),
            network=privbayes.PrivBayesModel.from_parts(entry["network"], _prefixed(arrays, prefix + "network.")),
            cross_table=None
            if cross is None
            else CrossTable(
                cross["parent"],
                list(cross["parent_columns"]),
                list(cross["selected"]),
                int(cross["n_child_columns"]),
                list(cross.get("parent_column_names", [])),
            ),
            degree=None if degree is None else _load_degree(degree, _prefixed(arrays, prefix + "degree.")),
            null_rates={key: float(value) for key, value in entry.get("null_rates", {}).items()},
        )
    return Model(manifest=manifest, tables=tables, references=references)


def _load_degree(data: Dict[str, Any], arrays: Dict[str, np.ndarray]) -> multitable.DegreeModel:
    if data["adjacency"] == "random":
        relation = multitable.Relation.from_json(data["relation"])
        return multitable.DegreeModel(relation, "random", int(data["cap"]), float(data["ratio"]))
    return multitable.DegreeModel.from_parts(data, arrays)


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


# Generation -----------------------------------------------------------------------------------------------


def _take(values: pd.Series, rows: np.ndarray) -> pd.Series:
    """values[rows] as a fresh series, null where rows is -1 (integer keys stay integers, as Int64)."""
    picked = (
        values.iloc[np.maximum(rows, 0)].reset_index(drop=True)
        if len(values)
        else pd.Series([None] * len(rows), dtype=object)
    )
    if not (rows < 0).any():
        return picked
    if pd.api.types.is_integer_dtype(picked.dtype):
        picked = picked.astype("Int64")
    return picked.where(pd.Series(rows >= 0))


def _assign_keys(
    frame: pd.DataFrame,
    parent_frame: pd.DataFrame,
    relation: multitable.Relation,
    rows: np.ndarray,
) -> None:
    for child_column, parent_column in zip(relation.child_columns, relation.parent_columns):
        frame[child_column] = _take(parent_frame[parent_column], rows)


def _make_batch(
    model: Model,
    graph: multitable.ForeignKeyGraph,
    plan: multitable.GenerationPlan,
    index: int,
    seed_for: Callable[[int], np.random.SeedSequence],
) -> Dict[str, pd.DataFrame]:
    """Every table of batch `index`: the root rows of the batch and all their descendants, keys resolving
    within the batch (or to a reference table). Each table draws from its own stream `seed_for(table_index)`."""
    names = table_order(model.manifest)
    frames: Dict[str, pd.DataFrame] = dict(model.references)
    codes: Dict[str, np.ndarray] = {}
    for name in graph.modelled_tables:
        table = model.tables[name]
        rng = np.random.default_rng(seed_for(names.index(name)))
        relation = graph.driving[name]
        parent_rows: Optional[np.ndarray] = None
        if relation is None:
            table_codes = table.sample_codes(plan.root_batches[name][index].n_rows, rng)
        else:
            parent_codes = codes[relation.parent]
            assert table.degree is not None
            degrees = table.degree.degrees(parent_codes, rng)
            parent_rows = np.repeat(np.arange(len(degrees)), degrees)
            orphans = multitable.orphan_rows(len(parent_rows), table.null_rates.get(relation.name, 0.0))
            parent_rows = np.concatenate([parent_rows, np.full(orphans, -1, dtype=np.int64)])
            given = None
            if table.cross_table is not None:
                # rows without a parent get the "absent" code the network was trained with for such rows
                absent = np.array(table.network.domain_sizes[table.cross_table.n_child_columns :]) - 1
                given = np.where(
                    (parent_rows >= 0)[:, None],
                    parent_codes[np.maximum(parent_rows, 0)][:, table.cross_table.parent_columns]
                    if len(parent_codes)
                    else absent[None, :],
                    absent[None, :],
                )
            table_codes = table.sample_codes(len(parent_rows), rng, given)
        frame = table.encoding.generate(table_codes, plan.offsets[name][index], rng)
        if relation is not None:
            _assign_keys(frame, frames[relation.parent], relation, parent_rows)
        key_columns = set(table.encoding.table.key_columns)
        for secondary in graph.secondary(name):
            rate = 0.0 if set(secondary.child_columns) & key_columns else table.null_rates.get(secondary.name, 0.0)
            if secondary.is_self:
                rows = multitable.self_reference_rows(len(frame), rate, rng)
                _assign_keys(frame, frame, secondary, rows)
                continue
            in_key = relation is not None and set(secondary.child_columns) | set(relation.child_columns) <= key_columns
            rows = multitable.secondary_rows(
                len(frame), len(frames[secondary.parent]), rate, parent_rows if in_key else None, rng
            )
            _assign_keys(frame, frames[secondary.parent], secondary, rows)
        frame, table_codes = _unique_keys(frame, table_codes, table.encoding.table)
        frames[name] = frame
        codes[name] = table_codes
    return frames


def _unique_keys(frame: pd.DataFrame, codes: np.ndarray, table: BaseTable) -> tuple:
    """Rows of a table whose primary key is made of foreign keys: rows repeating a key (or with a null in it)
    are dropped, so the key stays a key."""
    keys = table.key_columns
    if not keys or all(isinstance(table.column(k), IdColumn) for k in keys):
        return frame, codes
    keep = ~(frame.duplicated(subset=keys) | frame[keys].isna().any(axis=1))
    if keep.all():
        return frame, codes
    mask = keep.to_numpy()
    return frame[mask].reset_index(drop=True), codes[mask]


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


def _finish_batch(
    config: GenerationConfig, model: Model, graph: multitable.ForeignKeyGraph, frames: Dict[str, pd.DataFrame]
) -> Dict[str, pd.DataFrame]:
    """Post-processing per table in parent-first order; child rows whose parent row was dropped (a unique
    violation) are dropped too, and a self-reference to a dropped row becomes null, so keys still resolve."""
    finished: Dict[str, pd.DataFrame] = dict(model.references)
    for name in graph.modelled_tables:
        frame = frames[name]
        for relation in graph.relations_of(name):
            if relation.is_self or relation.parent not in finished:
                continue
            parent = finished[relation.parent]
            if len(parent) == len(frames.get(relation.parent, parent)):
                continue
            if not set(relation.parent_columns) <= set(parent.columns):  # renamed or dropped by post_generation
                continue
            found = multitable.parent_row_index(
                parent[list(relation.parent_columns)], frame[list(relation.child_columns)]
            )
            null = frame[list(relation.child_columns)].isna().any(axis=1).to_numpy()
            frame = frame[(found >= 0) | null].reset_index(drop=True)
        frame = _finish_frame(config, model.tables[name], frame)
        for relation in graph.relations_of(name):
            if (
                relation.is_self
                and len(frame) < len(frames[name])
                and set(relation.child_columns) <= set(frame.columns)
            ):
                found = multitable.parent_row_index(
                    frame[list(relation.parent_columns)], frame[list(relation.child_columns)]
                )
                frame[relation.child_columns[0]] = frame[relation.child_columns[0]].where(pd.Series(found >= 0))
        finished[name] = frame
    return finished


def _write_fail_safe(directory: str, table: str, batch_index: int, frame: pd.DataFrame) -> str:
    safe_name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in table)
    path = Path(directory) / f"{safe_name}.batch-{batch_index:05d}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return str(path)


def _write_batch(
    write: Callable[[int, pd.DataFrame], Any],
    location: Any,
    table: str,
    index: int,
    frame: pd.DataFrame,
    start_row: int,
    use_fail_safe: bool = True,
) -> Dict[str, Any]:
    """Write batch `index` of `table` through `write(index, frame)`; its state entry (written, fail_safe or
    failed, and where). Without `use_fail_safe` (a mapped batch: Airflow retries it) a failure is failed."""
    started = time.perf_counter()
    entry: Dict[str, Any] = {"index": index, "start_row": start_row, "rows": len(frame)}
    try:
        write(index, frame)
        entry.update(status="written", destination=location_label(location))
    except Exception as error:  # noqa: BLE001 - any write failure goes to the fail-safe path
        entry["error"] = f"{type(error).__name__}: {error}"
        fail_safe = fail_safe_path(location) if use_fail_safe else None
        if fail_safe is None:
            entry["status"] = "failed"
        else:
            entry.update(status="fail_safe", destination=_write_fail_safe(fail_safe, table, index, frame))
    entry["seconds"] = round(time.perf_counter() - started, 4)
    return entry


def _plan(model: Model, graph: multitable.ForeignKeyGraph, config: GenerationConfig) -> multitable.GenerationPlan:
    params = config.generate_params
    n_rows = {name: table.n_rows for name, table in model.tables.items()}
    caps = {
        name: table.degree.cap * multitable.orphan_multiplier(table.null_rates.get(table.degree.relation.name, 0.0))
        for name, table in model.tables.items()
        if table.degree is not None
    }
    return multitable.plan_generation(graph, n_rows, caps, params.magnitude, params.batch_magnitude)


def list_batches(config: ConfigLike) -> List[int]:
    """The batch indices of a generation run (its model's tables, magnitude and batch_magnitude); each can be
    generated and written on its own with `generate(config, batch_indices=[i])`."""
    config = _as_config(config, GenerationConfig)
    model = load_model(_model_path(config))
    return list(range(_plan(model, model.graph(), config).n_batches))


def generate(config: ConfigLike, batch_indices: Optional[Sequence[int]] = None) -> Dict[str, Any]:
    """Generate every configured table in batches and write it; returns the generation state (a report).

    Batch i holds the root-table rows of batch i and all their descendants, so it is referentially complete
    on its own; tables are written parents first. The state lists every batch, where it went and why; it is
    also written to `generation_state_path`. A batch that fails to write goes to the location's fail-safe
    path when one is set; otherwise the run stops and raises `GenerationError` carrying the state.

    `batch_indices` makes a *mapped* run (one Airflow task per batch, docs/airflow.md):
    - `[]` is the prepare step: it applies each output's `if_exists` and creates the database tables with no
      row, with the column types and keys an unmapped run gives them (parents first), writes the reference
      tables (copied, not generated), and for a file or S3 output empties (replace) or checks (fail) the
      whole output and its part folder;
    - `[i, ...]` generates and appends only those batches. A database batch first deletes the target rows
      holding its own keys (children before parents: keys are a function of the batch, so a retry makes
      the same ones) and then writes, so a retry replaces its own rows; a file or S3 batch writes its own
      part `<name>/part-00003.<ext>` (`io.locations.part_path`), replacing it.
    The union of the prepare step and every batch is the rows of one unmapped run with the same
    `random_state`. A mapped batch that cannot write raises (no fail-safe path: the task is retried), and
    a mapped run does not validate (a batch is not the whole output): `validate` does.
    """
    config = _as_config(config, GenerationConfig)
    started = time.time()
    model_path = _model_path(config)
    model = load_model(model_path)
    graph = model.graph()
    entropy = run_entropy(config.random_state)
    names = list(model.manifest["tables"])
    for item in config.data_output:
        if item.name not in model.manifest["tables"]:
            raise ValueError(f"data_output: table '{item.name}' is not in the model (tables: {names})")
    plan = _plan(model, graph, config)
    mapped = batch_indices is not None
    indices = list(range(plan.n_batches)) if batch_indices is None else [int(i) for i in batch_indices]
    if len(set(indices)) != len(indices):
        raise ValueError(f"batch_indices: {indices} lists a batch more than once")
    for index in indices:
        if not 0 <= index < plan.n_batches:
            raise ValueError(f"batch_indices: {index} is not a batch of this run (0..{plan.n_batches - 1})")
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
        "n_batches": plan.n_batches,
        "batch_indices": indices,
        "mapped": "prepare" if mapped and not indices else mapped,
        "tables": {},
        "validation": None,
    }
    outputs = {item.name: item.location for item in config.data_output}
    write_order = [name for name in order_tables_for_write(model.schema) if name in outputs]
    failures: List[str] = []
    with DataSources(config.data_sources) as sources, contextlib.ExitStack() as stack:

        def opener(name: str, location: Any) -> Any:
            return open_writer(
                name,
                location,
                table_schema=model.schema.table(name),
                data_schema=model.schema,
                sources=sources,
                table_locations=outputs,
            )

        writes: Dict[str, Callable[[int, pd.DataFrame], Any]] = {}
        for name in write_order:
            location = outputs[name]
            if mapped and location_kind(location) != "sql":
                writes[name] = _part_write(opener, name, location)
            else:
                if mapped and indices:  # the prepare step applied if_exists: batches append
                    location = location.model_copy(update={"if_exists": IfExists.APPEND})
                writer = stack.enter_context(opener(name, location))
                writes[name] = lambda _index, frame, writer=writer: writer.write_batch(frame)
            state["tables"][name] = {"rows": 0, "output": location_label(outputs[name]), "batches": [], "failure": None}
        if mapped and not indices:
            _prepare_outputs(config, model, graph, plan, entropy, outputs, write_order, writes, sources, state)
        for index in indices:
            frames = _make_batch(model, graph, plan, index, lambda t, i=index: table_batch_seed(entropy, i, t))
            frames = _finish_batch(config, model, graph, frames)
            tables = [name for name in write_order if name not in model.references or (index == 0 and not mapped)]
            if mapped:
                _delete_batch_rows(model, graph, outputs, tables, frames, sources)
            for name in tables:
                start_row = plan.offsets.get(name, [0] * plan.n_batches)[index]
                location = outputs[name]
                if mapped and location_kind(location) != "sql":
                    location = part_location(location, index)
                entry = _write_batch(writes[name], location, name, index, frames[name], start_row, not mapped)
                table_state = state["tables"][name]
                table_state["batches"].append(entry)
                if entry["status"] == "written":
                    table_state["rows"] += entry["rows"]
                if entry["status"] == "failed":
                    table_state["failure"] = entry["error"]
                    failures.append(f"table '{name}': {entry['error']}")
                    break
            if failures:
                break
    if not failures and not mapped and config.validation is not None and config.validation.enable:
        state["validation"] = evaluation.run_validation(config, model)
    state["seconds"] = round(time.time() - started, 3)
    _write_state(config, state)
    if failures:
        written = {
            name: [b["index"] for b in t["batches"] if b["status"] == "written"] for name, t in state["tables"].items()
        }
        raise GenerationError(f"generation failed: {'; '.join(failures)}; batches written: {written}", state)
    return state


def _part_write(opener: Callable[[str, Any], Any], name: str, location: Any) -> Callable[[int, pd.DataFrame], int]:
    """For a mapped run's file or S3 output: write a batch as its own part (opened, written, closed)."""

    def write(index: int, frame: pd.DataFrame) -> int:
        with opener(name, part_location(location, index)) as writer:
            return writer.write_batch(frame)

    return write


def _prepare_outputs(
    config: GenerationConfig,
    model: Model,
    graph: multitable.ForeignKeyGraph,
    plan: multitable.GenerationPlan,
    entropy: int,
    outputs: Dict[str, Any],
    write_order: List[str],
    writes: Dict[str, Callable[[int, pd.DataFrame], Any]],
    sources: DataSources,
    state: Dict[str, Any],
) -> None:
    """The prepare step of a mapped run (see `generate`): parents first, each database table created from
    batch 0's columns with no row (the types an unmapped run's first batch gives it), each file or S3 output
    emptied or checked per its `if_exists`; the reference tables written whole."""
    frames = _make_batch(model, graph, plan, 0, lambda t: table_batch_seed(entropy, 0, t))
    frames = _finish_batch(config, model, graph, frames)
    for name in write_order:
        location = outputs[name]
        reference = name in model.references
        if location_kind(location) != "sql":
            prepare_parts(name, location, sources=sources)
            if not reference:
                continue
        frame = frames[name] if reference else frames[name].iloc[:0]
        rows = writes[name](0, frame)
        state["tables"][name]["rows"] = int(rows or 0)


def _batch_keys(model: Model, graph: multitable.ForeignKeyGraph, name: str, frame: pd.DataFrame) -> List[str]:
    """The columns that identify a batch's rows of table `name` in the target: its primary key, else its id
    columns, else the foreign key to its driving parent (whose rows are the batch's own)."""
    table = model.schema.table(name)
    keys = list(table.key_columns)
    if not keys:
        keys = [column.name for column in table.columns if isinstance(column, IdColumn)]
    if not keys and graph.driving.get(name) is not None:
        keys = list(graph.driving[name].child_columns)
    return keys if keys and set(keys) <= set(frame.columns) else []


def _delete_batch_rows(
    model: Model,
    graph: multitable.ForeignKeyGraph,
    outputs: Dict[str, Any],
    tables: List[str],
    frames: Dict[str, pd.DataFrame],
    sources: DataSources,
) -> None:
    """Before a mapped batch is written to a database: delete the rows an earlier attempt of the same batch
    wrote (those holding its keys), children before parents so that foreign keys do not block it."""
    from .io.sql import delete_rows_by_key

    for name in reversed(tables):
        location = outputs[name]
        if location_kind(location) != "sql":
            continue
        keys = _batch_keys(model, graph, name, frames[name])
        if not keys:
            log.warning("table '%s': no key column identifies a batch's rows; a retried batch may repeat rows", name)
            continue
        engine = sources.engine(location.source_id)
        deleted = delete_rows_by_key(engine, location.table_name, location.schema_name, keys, frames[name])
        if deleted:
            log.info("table '%s': deleted %s rows of an earlier attempt of this batch", name, deleted)


def _state_path(config: GenerationConfig, state: Dict[str, Any]) -> Optional[Path]:
    """`generation_state_path`; a mapped run's prepare step and batches each write their own beside it
    (`<stem>.prepare.json`, `<stem>.batch-00003.json`), so no task overwrites another's state."""
    if config.generation_state_path is None:
        return None
    path = Path(location_path(config.generation_state_path))
    if state.get("mapped") == "prepare":
        return path.with_name(f"{path.stem}.prepare{path.suffix}")
    if state.get("mapped"):
        batches = "-".join(f"{index:05d}" for index in state["batch_indices"])
        return path.with_name(f"{path.stem}.batch-{batches}{path.suffix}")
    return path


def _write_state(config: GenerationConfig, state: Dict[str, Any]) -> None:
    path = _state_path(config, state)
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state, indent=2, default=str) + "\n", encoding="utf-8")


def subset(config: ConfigLike, output_dir: Union[str, Path]) -> Dict[str, Any]:
    """Read every input table, keep the referentially intact subset of `database_subsetting_params` (and hold
    out the test set of `train_test_split`), and write it as Parquet: `output_dir/<table>.parquet` (test set:
    `output_dir/test/<table>.parquet`) plus `output_dir/training_config.yaml`, the same training config reading
    those files, with `database_subsetting_params` None and, when a test set was written, `train_test_split`
    False (the split is done). Returns {"tables": {name: rows}, "test_tables", "training_config", "output_dir",
    "summary"}. Rules: docs/subsetting.md.
    """
    from .config import DataLocationInput, PathReadTableConfig
    from .config.enums import IfExists
    from .io.files import FileTableWriter

    config = _as_config(config, TrainingConfig)
    output = Path(output_dir).resolve()
    output.mkdir(parents=True, exist_ok=True)
    with DataSources(config.data_sources) as sources:
        frames = {table.name: _read_source(config, table, sources) for table in config.data_schema.tables}
    result = subset_tables(
        frames,
        config.data_schema,
        config.database_subsetting_params,
        train_test_split=config.train_test_split,
        random_state=config.random_state,
    )

    def write(tables: Dict[str, pd.DataFrame], directory: Path) -> Dict[str, str]:
        directory.mkdir(parents=True, exist_ok=True)
        paths: Dict[str, str] = {}
        for name, frame in tables.items():
            path = directory / f"{name}.parquet"
            with FileTableWriter(path, if_exists=IfExists.REPLACE) as writer:
                writer.write_batch(frame)
            paths[name] = str(path)
        return paths

    paths = write(result.train, output)
    if result.test:
        write(result.test, output / "test")
    inputs = [DataLocationInput(name=name, location=PathReadTableConfig(path=path)) for name, path in paths.items()]
    subset_config = config.model_copy(
        update={
            "data_input": inputs,
            "database_subsetting_params": None,
            "train_test_split": config.train_test_split and not result.test,
            "nrows": None,
        }
    )
    config_path = subset_config.sanitize().to_file(output / "training_config.yaml")
    return {
        "tables": {name: len(frame) for name, frame in result.train.items()},
        "test_tables": {name: len(frame) for name, frame in result.test.items()},
        "training_config": str(config_path),
        "output_dir": str(output),
        "summary": result.summary,
    }


def evaluate(config: Union[Any, Dict[str, Any], str, Path]) -> Dict[str, Any]:
    """`hazy evaluate`: score a real/synthetic pair (an `EvaluateConfig`); results keyed by metric_type,
    computed outside the privacy budget (the result says so), written to `config.output` when set."""
    from .config.evaluate import EvaluateConfig

    return evaluation.evaluate_pair(_as_config(config, EvaluateConfig))


def validate(config: ConfigLike) -> Dict[str, Any]:
    """`hazy validate`: functional validation of what a generation config wrote, against its model; the
    report (also written beside `generation_state_path`, when set)."""
    config = _as_config(config, GenerationConfig)
    return evaluation.write_validation_report(config, load_model(_model_path(config)))
