"""Training, top to bottom: sources -> subset / split -> fit in foreign-key order -> evaluation -> model.

`fit(config)` reads the source tables (`sources.read_source_frames`, or streamed chunks for a table with no
foreign-key relation), subsets and splits them (`sources.subset_source_frames`), splits the budget
(`core.multitable.split_model_budget`) and fits every modelled table parents first: a table on its own
from passes over its chunks (`core.streaming`, `core.privbayes_streaming.fit_from_chunks`); a child conditioned on
its driving parent's columns with its degree model and its foreign keys' null rates (`core.multitable`).
All mechanisms charge one `BudgetLedger`. The manifest (`model.build_manifest`) then gets a small
synthetic sample (`batches.one_batch`) and the evaluation and validation metadata
(`evaluation.annotate_model`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import numpy as np
import pandas as pd

from ..config import TrainingConfig
from ..config.schema import BaseTable, DataSchema, ReferenceTable, SequentialTable
from ..core import cross_table, multitable, privbayes, privbayes_streaming, sequence_frames
from ..core.batching import rows_for_magnitude
from ..core.degrees import SecondaryDegrees, fit_secondary_degrees
from ..core.encoding import fit_table_encoding
from ..core.noise import noise_for_training
from ..core.privacy import BudgetLedger
from ..core.streaming import fit_table_encoding_from_chunks
from ..io.sources import DataSources
from ..memory_guard import check_training_memory
from .batches import one_batch
from .evaluation import annotate_model
from .evaluation_sample import evaluation_frames, synthetic_rows
from .model import CrossTable, Model, TableModel, adjacency_type, build_manifest, frame_records, parent_compression
from .sources import (
    ChunkSource,
    frame_chunks,
    read_source_frames,
    source_chunks,
    subset_source_frames,
    train_chunk_rows,
)

AUTO_SAMPLE_ROWS = 25


def _modelled_tables(config: TrainingConfig) -> List[BaseTable]:
    """The tables a network is learned for (reference tables are copied)."""
    tables = []
    for table in config.data_schema.tables:
        if not isinstance(table, ReferenceTable):
            tables.append(table)
    return tables


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
        frame,
        table,
        generator,
        processing_epsilon=processing_epsilon,
        rng=rng,
        ledger=ledger,
        table_name=table.name,
        epsilon=epsilon,
    )
    codes = encoding.encode(frame)
    cross: Optional[CrossTable] = None
    parent_columns = list(range(len(parent.parent.encoding.domain_sizes))) if parent else []
    if parent and parent_columns and parent.max_given > 0 and settings["n_parents"] > 0 and codes.shape[1]:
        ranks = multitable.child_ranks(parent.parent_index)
        parent_sizes = [parent.parent.encoding.domain_sizes[j] for j in parent_columns]
        given = cross_table.joined_parent_codes(
            parent.parent_codes[:, parent_columns], parent.parent_index, ranks, parent.cap, parent_sizes
        )
        parent_maps = parent.parent.encoding.hierarchies()
        conditioned = cross_table.fit_conditioned(
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


def _fit_sequential(
    config: TrainingConfig,
    table: SequentialTable,
    frame: pd.DataFrame,
    epsilon: float,
    processing_epsilon: Optional[float],
    rng: np.random.Generator,
    ledger: BudgetLedger,
    parent: Optional[ParentContext],
) -> TableModel:
    """A sequential table: its histories' networks (`core.sequence_frames`, `core.sequential`) and its length
    model, the degree model of the owner's foreign key conditioned on the owner columns the networks use."""
    assert parent is not None, f"table '{table.name}': a sequential table is generated with its owner"
    owner = parent.parent.encoding
    params = config.model_parameters.sequential
    fitted = sequence_frames.fit_sequential_table(
        frame,
        table,
        config.model_parameters.generator,
        parent.parent_index,
        parent.parent_codes,
        owner.domain_sizes,
        owner.hierarchies(),
        epsilon=epsilon,
        processing_epsilon=processing_epsilon,
        cap=parent.cap,
        window_size=params.window_size,
        n_predict=params.n_predict,
        max_owner_columns=parent.max_given,
        settings=_generator_settings(config.model_parameters.generator),
        rng=rng,
        ledger=ledger,
        owner_table=parent.relation.parent,
    )
    owners = list(fitted.model.owner_columns)
    cross = CrossTable(parent.relation.parent, [], owners, fitted.model.n_table_columns, owner.modelled_columns)
    model = TableModel(table.name, len(frame), fitted.encoding, fitted.model.first, cross_table=cross, sequence=fitted)
    model.degree = _fit_degree(parent, len(frame), cross, rng, ledger, private_cap=False)
    return model


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
        chunks,
        table,
        generator,
        processing_epsilon=processing_epsilon,
        rng=rng,
        ledger=ledger,
        table_name=table.name,
        epsilon=epsilon,
    )
    network = privbayes_streaming.fit_from_chunks(
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
    """Whether training must hold every source table in memory: subsetting, a train/test split and the
    source cache work on whole tables (the evaluation scores a sample: `pipeline.evaluation_sample`)."""
    cached = config.model_parameters.multi_table.use_cache
    return config.database_subsetting_params is not None or config.train_test_split or cached


def _fit_degree(
    parent: ParentContext,
    n_child: int,
    cross: Optional[CrossTable],
    rng: np.random.Generator,
    ledger: BudgetLedger,
    private_cap: bool = True,
) -> multitable.DegreeModel:
    """The driving relation's degree model; its cap chosen from the data (`degrees.private_degree_cap`) unless
    `private_cap` is False (a sequential table's length cap is its unit of privacy: public)."""
    n_parent = parent.parent_codes.shape[0]
    # children with a parent: the public row count less the noisy share without one (post-processing)
    n_child = int(round(n_child * (1.0 - min(parent.orphan_rate, multitable.MAX_ORPHAN_RATE))))
    if parent.adjacency == "random":
        return multitable.random_degree_model(parent.relation, n_child, n_parent)
    encoding = parent.parent.encoding
    hierarchies = privbayes.check_inputs(
        parent.parent_codes, encoding.domain_sizes, encoding.hierarchies(), parent.relation.parent
    ).hierarchies
    clip = multitable.MAX_DEGREE_CAP if private_cap else parent.cap
    return multitable.fit_degree_model(
        parent.relation,
        multitable.clipped_degrees(parent.parent_index, n_parent, clip),
        parent.parent_codes,
        hierarchies,
        cross.selected if cross else [],
        parent.cap,
        n_child,
        epsilon=parent.degree_epsilon,
        ledger=ledger,
        private_cap=private_cap,
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


def _fit_secondary_degrees(
    graph: multitable.ForeignKeyGraph,
    name: str,
    frames: Dict[str, pd.DataFrame],
    budget: multitable.BudgetPlan,
    rng: np.random.Generator,
    ledger: BudgetLedger,
) -> Dict[str, SecondaryDegrees]:
    """The degree histogram of each secondary foreign key of table `name` that has a budget
    (`multitable.split_model_budget`; see `core.degrees`)."""
    models = {}
    for relation in graph.secondary(name):
        epsilon = budget.secondary_degree.get(relation.name)
        if relation.is_self or not epsilon:
            continue
        parent = frames[relation.parent]
        parent_index = multitable.parent_row_index(
            parent[list(relation.parent_columns)], frames[name][list(relation.child_columns)]
        )
        n_child = int((parent_index >= 0).sum())
        models[relation.name] = fit_secondary_degrees(
            relation.name,
            parent_index,
            len(parent),
            n_child,
            epsilon=epsilon,
            ledger=ledger,
            table=name,
        )
    return models


def _sample_size(config: TrainingConfig, n_rows: int) -> int:
    params = config.sample_params
    if params is None:
        return 0
    if params.auto_magnitude:
        return AUTO_SAMPLE_ROWS
    return rows_for_magnitude(n_rows, params.magnitude)


def fit(config: TrainingConfig, *, chunk_rows: Optional[int] = None) -> Model:
    """Train a model: read every table, learn each modelled table's network in parent-first order (a child's
    conditioned on its driving parent's columns) and each foreign key's degree model, all charged to one
    ledger whose total is the configured epsilon (plus processing_epsilon).

    A table with no foreign-key relation streams from its source in chunks of `train_chunk_rows(chunk_rows)`
    rows, unless subsetting, a train/test split or the evaluation needs it whole in memory; either way the
    model is the same (docs/streaming.md).
    """
    chunk_rows = train_chunk_rows(chunk_rows)
    generator = config.model_parameters.generator
    _modelled_tables(config)
    check_training_memory(config)
    schema = config.data_schema
    unrelated = _unrelated_tables(schema)
    streamed = set() if _needs_frames(config) else unrelated
    with DataSources(config.data_sources) as sources:
        frames = read_source_frames(config, sources, skip=streamed)
        subset = subset_source_frames(config, frames)
        frames = subset.train
        graph = multitable.build_graph(schema, {name: len(frame) for name, frame in frames.items()})
        adjacency = adjacency_type(config)
        budget = multitable.split_model_budget(
            graph, generator.epsilon, generator.processing_epsilon, adjacency == "degree_preserving"
        )
        rng = np.random.default_rng(config.random_state)
        ledger = BudgetLedger(noise=noise_for_training(config.random_state, os.environ))
        fitted: Dict[str, TableModel] = {}
        codes: Dict[str, np.ndarray] = {}
        chunked: Dict[str, Any] = {}
        for name in graph.modelled_tables:
            table = schema.table(name)
            if name in unrelated:
                chunks = chunked[name] = (
                    source_chunks(config, table, sources, chunk_rows)
                    if name in streamed
                    else frame_chunks(frames[name], chunk_rows)
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
            fit_one = _fit_sequential if isinstance(table, SequentialTable) else _fit_table
            model = fit_one(config, table, frame, budget.network[name], budget.processing[name], rng, ledger, parent)
            model.null_rates = null_rates
            model.secondary_degrees = _fit_secondary_degrees(graph, name, frames, budget, rng, ledger)
            fitted[name] = model
            if graph.children(name):
                codes[name] = model.encoding.encode(frame)
        n_rows = {name: fitted[name].n_rows for name in chunked}
        real = evaluation_frames(config, frames, chunked, n_rows)  # a bounded sample of each streamed table
    references = {name: frames[name] for name in graph.reference_tables}
    ordered = {name: fitted[name] for name in schema.table_names if name in fitted}
    manifest = build_manifest(config, ordered, ledger, graph=graph, references=references, budget=budget)
    model = Model(manifest=manifest, tables=ordered, references=references)
    manifest["sample"] = _sample(config, model, graph)
    if subset.summary:
        manifest["subset"] = subset.summary
    annotate_model(config, model, real, subset.test, synthetic=_evaluation_sample(config, model, graph))
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
        max_given=parent_compression(config),
        adjacency=adjacency,
        degree_epsilon=budget.degree.get(relation.name, 0.0),
    )


def _sample(config: TrainingConfig, model: Model, graph: multitable.ForeignKeyGraph) -> Dict[str, Any]:
    """A small synthetic sample for the manifest: one batch of `_sample_size` root rows and their descendants."""
    roots = {name: _sample_size(config, model.tables[name].n_rows) for name in graph.roots}
    frames = one_batch(config, model, graph, roots, stream=2**31)
    return {name: frame_records(frames[name]) for name in model.tables}


def _evaluation_sample(
    config: TrainingConfig, model: Model, graph: multitable.ForeignKeyGraph
) -> Optional[Dict[str, pd.DataFrame]]:
    """The synthetic tables the evaluation scores: `eval_sample_params.magnitude` of each root table's
    training rows (at most `evaluation_sample.EVALUATION_ROWS`) and their descendants, foreign keys assigned
    (None when no metric is configured)."""
    if config.evaluation is None or not config.evaluation.metrics:
        return None
    magnitude = config.evaluation.eval_sample_params.magnitude
    roots = {name: synthetic_rows(rows_for_magnitude(model.tables[name].n_rows, magnitude)) for name in graph.roots}
    frames = one_batch(config, model, graph, roots, stream=2**31 + 1)
    frames.update({name: frame for name, frame in model.references.items()})
    return frames
