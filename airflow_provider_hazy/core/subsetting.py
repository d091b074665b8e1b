"""Referentially intact subsets of a multi-table dataset (no I/O): `subset_tables(frames, schema, params, ...)`.

Rules (docs/subsetting.md says the same for users):

1. Seed. `params.fraction` (rounded, at least one row) or `params.n_rows` (at most the table's rows) rows
   of `params.target_table` are drawn uniformly without replacement with `random_state`.
2. Children follow. The *subset tables* are the target and every non-reference table below it (reached
   from it through foreign keys, self-references left out). In parent-before-child order, a row of a
   subset table is kept when at least one of its foreign keys into subset tables is non-null and points
   at a kept row, and every non-null one does (a row joined to a kept order and to a dropped invoice is
   dropped: keeping it would mean keeping the invoice, which the sample left out). A self-reference
   never pulls children (an employee's subordinates do not follow their manager).
3. Parents are kept. Every row referenced by a kept row is kept, transitively up the foreign-key graph,
   along every foreign key, self-references included (a kept employee keeps its manager, the manager's
   manager, ...). Rows kept as parents never pull their own children. So a target with a
   self-reference can hold more rows than were drawn; `summary` reports both.
4. Reference tables are kept whole, and the rows they reference are kept (rule 3).
5. Every other table is *unrelated* to the target: one without foreign keys is kept whole; one with
   foreign keys keeps the rows whose every non-null foreign key points at a kept row (parents first, a
   self-reference until nothing changes).

A composite foreign key (several `foreign_key` columns to the columns of one parent's composite key,
grouped as `io.sql` groups them) counts as one reference; it is null when any of its columns is null.
The result has no dangling key.

Train/test split: the drawn target rows are split (`test_fraction` of them, rounded, at least one when
there are two or more rows, to the test set) and rules 2-5 run on each part: the test set's target
rows are never drawn for training, its descendants are disjoint from the training descendants, and
parents (ancestor tables, reference and unrelated tables, and target rows kept as parents through a
self-reference) can appear in both. Without subsetting params but with a split, the rows of every root
table (a non-reference table whose foreign keys, self-references aside, all point at reference
tables) are split with the default
`test_fraction`, all non-reference tables below them follow by rule 2; a row whose parents fall on
both sides is in neither part (`summary` counts the rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ..config.schema import BaseTable, DataSchema, ReferenceTable
from ..config.subsetting import DatabaseSubsettingParams

DEFAULT_TEST_FRACTION: float = DatabaseSubsettingParams.model_fields["test_fraction"].default


@dataclass
class Subset:
    """The kept rows of every table (training part), the held-out part (empty without a split), a summary."""

    train: Dict[str, pd.DataFrame]
    test: Dict[str, pd.DataFrame] = field(default_factory=dict)
    summary: Dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reference:
    """One foreign key (one or several columns) of `child` into the key `parent_columns` of `parent`."""

    child: str
    child_columns: Tuple[str, ...]
    parent: str
    parent_columns: Tuple[str, ...]

    @property
    def is_self(self) -> bool:
        return self.child == self.parent


def references_of(schema: DataSchema) -> List[Reference]:
    """Every foreign key of the schema. Columns to a parent with a composite key are grouped: the k-th
    column naming each key column forms the k-th reference (ValueError when they do not add up)."""
    references: List[Reference] = []
    for table in schema.tables:
        by_parent: Dict[str, List[Any]] = {}
        for fk in table.foreign_keys:
            by_parent.setdefault(fk.ref_table, []).append(fk)
        for parent_name, fks in by_parent.items():
            key = schema.table(parent_name).key_columns
            if len(key) <= 1:
                references.extend(Reference(table.name, (fk.name,), parent_name, (fk.ref_column,)) for fk in fks)
                continue
            columns_by_key = {column: [fk.name for fk in fks if fk.ref_column == column] for column in key}
            counts = {len(names) for names in columns_by_key.values()}
            if len(counts) != 1:
                raise ValueError(
                    f"table '{table.name}': foreign key columns {[fk.name for fk in fks]} do not cover the "
                    f"composite key {key} of table '{parent_name}' the same number of times"
                )
            for k in range(counts.pop()):
                references.append(
                    Reference(table.name, tuple(columns_by_key[c][k] for c in key), parent_name, tuple(key))
                )
    return references


def topological_order(schema: DataSchema) -> List[str]:
    """Table names, every parent before its children (schema order among equals)."""
    parents = schema.parents_by_table()
    order: List[str] = []
    done: set = set()

    def visit(name: str) -> None:
        if name in done:
            return
        done.add(name)
        for parent in parents[name]:
            visit(parent)
        order.append(name)

    for name in schema.table_names:
        visit(name)
    return order


# Key matching -----------------------------------------------------------------------------------------------


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)


def _key_frames(child: pd.DataFrame, parent: pd.DataFrame) -> Tuple[pd.DataFrame, pd.DataFrame]:
    """Child and parent key columns made comparable: a numeric column against text is compared as text."""
    child = child.copy()
    parent = parent.copy()
    for left, right in zip(child.columns, parent.columns):
        if _is_numeric(child[left]) != _is_numeric(parent[right]):
            child[left] = child[left].astype(str).where(child[left].notna())
            parent[right] = parent[right].astype(str).where(parent[right].notna())
    return child, parent


def _as_index(frame: pd.DataFrame) -> pd.Index:
    if frame.shape[1] == 1:
        return pd.Index(frame.iloc[:, 0])
    return pd.MultiIndex.from_frame(frame)


def _matches(values: pd.DataFrame, keys: pd.DataFrame) -> np.ndarray:
    """Which rows of `values` equal some row of `keys` (same number of columns, in order)."""
    values, keys = _key_frames(values, keys)
    keys = keys.set_axis(list(values.columns), axis=1)
    return np.asarray(_as_index(values).isin(_as_index(keys)), dtype=bool)


class _Graph:
    """The frames, their references and per-reference null masks, checked against the schema."""

    def __init__(self, frames: Mapping[str, pd.DataFrame], schema: DataSchema) -> None:
        self.schema = schema
        self.frames = {name: frames[name] for name in schema.table_names if name in frames}
        missing = [name for name in schema.table_names if name not in frames]
        if missing:
            raise ValueError(f"subsetting: no data for table(s) {missing} of the schema")
        self.references = references_of(schema)
        for ref in self.references:
            self._require(ref.child, ref.child_columns, f"foreign key to '{ref.parent}'")
            self._require(ref.parent, ref.parent_columns, f"key column referenced by table '{ref.child}'")
        self.order = topological_order(schema)
        self._null: Dict[Reference, np.ndarray] = {
            ref: self.frames[ref.child][list(ref.child_columns)].isna().any(axis=1).to_numpy()
            for ref in self.references
        }

    def _require(self, table: str, columns: Sequence[str], what: str) -> None:
        absent = [column for column in columns if column not in self.frames[table].columns]
        if absent:
            raise ValueError(
                f"table '{table}', column '{absent[0]}' ({what}): not in the data "
                f"(columns found: {list(self.frames[table].columns)})"
            )

    def is_reference(self, name: str) -> bool:
        return isinstance(self.schema.table(name), ReferenceTable)

    def refs_from(self, name: str) -> List[Reference]:
        return [ref for ref in self.references if ref.child == name]

    def null(self, ref: Reference) -> np.ndarray:
        return self._null[ref]

    def resolves(self, ref: Reference, parent_mask: np.ndarray) -> np.ndarray:
        """For each child row: its (non-null) reference points at a row of the parent in `parent_mask`."""
        child = self.frames[ref.child][list(ref.child_columns)]
        parent = self.frames[ref.parent].loc[parent_mask, list(ref.parent_columns)]
        return ~self.null(ref) & _matches(child, parent)

    def referenced(self, ref: Reference, child_mask: np.ndarray) -> np.ndarray:
        """For each parent row: some row of the child in `child_mask` references it."""
        rows = child_mask & ~self.null(ref)
        child = self.frames[ref.child].loc[rows, list(ref.child_columns)]
        parent = self.frames[ref.parent][list(ref.parent_columns)]
        return _matches(parent, child)

    def below(self, seeds: Sequence[str]) -> List[str]:
        """The seed tables and every non-reference table reached from them downwards, in topological order."""
        reached = set(seeds)
        for name in self.order:
            if not self.is_reference(name) and any(
                ref.parent in reached and not ref.is_self for ref in self.refs_from(name)
            ):
                reached.add(name)
        return [name for name in self.order if name in reached]


def _closure(graph: _Graph, seeds: Dict[str, np.ndarray]) -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    """Kept rows of every table from seed masks (rules 2-5 of the module docstring), and each table's role."""
    subset_tables = graph.below(list(seeds))
    masks: Dict[str, np.ndarray] = {}
    roles: Dict[str, str] = {}
    for name in subset_tables:
        roles[name] = "seed" if name in seeds else "descendant"
        if name in seeds:
            masks[name] = seeds[name].copy()
            continue
        keep = np.ones(len(graph.frames[name]), dtype=bool)
        attached = np.zeros(len(graph.frames[name]), dtype=bool)
        for ref in graph.refs_from(name):
            if ref.is_self or ref.parent not in masks:
                continue
            resolves = graph.resolves(ref, masks[ref.parent])
            keep &= graph.null(ref) | resolves
            attached |= resolves
        masks[name] = keep & attached
    for name in graph.order:
        if graph.is_reference(name):
            masks[name] = np.ones(len(graph.frames[name]), dtype=bool)
            roles[name] = "reference"
    # Rule 3: tables reached upwards from kept rows (children processed before their parents).
    ancestors = {ref.parent for ref in graph.references if ref.child in masks}
    changed = True
    while changed:  # the set of ancestor tables, closed upwards
        grown = ancestors | {ref.parent for ref in graph.references if ref.child in ancestors}
        changed = grown != ancestors
        ancestors = grown
    for name in graph.order:
        if name in ancestors and name not in masks:
            masks[name] = np.zeros(len(graph.frames[name]), dtype=bool)
            roles[name] = "ancestor"
    for name in reversed(graph.order):
        if name not in masks:
            continue
        for ref in graph.refs_from(name):
            if not ref.is_self:
                continue
            while True:  # one vectorised step per level of the hierarchy
                grown = masks[name] | graph.referenced(ref, masks[name])
                if (grown == masks[name]).all():
                    break
                masks[name] = grown
        for ref in graph.refs_from(name):
            if not ref.is_self:
                masks[ref.parent] = masks[ref.parent] | graph.referenced(ref, masks[name])
    # Rule 5: unrelated tables, parents first.
    for name in graph.order:
        if name in masks:
            continue
        roles[name] = "unrelated"
        keep = np.ones(len(graph.frames[name]), dtype=bool)
        for ref in graph.refs_from(name):
            if not ref.is_self:
                keep &= graph.null(ref) | graph.resolves(ref, masks[ref.parent])
        for ref in graph.refs_from(name):
            if ref.is_self:
                while True:
                    shrunk = keep & (graph.null(ref) | graph.resolves(ref, keep))
                    if (shrunk == keep).all():
                        break
                    keep = shrunk
        masks[name] = keep
    return masks, roles


def _draw(n_rows: int, size: int, rng: np.random.Generator) -> np.ndarray:
    mask = np.zeros(n_rows, dtype=bool)
    mask[rng.choice(n_rows, size=size, replace=False)] = True
    return mask


def _split(mask: np.ndarray, test_fraction: float, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """`mask` split into (train, test): round(test_fraction * n) drawn rows to test, at least one of two or more."""
    positions = np.flatnonzero(mask)
    n_test = int(round(test_fraction * len(positions)))
    if len(positions) >= 2:
        n_test = min(max(n_test, 1), len(positions) - 1)
    test = np.zeros_like(mask)
    test[rng.choice(positions, size=n_test, replace=False)] = True
    return mask & ~test, test


def _frames(graph: _Graph, masks: Dict[str, np.ndarray]) -> Dict[str, pd.DataFrame]:
    return {name: graph.frames[name].loc[masks[name]].reset_index(drop=True) for name in graph.schema.table_names}


def subset_tables(
    frames: Mapping[str, pd.DataFrame],
    schema: DataSchema,
    params: Optional[DatabaseSubsettingParams],
    *,
    train_test_split: bool,
    random_state: Optional[int],
) -> Subset:
    """The referentially intact subset (and held-out test set) of `frames` by the module's rules.

    With `params` None and no split the frames come back whole. The same `random_state` keeps the
    same rows (of frames in the same order).
    """
    graph = _Graph(frames, schema)
    rng = np.random.default_rng(random_state)
    summary: Dict[str, Any] = {
        "target_table": None if params is None else params.target_table,
        "train_test_split": bool(train_test_split),
        "random_state": random_state,
    }
    if params is None and not train_test_split:
        summary.update(
            fraction=1.0, tables={n: {"rows_before": len(f), "rows": len(f)} for n, f in graph.frames.items()}
        )
        return Subset(train=dict(graph.frames), test={}, summary=summary)
    test_fraction = params.test_fraction if params is not None else DEFAULT_TEST_FRACTION
    if params is not None:
        target = _target(graph, params.target_table)
        n_total = len(graph.frames[target.name])
        if params.n_rows is not None:
            size = min(params.n_rows, n_total)
        else:
            size = min(n_total, max(1, int(round(params.fraction * n_total)))) if n_total else 0
        drawn = _draw(n_total, size, rng)
        summary.update(fraction=size / n_total if n_total else 0.0, n_rows=size)
        seeds = {target.name: drawn}
    else:
        roots = [
            name
            for name in graph.order
            if not graph.is_reference(name)
            and all(ref.is_self or graph.is_reference(ref.parent) for ref in graph.refs_from(name))
        ]
        seeds = {name: np.ones(len(graph.frames[name]), dtype=bool) for name in roots}
        summary.update(fraction=1.0, split_tables=roots)
    if not train_test_split:
        masks, roles = _closure(graph, seeds)
        summary["tables"] = _table_summary(graph, roles, masks, None)
        return Subset(train=_frames(graph, masks), test={}, summary=summary)
    parts = {name: _split(mask, test_fraction, rng) for name, mask in seeds.items()}
    train_masks, roles = _closure(graph, {name: part[0] for name, part in parts.items()})
    test_masks, _ = _closure(graph, {name: part[1] for name, part in parts.items()})
    summary["test_fraction"] = test_fraction
    summary["tables"] = _table_summary(graph, roles, train_masks, test_masks)
    return Subset(train=_frames(graph, train_masks), test=_frames(graph, test_masks), summary=summary)


def _target(graph: _Graph, name: str) -> BaseTable:
    if name not in graph.frames:
        raise ValueError(
            f"database_subsetting_params.target_table: unknown table '{name}' (tables: {graph.schema.table_names})"
        )
    table = graph.schema.table(name)
    if isinstance(table, ReferenceTable):
        raise ValueError(
            f"database_subsetting_params.target_table: '{name}' is a reference table, which is always kept whole"
        )
    return table


def _table_summary(
    graph: _Graph, roles: Dict[str, str], train: Dict[str, np.ndarray], test: Optional[Dict[str, np.ndarray]]
) -> Dict[str, Dict[str, Any]]:
    summary: Dict[str, Dict[str, Any]] = {}
    for name in graph.schema.table_names:
        entry: Dict[str, Any] = {
            "role": roles[name],
            "rows_before": len(graph.frames[name]),
            "rows": int(train[name].sum()),
        }
        if test is not None:
            entry["rows_test"] = int(test[name].sum())
        summary[name] = entry
    return summary
