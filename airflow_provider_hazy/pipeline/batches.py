"""Batches: the generation plan, and drawing and finishing one batch of every table.

- `batch_plan`: how many batches a run makes and each table's rows and key offsets per batch
  (`core.multitable.plan_generation`, from the model's row counts and degree caps);
- `make_batch`: batch i's tables, parents first: root rows drawn from their networks, children from their
  degree models and conditioned on their parent rows, foreign keys assigned within the batch (or to a
  reference table), each table from its own seed stream;
- `finish_batch`: post-generation per table (string limits, unique violations, post_generation steps),
  dropping child rows whose parent row was dropped so keys still resolve;
- `one_batch`: one batch of given root sizes on a stream apart from generation runs (the manifest's sample
  and the evaluation sample at training).
"""

from __future__ import annotations

from typing import Callable, Dict, Optional

import numpy as np
import pandas as pd

from ..config import GenerationConfig, TrainingConfig
from ..config.schema import BaseTable, IdColumn
from ..core import multitable, sequence_frames
from ..core.batching import Batch
from ..core.degrees import secondary_picks
from ..core.postprocess import apply_post_generation, drop_unique_violations, limit_string_lengths
from .batch_memory import model_batch_magnitude
from .model import Model, TableModel, table_order


def batch_plan(model: Model, graph: multitable.ForeignKeyGraph, config: GenerationConfig) -> multitable.GenerationPlan:
    params = config.generate_params
    n_rows = {name: table.n_rows for name, table in model.tables.items()}
    caps = {
        name: table.degree.cap * multitable.orphan_multiplier(table.null_rates.get(table.degree.relation.name, 0.0))
        for name, table in model.tables.items()
        if table.degree is not None
    }
    batch_magnitude = params.batch_magnitude
    if batch_magnitude is None:  # batches that fit in HAZY_BATCH_MEMORY (pipeline.batch_memory)
        batch_magnitude = model_batch_magnitude(model, graph, caps, params.magnitude)
    return multitable.plan_generation(graph, n_rows, caps, params.magnitude, batch_magnitude)


def one_batch(
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
    return make_batch(
        model, graph, plan, 0, lambda table_index: np.random.SeedSequence(seed.entropy, spawn_key=(stream, table_index))
    )


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


def make_batch(
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
        elif table.sequence is not None:  # owners' whole histories (core/sequential.py)
            assert table.degree is not None
            parent_codes = codes[relation.parent]
            frame, table_codes, parent_rows = sequence_frames.generate_for_owners(
                table.sequence, table.degree.degrees(parent_codes, rng), parent_codes, plan.offsets[name][index], rng
            )
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
        if table.sequence is None:
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
            group = parent_rows if in_key else None
            secondary_model = table.secondary_degrees.get(secondary.name)
            if secondary_model is not None:  # the degree distribution of the source (core.degrees)
                rows = secondary_picks(secondary_model, len(frame), len(frames[secondary.parent]), rate, group, rng)
            else:
                rows = multitable.secondary_rows(len(frame), len(frames[secondary.parent]), rate, group, rng)
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


def finish_batch(
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
