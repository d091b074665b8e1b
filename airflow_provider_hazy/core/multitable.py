"""Multi-table synthesis: the foreign-key graph, the degree (child-count) model, the budget split, key
assignment and the batch plan. NumPy only: no I/O (see docs/multitable.md for the privacy argument). A child
table's network conditioned on its parent's columns is `core/cross_table.py`.

The graph
    Every foreign key of a `DataSchema` is a `Relation` (child table, child columns -> parent table, parent
    key columns); foreign-key columns of one table that together reference a parent's composite primary key
    form one relation. Each modelled table has at most one *driving* relation, to the non-reference parent
    with the most training rows (row counts are public; ties: schema order): the degree model of that
    relation decides how many child rows each parent row gets, and the child's network may be conditioned
    on that parent's columns. Every other relation is *secondary* (children pick parent rows uniformly at
    random, with the source's noisy null rate), and a relation from a table to itself is a
    *self-reference* (each non-null value points at an earlier row of the same batch, so the hierarchy has
    no cycle). Tables without a driving relation are *roots*: batch i makes the root rows of batch i and
    all their descendants.

Neighbouring relation
    Two databases are neighbours when one row of one table is replaced (bounded DP; every table's row count
    is public). Keys are structure: replacing a parent row changes its attributes, not its key; replacing a
    child row may change the parent it references. Every mechanism below is epsilon-DP for that relation
    with the sensitivity its ledger entry states, so the model's total is the sum of the entries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ..config.schema import DataSchema, ReferenceTable, SequentialTable
from . import privbayes
from .batching import Batch, plan_batches, rows_for_magnitude
from .degrees import hit_total, private_degree_cap, split_degree_budget, systematic_uniforms
from .privacy import (
    COUNT_MECHANISM,
    BudgetLedger,
    noisy_counts,
)

DEGREE_WEIGHT = 0.5
"""A degree model's share of the budget relative to a table's network (see `split_model_budget`)."""
NULL_RATE_FRACTION = 0.02
"""The part of a table's share spent on the noisy null rate of each foreign key outside its primary key."""
SECONDARY_DEGREE_FRACTION = 0.1
"""The part of a table's share spent on the degree histogram of each secondary foreign key."""
DEGREE_SENSITIVITY = 4.0
"""L1 change of a degree histogram (conditioned on parent columns) between neighbours: replacing a child row
moves one child from parent a to parent b, so two parents change bins (4); replacing a parent row moves
one parent to another cell (2)."""
MIN_DEGREE_CAP = 10
DEGREE_CAP_FACTOR = 4
MAX_DEGREE_CAP = 10_000
MIN_PARENTS_PER_COMBINATION = 50
NULL_COUNT_P_FAIL = 1e-6
"""False-alarm probability of a noisy null count: a foreign key without nulls gets a null rate (and null or
orphan keys in its output) with probability below this (`noisy_null_rate`)."""
MAX_ORPHAN_RATE = 0.99
"""Most child rows without a driving parent that generation reproduces (at most 99 per row with one)."""
DEFAULT_PARENT_COLUMNS = 2
"""Parent columns joined onto a child table when `parent_compression` is None."""
CLIPPED_RANK_GROUP = 3
"""Rows of the joined training data a replaced child row can change (its own, one child of its old parent
entering the cap, one child of its new parent leaving it)."""


# The graph ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Relation:
    """A foreign key: `child`.`child_columns` -> `parent`.`parent_columns` (one or several columns)."""

    child: str
    child_columns: Tuple[str, ...]
    parent: str
    parent_columns: Tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.child}({', '.join(self.child_columns)}) -> {self.parent}({', '.join(self.parent_columns)})"

    @property
    def is_self(self) -> bool:
        return self.child == self.parent

    def to_json(self) -> Dict[str, Any]:
        return {
            "child": self.child,
            "child_columns": list(self.child_columns),
            "parent": self.parent,
            "parent_columns": list(self.parent_columns),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Relation:
        return cls(data["child"], tuple(data["child_columns"]), data["parent"], tuple(data["parent_columns"]))


@dataclass
class ForeignKeyGraph:
    """The tables of a schema, their relations and the order in which they are generated."""

    schema: DataSchema
    relations: List[Relation]
    order: List[str]
    driving: Dict[str, Optional[Relation]]
    reference_tables: List[str]

    @property
    def modelled_tables(self) -> List[str]:
        """Tables learned by a network, in generation order."""
        return [name for name in self.order if name not in self.reference_tables]

    @property
    def roots(self) -> List[str]:
        """Modelled tables without a driving relation, in generation order."""
        return [name for name in self.modelled_tables if self.driving[name] is None]

    def relations_of(self, child: str) -> List[Relation]:
        return [relation for relation in self.relations if relation.child == child]

    def secondary(self, child: str) -> List[Relation]:
        """The child's relations other than its driving one (self-references included)."""
        return [relation for relation in self.relations_of(child) if relation != self.driving[child]]

    def nullable(self, child: str) -> List[Relation]:
        """The child's relations whose columns are not all in its primary key (a key is never null): each gets
        a noisy null rate. For the driving relation it is the share of child rows without a parent."""
        key = set(self.schema.table(child).key_columns)
        sequence = self.driving[child] if isinstance(self.schema.table(child), SequentialTable) else None
        return [
            relation
            for relation in self.relations_of(child)
            if not set(relation.child_columns) <= key and relation != sequence  # a history's rows have an owner
        ]

    def children(self, parent: str) -> List[Relation]:
        return [r for r in self.relations if r.parent == parent and not r.is_self]


def _table_relations(schema: DataSchema, table) -> List[Relation]:
    by_parent: Dict[str, List] = {}
    for fk in table.foreign_keys:
        by_parent.setdefault(fk.ref_table, []).append(fk)
    relations = []
    for parent_name, fks in by_parent.items():
        parent = schema.table(parent_name)
        key = parent.key_columns
        targets = [fk.ref_column for fk in fks]
        if len(key) > 1 and sorted(targets) == sorted(key):
            ordered = sorted(fks, key=lambda fk: key.index(fk.ref_column))
            relations.append(Relation(table.name, tuple(fk.name for fk in ordered), parent_name, tuple(key)))
            continue
        for fk in fks:
            if len(key) > 1:
                raise ValueError(
                    f"table '{table.name}', column '{fk.name}': references '{parent_name}.{fk.ref_column}', "
                    f"one column of the composite key {key}; a composite foreign key lists one column per key "
                    "column"
                )
            relations.append(Relation(table.name, (fk.name,), parent_name, (fk.ref_column,)))
    return relations


def topological_order(schema: DataSchema) -> List[str]:
    """Table names with every parent before its children (self-references ignored; schema order on ties)."""
    names = schema.table_names
    pending = {name: set(parents) for name, parents in schema.parents_by_table().items()}
    ordered: List[str] = []
    while pending:
        ready = next((name for name in names if name in pending and not pending[name]), None)
        if ready is None:
            raise ValueError(f"cycle of foreign keys among tables {sorted(pending)}")
        ordered.append(ready)
        del pending[ready]
        for waiting in pending.values():
            waiting.discard(ready)
    return ordered


def build_graph(schema: DataSchema, n_rows: Optional[Mapping[str, int]] = None) -> ForeignKeyGraph:
    """The foreign-key graph of `schema`; `n_rows` (public training row counts) picks driving parents.

    Errors name the table and column: a composite self-reference, a reference table
    with a foreign key to a modelled table (allowed when `n_rows` gives it no rows: an empty copy references
    nothing, as with Northwind's empty `CustomerCustomerDemo`), a foreign key to part of a composite key.
    """
    n_rows = dict(n_rows or {})
    reference = [t.name for t in schema.tables if isinstance(t, ReferenceTable)]
    relations: List[Relation] = []
    for table in schema.tables:
        for relation in _table_relations(schema, table):
            if relation.is_self and len(relation.child_columns) > 1:
                raise NotImplementedError(
                    f"table '{table.name}', columns {list(relation.child_columns)}: a composite self-reference "
                    "is not supported"
                )
            if table.name in reference and relation.parent not in reference and n_rows.get(table.name) != 0:
                raise ValueError(
                    f"reference table '{table.name}', column '{relation.child_columns[0]}': references the "
                    f"modelled table '{relation.parent}'; a reference table is copied as it is, so it may only "
                    "reference other reference tables"
                )
            relations.append(relation)
    order = topological_order(schema)
    position = {name: i for i, name in enumerate(schema.table_names)}
    driving: Dict[str, Optional[Relation]] = {}
    for name in order:
        candidates = [r for r in relations if r.child == name and not r.is_self and r.parent not in reference]
        if name in reference or not candidates:
            driving[name] = None
            continue
        table = schema.table(name)
        if isinstance(table, SequentialTable):  # the owner drives: the degree model is the length model
            driving[name] = next(r for r in candidates if r.child_columns == (table.sequence_id,))
            continue
        driving[name] = max(candidates, key=lambda r: (n_rows.get(r.parent, 0), -position[r.parent]))
    return ForeignKeyGraph(schema, relations, order, driving, reference)


# Budget ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetPlan:
    """The model's epsilon split: each modelled table's network, each degree model, each null-rate release."""

    network: Dict[str, float]
    degree: Dict[str, float]
    null_rate: Dict[str, float]
    processing: Dict[str, Optional[float]]
    secondary_degree: Dict[str, float] = field(default_factory=dict)

    def relation_epsilon(self, relation: Relation) -> float:
        """What one foreign key's releases spend: its degree model (driving or secondary) and null rate."""
        name = relation.name
        return self.degree.get(name, 0.0) + self.secondary_degree.get(name, 0.0) + self.null_rate.get(name, 0.0)

    def table_total(self, table: str, relations: Sequence[Relation]) -> float:
        return math.fsum([self.network.get(table, 0.0)] + [self.relation_epsilon(r) for r in relations])


def split_model_budget(
    graph: ForeignKeyGraph, epsilon: float, processing_epsilon: Optional[float], degree_preserving: bool
) -> BudgetPlan:
    """Sequential composition over the model's parts, by a fixed public rule.

    With T modelled tables and R degree models, a unit is epsilon / (T + DEGREE_WEIGHT * R): each table gets
    one unit and each degree model DEGREE_WEIGHT units. Out of its unit, a table spends NULL_RATE_FRACTION on
    the null rate of each secondary or self-referencing foreign key (at most a fifth of the unit in all) and,
    with degree_preserving adjacency, SECONDARY_DEGREE_FRACTION on the degree histogram of each secondary
    foreign key that is not a self-reference (`degrees.SecondaryDegrees`; at most a fifth of the unit in
    all), the rest on its network. `processing_epsilon` is shared equally by the modelled tables.
    """
    tables = graph.modelled_tables
    degree_relations = [graph.driving[t] for t in tables if graph.driving[t] is not None] if degree_preserving else []
    weight = len(tables) + DEGREE_WEIGHT * len(degree_relations)
    unit = epsilon / weight if weight else 0.0
    network: Dict[str, float] = {}
    null_rate: Dict[str, float] = {}
    secondary_degree: Dict[str, float] = {}
    for table in tables:
        secondary = graph.nullable(table)
        fraction = min(NULL_RATE_FRACTION, 0.2 / len(secondary)) if secondary else 0.0
        for relation in secondary:
            null_rate[relation.name] = unit * fraction
        others = [r for r in graph.secondary(table) if not r.is_self] if degree_preserving else []
        degree_fraction = min(SECONDARY_DEGREE_FRACTION, 0.2 / len(others)) if others else 0.0
        for relation in others:
            secondary_degree[relation.name] = unit * degree_fraction
        network[table] = unit * (1.0 - fraction * len(secondary) - degree_fraction * len(others))
    degree = {relation.name: DEGREE_WEIGHT * unit for relation in degree_relations}
    processing = {table: None if processing_epsilon is None else processing_epsilon / len(tables) for table in tables}
    return BudgetPlan(network, degree, null_rate, processing, secondary_degree)


def degree_cap(n_child: int, n_parent: int) -> int:
    """The public cap D on children per parent row: DEGREE_CAP_FACTOR times the mean degree (row counts are
    public), kept within [MIN_DEGREE_CAP, MAX_DEGREE_CAP]. Degrees above D are clipped to D."""
    mean = n_child / max(n_parent, 1)
    return int(min(MAX_DEGREE_CAP, max(MIN_DEGREE_CAP, math.ceil(DEGREE_CAP_FACTOR * mean))))


def group_size(cap: int) -> int:
    """Rows of a child's joined training data that one neighbouring change can alter: a replaced parent row
    appears in at most `cap` (clipped) child rows; a replaced child row alters at most 3."""
    return max(int(cap), CLIPPED_RANK_GROUP)


# Keys and degrees of the source ---------------------------------------------------------------------------


def parent_row_index(parent_keys: pd.DataFrame, child_keys: pd.DataFrame) -> np.ndarray:
    """For each child row, the row of the parent whose key it holds; -1 for a null or dangling key."""
    if len(child_keys) == 0:
        return np.zeros(0, dtype=np.int64)
    if parent_keys.shape[1] == 1:
        index = pd.Index(parent_keys.iloc[:, 0].astype(object).where(parent_keys.iloc[:, 0].notna(), None))
        values = child_keys.iloc[:, 0].astype(object).where(child_keys.iloc[:, 0].notna(), None)
        found = _indexer(index, pd.Index(values))
    else:
        index = pd.MultiIndex.from_frame(parent_keys.astype(object))
        found = _indexer(index, pd.MultiIndex.from_frame(child_keys.astype(object)))
    found = np.asarray(found, dtype=np.int64)
    found[child_keys.isna().any(axis=1).to_numpy()] = -1
    return found


def _indexer(index: pd.Index, values: pd.Index) -> np.ndarray:
    if not index.is_unique:
        index = index.drop_duplicates()  # a duplicated source key: the first row of it is the parent
    found = index.get_indexer(values)
    # keys stored as text in one table and numbers in the other still match
    missing = found < 0
    if missing.any():
        as_text = pd.Index(index.map(str)) if not isinstance(index, pd.MultiIndex) else None
        if as_text is not None and as_text.is_unique:
            found[missing] = as_text.get_indexer(pd.Index(values[missing].map(str)))
    return found


def child_ranks(parent_index: np.ndarray) -> np.ndarray:
    """Each child row's rank among the rows of the same parent, in row order (0 for the first)."""
    order = np.argsort(parent_index, kind="stable")
    sorted_parents = parent_index[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_parents)) + 1]
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(len(order)) - group_start
    return ranks


def clipped_degrees(parent_index: np.ndarray, n_parent: int, cap: int) -> np.ndarray:
    """Children per parent row (null and dangling keys left out), clipped to `cap`."""
    present = parent_index[parent_index >= 0]
    return np.minimum(np.bincount(present, minlength=n_parent)[:n_parent], cap)


# The degree model -----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DegreeModel:
    """P(children per parent row | coarsened parent columns): a noisy (n_combinations, cap + 1) table."""

    relation: Relation
    adjacency: str
    cap: int
    ratio: float
    parent_columns: Tuple[int, ...] = ()
    levels: Tuple[int, ...] = ()
    sizes: Tuple[int, ...] = ()
    coarsenings: Tuple[Optional[np.ndarray], ...] = ()
    probabilities: np.ndarray = field(default_factory=lambda: np.ones((1, 1)))

    def degrees(self, parent_codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Children of each synthetic parent row: degree_preserving, drawn from its row of the table (systematic
        sampling within each parent combination, `degrees.systematic_uniforms`, so the drawn histogram is the
        table's to within a row per degree) and then brought to the public total round(n_parent * ratio)
        (`degrees.hit_total`); random, uniform picks."""
        n_parent = parent_codes.shape[0]
        if self.adjacency == "random":
            total = int(math.floor(n_parent * self.ratio + 0.5))
            return np.bincount(rng.integers(n_parent, size=total), minlength=n_parent) if n_parent else np.zeros(0, int)
        combination = privbayes.parent_combination_codes(
            parent_codes, self.parent_columns, self.coarsenings, self.sizes
        )
        cumulative = np.minimum(np.cumsum(self.probabilities, axis=1), 1.0)
        cumulative[:, -1] = 1.0
        cumulative += np.arange(cumulative.shape[0], dtype=np.float64)[:, None]
        targets = combination + systematic_uniforms(combination, rng)
        drawn = np.searchsorted(cumulative.ravel(), targets, side="right") - combination * (self.cap + 1)
        drawn = np.clip(drawn, 0, self.cap)
        # row counts are public: the drawn degrees are brought to n_parent x ratio (degrees.hit_total)
        return hit_total(drawn, int(math.floor(n_parent * self.ratio + 0.5)), self.cap, rng)

    def to_json(self) -> Dict[str, Any]:
        return {
            "relation": self.relation.to_json(),
            "adjacency": self.adjacency,
            "cap": self.cap,
            "ratio": self.ratio,
            "parent_columns": list(self.parent_columns),
            "levels": list(self.levels),
            "sizes": list(self.sizes),
        }

    def arrays(self) -> Dict[str, np.ndarray]:
        arrays = {"probabilities": np.asarray(self.probabilities, dtype=np.float64)}
        for column, coarsening in zip(self.parent_columns, self.coarsenings):
            if coarsening is not None:
                arrays[f"coarsening.{column}"] = np.asarray(coarsening, dtype=np.int64)
        return arrays

    @classmethod
    def from_parts(cls, data: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> DegreeModel:
        columns = tuple(int(c) for c in data["parent_columns"])
        probabilities = np.asarray(arrays["probabilities"], dtype=np.float64)
        if probabilities.shape[1] != int(data["cap"]) + 1 or not np.all(np.isfinite(probabilities)):
            raise ValueError(f"degree model of {Relation.from_json(data['relation']).name}: malformed table")
        return cls(
            relation=Relation.from_json(data["relation"]),
            adjacency=str(data["adjacency"]),
            cap=int(data["cap"]),
            ratio=float(data["ratio"]),
            parent_columns=columns,
            levels=tuple(int(v) for v in data["levels"]),
            sizes=tuple(int(v) for v in data["sizes"]),
            coarsenings=tuple(
                None if level == 0 else np.asarray(arrays[f"coarsening.{c}"], dtype=np.int64)
                for c, level in zip(columns, data["levels"])
            ),
            probabilities=probabilities,
        )


def tilt_to_mean(probabilities: np.ndarray, weights: np.ndarray, target: float) -> np.ndarray:
    """Post-processing with public information: the degree tables tilted, P'(d | c) proportional to
    P(d | c) exp(lambda d), with one lambda chosen (by bisection) so that the mean degree, weighted by the noisy
    parent combination masses `weights`, is the public ratio n_child / n_parent. Clipped Laplace noise adds
    mass to empty cells, which would otherwise inflate the number of children."""
    degrees = np.arange(probabilities.shape[1], dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    weights = weights / weights.sum() if weights.sum() > 0 else np.full(len(weights), 1.0 / len(weights))
    # a row with no positive cell (cannot come from conditional_distributions, but a table is data) is uniform
    support = (probabilities > 0) | ~(probabilities > 0).any(axis=1, keepdims=True)
    log_p = np.log(np.maximum(probabilities, 1e-300))

    def tilted(lam: float) -> np.ndarray:
        # the row maximum is taken over the support only: over every cell, a large cap and a large lambda let an
        # empty cell's exponent dominate, the support's values underflow to 0 and the row becomes 0/0 = NaN
        exponents = np.where(support, log_p + lam * degrees[None, :], -np.inf)
        exponents -= exponents.max(axis=1, keepdims=True)
        values = np.exp(exponents)
        return values / values.sum(axis=1, keepdims=True)

    def mean(lam: float) -> float:
        return float(weights @ (tilted(lam) @ degrees))

    if target <= 0 or target >= degrees[-1]:  # no children at all (an empty child table), or all at the cap
        extreme = np.zeros_like(probabilities)
        extreme[:, 0 if target <= 0 else -1] = 1.0
        return extreme
    low, high = -20.0, 20.0
    if target <= mean(low):
        return tilted(low)
    if target >= mean(high):
        return tilted(high)
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if mean(middle) < target else (low, middle)
    return tilted((low + high) / 2)


def random_degree_model(relation: Relation, n_child: int, n_parent: int) -> DegreeModel:
    """`random` adjacency: the child count follows the (public) row counts; no data is read, nothing charged."""
    return DegreeModel(relation, "random", degree_cap(n_child, n_parent), n_child / max(n_parent, 1))


def fit_degree_model(
    relation: Relation,
    degrees: np.ndarray,
    parent_codes: np.ndarray,
    parent_hierarchies: Sequence[privbayes.Hierarchy],
    condition_on: Sequence[int],
    cap: int,
    n_child: int,
    *,
    epsilon: float,
    ledger: BudgetLedger,
    private_cap: bool = False,
) -> DegreeModel:
    """The Laplace mechanism on the joint counts of (coarsened parent columns, clipped degree), every cell
    noised, sensitivity `DEGREE_SENSITIVITY`; parent columns are coarsened (or dropped) until the table is
    theta-useful, which reads only public sizes. With `private_cap`, `degrees` are the unclipped degrees and
    `cap` the public default: the cap is chosen from the data by `degrees.private_degree_cap` (a share
    `degrees.CAP_BUDGET_FRACTION` of `epsilon`, charged), so a heavy tail survives a large budget.

    Post-processing (no budget): the noisy table is projected onto counts >= 0 summing to the public number
    of parent rows (`privbayes.project_to_total`, which removes the mass noise puts into empty cells),
    normalised per parent combination and tilted to the public mean degree (`tilt_to_mean`)."""
    if private_cap:
        cap_epsilon, epsilon = split_degree_budget(epsilon)
        cap = private_degree_cap(
            degrees,
            cap,
            n_child,
            epsilon=cap_epsilon,
            ledger=ledger,
            table=relation.child,
            relation=relation.name,
        )
        degrees = np.minimum(np.asarray(degrees, dtype=np.int64), cap)
    scale = DEGREE_SENSITIVITY / epsilon
    n_parent = parent_codes.shape[0]
    # theta-useful, and at least MIN_PARENTS_PER_COMBINATION parent rows per combination on average: the
    # clipped noise of empty cells would otherwise inflate the mean degree
    max_cells = min(
        privbayes.usefulness_max_cells(n_parent, scale), (cap + 1) * max(1, n_parent // MIN_PARENTS_PER_COMBINATION)
    )
    columns, levels = privbayes.fit_parent_levels(cap + 1, list(condition_on), parent_hierarchies, max_cells)
    sizes = tuple(parent_hierarchies[c].sizes[level] for c, level in zip(columns, levels))
    coarsenings = tuple(parent_hierarchies[c].coarsenings[level] for c, level in zip(columns, levels))
    combination = privbayes.parent_combination_codes(parent_codes, columns, coarsenings, sizes)
    counts = privbayes.joint_counts(np.asarray(degrees, dtype=np.int64), combination, math.prod(sizes), cap + 1)
    noisy = privbayes.noisy_counts(counts, scale, ledger.noise)
    projected = privbayes.project_to_total(noisy, float(n_parent))
    probabilities = privbayes.conditional_distributions(projected, "marginal")
    weights = projected.sum(axis=1)
    target = min(n_child / max(n_parent, 1), float(cap))
    probabilities = tilt_to_mean(probabilities, weights, target)
    ledger.charge(
        table=relation.child,
        purpose="degree_preserving",
        mechanism=COUNT_MECHANISM,
        epsilon=epsilon,
        sensitivity=DEGREE_SENSITIVITY,
        scale=scale,
        detail={
            "relation": relation.name,
            "cap": cap,
            "parent_columns": list(columns),
            "parent_levels": list(levels),
            "cells": int(counts.size),
            "parent_rows": n_parent,
            "post_processing": "projected to the public parent count, tilted to the public mean degree "
            "n_child / n_parent",
            "neighbouring": "one row of one table replaced: a child row moves between two parents (L1 4), "
            "a parent row changes cell (L1 2); degrees clipped to the public cap",
        },
    )
    return DegreeModel(
        relation,
        "degree_preserving",
        cap,
        n_child / max(n_parent, 1),
        columns,
        levels,
        sizes,
        coarsenings,
        probabilities,
    )


def orphan_multiplier(null_rate: float) -> int:
    """How many times its parents' capacity a child table may need when a share `null_rate` of its rows has no
    driving parent: the rows with a parent, plus ceil(rate / (1 - rate)) times as many without (public: the
    rate is a DP release)."""
    rate = min(max(float(null_rate), 0.0), MAX_ORPHAN_RATE)
    return 1 + math.ceil(rate / (1.0 - rate)) if rate > 0 else 1


def orphan_rows(n_with_parent: int, null_rate: float) -> int:
    """Rows without a driving parent to add to a batch whose other rows have one."""
    rate = min(max(float(null_rate), 0.0), MAX_ORPHAN_RATE)
    return int(math.floor(n_with_parent * rate / (1.0 - rate) + 0.5))


def noisy_null_rate(
    relation: Relation, n_null: int, n_rows: int, *, epsilon: float, ledger: BudgetLedger
) -> float:
    """The share of null keys of a foreign key (for a driving key: of rows without a parent, null or dangling):
    a Laplace count (sensitivity 1: replacing a child row changes the count by at most one), clipped to
    [0, n] and divided by the public n. A noisy count below scale * ln(1 / NULL_COUNT_P_FAIL) (about 14 noise
    scales) counts as zero (post-processing): noise alone passes it with probability below NULL_COUNT_P_FAIL
    (the discrete Laplace tail P(noise > t) is below exp(-t / scale)). The former 3 scales let noise alone
    make keys null in 2.5% of trainings per key, and at a small budget most of them (the sample bank at
    epsilon 1: scale 200 on 979 rows, a null share of 61% or more in 7% of trainings)."""
    scale = 1.0 / epsilon
    noisy = float(noisy_counts(np.array([n_null]), scale, ledger.noise)[0])
    ledger.charge(
        table=relation.child,
        purpose="foreign_key_null_rate",
        mechanism=COUNT_MECHANISM,
        epsilon=epsilon,
        sensitivity=1.0,
        scale=scale,
        detail={"relation": relation.name, "rows": n_rows},
    )
    if not n_rows or noisy < scale * math.log(1.0 / NULL_COUNT_P_FAIL):
        return 0.0  # not clearly above the noise: no nulls (post-processing; avoids noise-made null columns)
    return float(min(noisy, n_rows) / n_rows)


# Key assignment at generation -----------------------------------------------------------------------------


def self_reference_rows(n_rows: int, null_rate: float, rng: np.random.Generator) -> np.ndarray:
    """For each row of a batch, an earlier row of the same batch (-1: null): row 0 is always null, the
    others are null with `null_rate`, so the references form a forest (no cycle)."""
    position = np.arange(n_rows)
    target = np.floor(rng.random(n_rows) * position).astype(np.int64)
    null = rng.random(n_rows) < null_rate
    target[null | (position == 0)] = -1
    return target


def secondary_rows(
    n_rows: int, n_choices: int, null_rate: float, group: Optional[np.ndarray], rng: np.random.Generator
) -> np.ndarray:
    """A parent row (of `n_choices`) for each of `n_rows` child rows, -1 for null. Within one `group` (rows
    of one driving parent, when the child's primary key includes this foreign key) the picks are distinct
    while the group has at most `n_choices` rows: row r of a group takes (start + r * step) mod n_choices,
    with the group's random start and a random step coprime to n_choices. Without groups picks are uniform."""
    if n_choices == 0:
        return np.full(n_rows, -1, dtype=np.int64)
    group = np.arange(n_rows) if group is None else np.asarray(group, dtype=np.int64)
    starts = rng.integers(n_choices, size=n_rows)
    units = np.flatnonzero(np.gcd(np.arange(1, n_choices + 1), n_choices) == 1) + 1
    steps = units[rng.integers(len(units), size=n_rows)]
    first = np.zeros(n_rows, dtype=np.int64)
    if n_rows:
        order = np.argsort(group, kind="stable")
        group_starts = np.r_[0, np.flatnonzero(np.diff(group[order])) + 1]
        first[order] = np.repeat(order[group_starts], np.diff(np.r_[group_starts, n_rows]))
    picks = (starts[first] + child_ranks(group) * steps[first]) % n_choices
    picks[rng.random(n_rows) < null_rate] = -1
    return picks.astype(np.int64)


# The batch plan -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerationPlan:
    """The batches of a run: root-table rows per batch, and the key offset of every table in every batch.

    Key offsets come from public capacities (root rows of the batch times the degree caps down the chain), so
    any batch can be made alone and its keys never collide with another batch's.
    """

    n_batches: int
    root_batches: Dict[str, List[Batch]]
    offsets: Dict[str, List[int]]
    capacities: Dict[str, List[int]]


def plan_generation(
    graph: ForeignKeyGraph,
    n_rows: Mapping[str, int],
    caps: Mapping[str, int],
    magnitude: float,
    batch_magnitude: Optional[float],
) -> GenerationPlan:
    """Batches of a multi-table run: the largest root table is batched as a single table is
    (`plan_batches`); every other root table is cut into as many batches of equal size (the last smaller)."""
    roots = graph.roots
    if not roots:
        return GenerationPlan(1, {}, {}, {})
    totals = {name: rows_for_magnitude(n_rows[name], magnitude) for name in roots}
    lead = max(roots, key=lambda name: totals[name])
    lead_batches = plan_batches(n_rows[lead], magnitude, batch_magnitude)
    n_batches = len(lead_batches)
    root_batches: Dict[str, List[Batch]] = {}
    for name in roots:
        if name == lead:
            root_batches[name] = lead_batches
            continue
        size = math.ceil(totals[name] / n_batches) if totals[name] else 0
        root_batches[name] = [
            Batch(i, min(i * size, totals[name]), max(0, min(size, totals[name] - i * size))) for i in range(n_batches)
        ]
    capacities: Dict[str, List[int]] = {}
    for name in graph.modelled_tables:
        relation = graph.driving[name]
        if relation is None:
            capacities[name] = [batch.n_rows for batch in root_batches[name]]
        else:
            capacities[name] = [rows * caps[name] for rows in capacities[relation.parent]]
    offsets = {name: [int(v) for v in np.r_[0, np.cumsum(c)[:-1]]] for name, c in capacities.items()}
    return GenerationPlan(n_batches, root_batches, offsets, capacities)
