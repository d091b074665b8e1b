"""Sequential tables: histories of events per owner, with order, timing and dependence on the past.

A sequential table groups its rows by `sequence_id` (usually a foreign key to the owner table) and orders
them by `sort_by`. Its model has three parts, each differentially private (docs/sequential.md):

1. the *length model*: how many rows an owner's history has, conditioned on the owner's columns. Where the
   sequence id is a foreign key this is the degree model of that key (`multitable.fit_degree_model`); its cap
   L (`multitable.degree_cap`) is the *length cap*: longer histories are cut to their first L rows.
2. the *first-row network*: PrivBayes over the table's code columns of each history's first row, conditioned
   on the owner's columns (the sort-by values are modelled as they are, e.g. the first order's date).
3. the *step network*: PrivBayes over the *step columns* of every later row (the table's code columns, with
   each sort-by column replaced by its non-negative difference from the previous row, the *gap*), whose
   candidate parents include the owner's columns and a compact set of *lag features* computed from the
   previous `window_size` rows of the same history (`LagLayout`):
   - `prev:<c>`   the previous row's value of step column c (for a gap: the previous gap),
   - `mean:<c>`   the mean code of ordinal step column c over the window (sums in the window),
   - `repeat:<c>` how many rows of the window hold the previous row's value of categorical column c,
   - `count`      how many rows the window holds (min(position, window_size)), on log2 buckets,
   - `offset`     (only when n_predict > 1) which of the step's rows this is: 0 .. n_predict - 1.
   Each lag feature has an extra "absent" code (a gap before the second row, say). The step network also
   knows how many rows of the history remain (log2 buckets), and the first-row network the history's length:
   both are drawn first, by the length model, so a long history starts early and keeps its gaps short in a
   table that covers a fixed period.

`n_predict` rows are drawn per step: the rows at positions s*p + 1 .. s*p + p of every live history are drawn
from the lag features of the window ending at position s*p (training computes them the same way), each knowing
its offset in the step. They are drawn independently given that window: n_predict > 1 is faster and keeps
each row's dependence on the window (the k-step-ahead transition), not the dependence between rows of one
step. A step is one NumPy operation over every live history (histories advance in lockstep, so their windows
occupy the same ring-buffer slot); the Python loop runs over steps, never over histories or rows. Sort-by
values are the first row's value plus the cumulative sum of non-negative gaps, so every history is ordered by
construction.

Privacy (docs/privacy.md, "Sequential tables"): the unit is one owner's history. Replacing it changes at most
L rows of the clipped training data, all within that history (lag features never cross histories). The
first-row network sees one row per history (group 1); every count table and mutual-information score of the
step network is charged with group size L - 1 (the rows after the first). As everywhere in the model, the
number of rows of each training set is treated as public (bounded DP). The length model is the degree model
and is charged as such.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from . import privbayes
from .cross_table import absent_hierarchy, sample_conditioned, select_given_columns
from .privacy import (
    COUNT_MECHANISM,
    SELECTION_MECHANISM,
    STRUCTURE_BUDGET_FRACTION,
    BudgetLedger,
    exponential_mechanism,
)

MODEL_FORMAT = "sequential/1"
FIRST_ROW_SHARE = 0.3
"""The first-row network's part of a sequential table's network budget; the step network gets the rest. The
step network is charged a group size of L - 1, the first-row network 1, so the step network needs more."""


# Lag features ---------------------------------------------------------------------------------------------


MIN_GAP_BINS = 8
GAP_WEIGHT = 3.0
"""A gap's count table gets this many times the budget of another step column's table: the gap carries the
timing of a history and must be conditioned on the rows remaining to keep histories inside their period."""
GAP_PARENT_VALUES = 2
"""The gap table leaves room for a parent of this many values (the rows remaining, coarsened as needed)."""


def gap_bins(n_bins: int, n_rows: int, cap: int, epsilon: float, n_step_columns: int) -> int:
    """Bins of a gap column: at most `n_bins`, and few enough that the gap's count table can condition it on
    the rows remaining in its history and stay theta-useful (`privbayes.usefulness_max_cells` at the step
    network's noise scale), but at least MIN_GAP_BINS. Reads only public sizes and settings."""
    weights = [1.0] * (n_step_columns - 1) + [GAP_WEIGHT]
    table_epsilon = (1 - FIRST_ROW_SHARE) * epsilon * (1 - STRUCTURE_BUDGET_FRACTION) * GAP_WEIGHT / sum(weights)
    scale = privbayes.COUNT_SENSITIVITY * max(cap - 1, 1) / table_epsilon
    max_cells = privbayes.usefulness_max_cells(n_rows, scale)
    return int(max(MIN_GAP_BINS, min(n_bins, max_cells // GAP_PARENT_VALUES)))


def length_size(cap: int) -> int:
    """Values of a bucketed history length (or rows remaining) under the length cap."""
    return int(np.ceil(np.log2(max(int(cap), 1)))) + 1


def count_buckets(counts: np.ndarray) -> np.ndarray:
    """Log2 buckets of counts >= 1: 1 -> 0, 2 -> 1, 3..4 -> 2, 5..8 -> 3, ..."""
    counts = np.maximum(np.asarray(counts, dtype=np.int64), 1)
    return np.ceil(np.log2(counts)).astype(np.int64)


@dataclass(frozen=True)
class LagLayout:
    """The step columns (their domains, which are ordinal and which have an absent code at the first row) and
    the lag features computed from them. Everything here is public (sizes and settings)."""

    step_names: Tuple[str, ...]
    step_sizes: Tuple[int, ...]
    ordinal: Tuple[bool, ...]
    window_size: int
    n_predict: int

    @property
    def n_step(self) -> int:
        return len(self.step_sizes)

    @property
    def mean_columns(self) -> List[int]:
        return [j for j in range(self.n_step) if self.ordinal[j]]

    @property
    def repeat_columns(self) -> List[int]:
        return [j for j in range(self.n_step) if not self.ordinal[j] and self.step_sizes[j] > 1]

    @property
    def count_size(self) -> int:
        return int(count_buckets(np.array([self.window_size]))[0]) + 1

    @property
    def feature_names(self) -> List[str]:
        names = [f"prev:{self.step_names[j]}" for j in range(self.n_step)]
        names += [f"mean:{self.step_names[j]}" for j in self.mean_columns]
        names += [f"repeat:{self.step_names[j]}" for j in self.repeat_columns]
        return names + ["count"] + (["offset"] if self.n_predict > 1 else [])

    @property
    def feature_sizes(self) -> List[int]:
        """Each feature's domain, its absent code (the last) included."""
        sizes = [self.step_sizes[j] + 1 for j in range(self.n_step)]
        sizes += [self.step_sizes[j] + 1 for j in self.mean_columns]
        sizes += [self.count_size + 1 for _ in self.repeat_columns]
        return sizes + [self.count_size] + ([self.n_predict] if self.n_predict > 1 else [])

    def feature_hierarchies(self, step_maps: Sequence[Sequence[np.ndarray]]) -> List[List[np.ndarray]]:
        maps = [absent_hierarchy(step_maps[j]) for j in range(self.n_step)]
        maps += [absent_hierarchy(step_maps[j]) for j in self.mean_columns]
        repeat = privbayes.ordinal_hierarchy(self.count_size + 1, null_code=self.count_size)
        maps += [repeat for _ in self.repeat_columns]
        maps += [privbayes.ordinal_hierarchy(self.count_size)]
        return maps + ([privbayes.ordinal_hierarchy(self.n_predict)] if self.n_predict > 1 else [])

    def preferred_parents(self, n_owner: int) -> Dict[int, List[Tuple[int, ...]]]:
        """For each step column (child index), parent sets always offered to the structure search besides the
        random ones: its own lags, its previous value with the rows remaining, and its own previous value with
        each other step column and that column's previous value. Indices are into [step columns, owner
        columns, lag features, remaining]; data-independent."""
        d, base = self.n_step, self.n_step + n_owner
        prev = {j: base + j for j in range(d)}
        mean = {j: base + d + i for i, j in enumerate(self.mean_columns)}
        repeat = {j: base + d + len(self.mean_columns) + i for i, j in enumerate(self.repeat_columns)}
        count = base + d + len(self.mean_columns) + len(self.repeat_columns)
        offset = count + 1 if self.n_predict > 1 else None
        remaining = base + len(self.feature_sizes)
        preferred: Dict[int, List[Tuple[int, ...]]] = {}
        for j in range(d):
            own = tuple(x for x in (prev[j], mean.get(j), repeat.get(j)) if x is not None)
            sets = [own, (prev[j], count), (prev[j], remaining), (remaining,)]
            sets += [(prev[j], offset)] if offset is not None else []
            for other in range(d):
                if other != j:
                    sets += [(prev[j], other), (other, prev[other]), (prev[j], other, prev[other])]
            preferred[j] = sets
        return preferred


def _rounded_mean(sums: np.ndarray, counts: np.ndarray, absent: int) -> np.ndarray:
    means = np.floor(sums / np.maximum(counts, 1) + 0.5).astype(np.int64)
    return np.where(counts > 0, means, absent)


def training_lag_features(step_codes: np.ndarray, position: np.ndarray, layout: LagLayout) -> np.ndarray:
    """The lag features of every row of histories stored one after another (row r at `position[r]` of its
    history, positions 0, 1, 2, ... in order); rows at position 0 get absent codes (they are not used). A
    step column holding its absent code (a gap at position 0) is left out of window means."""
    n = len(position)
    position = np.asarray(position, dtype=np.int64)
    window, p = layout.window_size, layout.n_predict
    later = position >= 1
    anchor = np.arange(n) - np.where(later, (position - 1) % p + 1, 0)
    anchor_position = position[anchor]
    counts = np.minimum(anchor_position + 1, window)
    features = np.empty((n, len(layout.feature_sizes)), dtype=np.int64, order="F")
    column = 0
    for j in range(layout.n_step):
        features[:, column] = step_codes[anchor, j]
        column += 1
    for j in layout.mean_columns:
        absent = layout.step_sizes[j]
        values = step_codes[:, j]
        valid = values != absent
        value_sums = np.r_[0, np.cumsum(np.where(valid, values, 0))]
        valid_sums = np.r_[0, np.cumsum(valid)]
        stop, start = anchor + 1, anchor + 1 - counts
        features[:, column] = _rounded_mean(
            value_sums[stop] - value_sums[start], valid_sums[stop] - valid_sums[start], absent
        )
        column += 1
    for j in layout.repeat_columns:
        values = step_codes[:, j]
        previous = values[anchor]
        repeats = np.zeros(n, dtype=np.int64)
        for lag in range(window):
            inside = lag < counts
            repeats += inside & (values[np.maximum(anchor - lag, 0)] == previous)
        features[:, column] = count_buckets(repeats)
        column += 1
    features[:, column] = count_buckets(counts)
    if layout.n_predict > 1:
        features[:, column + 1] = np.where(later, (position - 1) % p, 0)
    sizes = np.array(layout.feature_sizes)
    features[~later] = sizes - 1  # first rows: every feature absent (the count's last bucket; unused)
    return features


class WindowState:
    """The last `window_size` step rows of every history being generated, as a ring buffer; histories move
    in lockstep, so the row at position t sits in slot t % window_size of every history."""

    def __init__(self, layout: LagLayout, n_histories: int) -> None:
        self.layout = layout
        self.ring = np.zeros((n_histories, layout.window_size, layout.n_step), dtype=np.int64)

    def push(self, position: int, step_codes: np.ndarray) -> None:
        """Store the rows at `position` of the first len(step_codes) histories."""
        self.ring[: len(step_codes), position % self.layout.window_size] = step_codes

    def features(self, n_live: int, anchor_position: int) -> np.ndarray:
        """The lag features of the first `n_live` histories for a window ending at `anchor_position` (without
        the offset within the step, which the caller appends when n_predict > 1)."""
        layout = self.layout
        window = layout.window_size
        count = min(anchor_position + 1, window)
        slots = np.arange(anchor_position - count + 1, anchor_position + 1) % window
        block = self.ring[:n_live][:, slots]  # (n_live, count, n_step)
        previous = self.ring[:n_live, anchor_position % window]
        parts = [previous]
        for j in layout.mean_columns:
            absent = layout.step_sizes[j]
            values = block[:, :, j]
            valid = values != absent
            parts.append(_rounded_mean(np.where(valid, values, 0).sum(axis=1), valid.sum(axis=1), absent)[:, None])
        for j in layout.repeat_columns:
            repeats = (block[:, :, j] == previous[:, j][:, None]).sum(axis=1)
            parts.append(count_buckets(repeats)[:, None])
        parts.append(np.full((n_live, 1), int(count_buckets(np.array([count]))[0]), dtype=np.int64))
        return np.hstack(parts)


# Fitting a network whose parents may be given columns, with a group size ------------------------------------


def fit_given_network(
    codes: np.ndarray,
    domain_sizes: Sequence[int],
    hierarchies: Sequence[Sequence[np.ndarray]],
    given_codes: np.ndarray,
    given_sizes: Sequence[int],
    given_hierarchies: Sequence[Sequence[np.ndarray]],
    *,
    epsilon: float,
    group: int,
    n_rows_public: int,
    preferred: Optional[Mapping[int, Sequence[Tuple[int, ...]]]] = None,
    required: Optional[Mapping[int, int]] = None,
    weights: Optional[Sequence[float]] = None,
    n_parents: int,
    sample_parents: int,
    network_sample_rows: Optional[int],
    default_strategy: str,
    rng: np.random.Generator,
    ledger: BudgetLedger,
    table: str,
    network: str,
) -> privbayes.PrivBayesModel:
    """GreedyBayes over the d child columns of `codes`, the `given_codes` columns (known at generation) placed
    first and never measured; every score and count table has its sensitivity multiplied by `group` (group
    privacy: a neighbouring change alters at most `group` rows). beta * epsilon is shared by the structure
    steps (d, or d - 1 when nothing is given: the first column is then drawn at random, for free), the rest by
    the d Laplace count tables (equally, or in proportion to `weights`), each projected to the public row
    count and normalised (post-processing).
    `preferred[child]` lists parent sets offered to that child at every step besides the `sample_parents`
    random ones (their members not yet placed are left out); `required[child]` is a given column every
    candidate of that child includes (when one fits the usefulness bound). Returns a model over all d + g
    attributes (the
    given ones with placeholder marginals, as `cross_table.sample_conditioned` expects)."""
    d, g = len(domain_sizes), given_codes.shape[1]
    all_sizes = [int(s) for s in domain_sizes] + [int(s) for s in given_sizes]
    joined = np.hstack([np.asarray(codes, dtype=np.int64), np.asarray(given_codes, dtype=np.int64)])
    data = privbayes.check_inputs(joined, all_sizes, list(hierarchies) + list(given_hierarchies), table)
    given = list(range(d, d + g))
    search = d >= 1 and n_parents >= 1 and d + g >= 2
    free_first = search and g == 0
    n_steps = (d - 1 if free_first else d) if search else 0
    structure_epsilon = STRUCTURE_BUDGET_FRACTION * epsilon if n_steps else 0.0
    step_epsilon = structure_epsilon / n_steps if n_steps else 0.0
    shares = np.asarray(weights if weights is not None else [1.0] * d, dtype=np.float64)
    table_epsilons = (epsilon - structure_epsilon) * shares / shares.sum() if d else np.zeros(0)
    scales = privbayes.COUNT_SENSITIVITY * group / table_epsilons if d else np.zeros(0)
    useful_by_scale: Dict[float, privbayes.UsefulParentChoices] = {}
    for value in set(scales.tolist()):
        max_cells = privbayes.usefulness_max_cells(n_rows_public, value)
        useful_by_scale[value] = privbayes.UsefulParentChoices(data.hierarchies, max_cells)
    nodes: List[privbayes.Node] = []
    placed, unplaced = list(given), list(range(d))
    if free_first:
        first = int(rng.integers(d))
        nodes.append(privbayes.Node(first))
        placed.append(first)
        unplaced.remove(first)
    if n_steps:
        scorer = privbayes.MutualInformationScorer(
            privbayes.rows_to_score(data.codes, network_sample_rows, rng), data.domain_sizes, data.hierarchies
        )
    for step in range(1, n_steps + 1):
        shared = privbayes.candidate_parent_sets(placed, n_parents, sample_parents, rng)
        placed_set = set(placed)
        candidates: Dict[Any, privbayes.Node] = {}
        for child in unplaced:
            own = [tuple(sorted(p for p in s if p in placed_set))[:n_parents] for s in (preferred or {}).get(child, [])]
            must = (required or {}).get(child)
            sets = shared + own
            if must is not None:
                sets = [tuple(sorted({must, *s[: max(n_parents - 1, 0)]} if must not in s else s)) for s in sets]
            child_nodes = [
                privbayes.Node(child, parents, levels)
                for parent_set in sets
                for parents, levels in useful_by_scale[float(scales[child])].choices(
                    data.domain_sizes[child], parent_set
                )
            ]
            if must is not None and any(must in node.parents for node in child_nodes):
                child_nodes = [node for node in child_nodes if must in node.parents]
            for node in child_nodes:
                candidates.setdefault(node.key, node)
        candidate_nodes = list(candidates.values())
        sensitivity = group * privbayes.step_sensitivity(candidate_nodes, scorer)
        chosen = candidate_nodes[
            exponential_mechanism(scorer.scores(candidate_nodes), sensitivity, step_epsilon, ledger.noise)
        ]
        ledger.charge(
            table=table,
            purpose="structure",
            mechanism=SELECTION_MECHANISM,
            epsilon=step_epsilon,
            sensitivity=sensitivity,
            scale=None,
            detail={
                "network": network,
                "step": step,
                "steps": n_steps,
                "candidates": len(candidate_nodes),
                "rows_scored": scorer.n_rows,
                "child": chosen.child,
                "group_size": group,
                "score": "mutual information (bits)",
            },
        )
        nodes.append(chosen)
        placed.append(chosen.child)
        unplaced.remove(chosen.child)
    nodes += [privbayes.Node(j) for j in unplaced]  # no search (k = 0): independent marginals
    conditionals = [
        privbayes.Conditional(j, (), (), (), (), np.full((1, all_sizes[j]), 1.0 / all_sizes[j])) for j in given
    ]
    for node in nodes:
        sizes, coarsenings = privbayes.node_parent_levels(data, node)
        parent_codes = privbayes.parent_combination_codes(data.codes, node.parents, coarsenings, sizes)
        counts = privbayes.joint_counts(
            data.codes[:, node.child], parent_codes, math.prod(sizes), all_sizes[node.child]
        )
        scale = float(scales[node.child])
        noisy = privbayes.noisy_counts(counts, scale, ledger.noise)
        probabilities = privbayes.conditional_distributions(
            privbayes.project_to_total(noisy, n_rows_public), default_strategy
        )
        conditionals.append(
            privbayes.Conditional(node.child, node.parents, node.levels, sizes, coarsenings, probabilities)
        )
        ledger.charge(
            table=table,
            purpose="conditional",
            mechanism=COUNT_MECHANISM,
            epsilon=float(table_epsilons[node.child]),
            sensitivity=privbayes.COUNT_SENSITIVITY * group,
            scale=scale,
            detail={
                "network": network,
                "child": node.child,
                "parents": list(node.parents),
                "parent_levels": list(node.levels),
                "cells": int(counts.size),
                "rows": n_rows_public,
                "group_size": group,
            },
        )
    if not d:
        ledger.charge(
            table=table,
            purpose="conditional",
            mechanism="none",
            epsilon=epsilon,
            sensitivity=0.0,
            detail={"network": network, "description": "no modelled columns: nothing measured"},
        )
    return privbayes.PrivBayesModel(tuple(all_sizes), tuple(conditionals))


# The model ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SequenceModel:
    """The first-row and step networks of a sequential table, the layout of its lag features, which of the
    table's code columns hold sort-by values (replaced by gaps in the step columns), and which owner columns
    condition both networks (indices into the owner's code columns; sizes include the absent code)."""

    layout: LagLayout
    cap: int
    n_table_columns: int
    sort_parts: Tuple[int, ...]
    owner_columns: Tuple[int, ...]
    owner_sizes: Tuple[int, ...]
    first: privbayes.PrivBayesModel
    step: privbayes.PrivBayesModel

    @property
    def kept_parts(self) -> List[int]:
        """The table's code columns that are step columns as they are (all but the sort-by parts)."""
        return [j for j in range(self.n_table_columns) if j not in self.sort_parts]

    def to_json(self) -> Dict[str, Any]:
        layout = self.layout
        return {
            "format": MODEL_FORMAT,
            "window_size": layout.window_size,
            "n_predict": layout.n_predict,
            "step_names": list(layout.step_names),
            "step_sizes": list(layout.step_sizes),
            "ordinal": list(layout.ordinal),
            "lag_features": layout.feature_names,
            "cap": self.cap,
            "n_table_columns": self.n_table_columns,
            "sort_parts": list(self.sort_parts),
            "owner_columns": list(self.owner_columns),
            "owner_sizes": list(self.owner_sizes),
            "first": self.first.to_json(),
            "step": self.step.to_json(),
        }

    def arrays(self) -> Dict[str, np.ndarray]:
        arrays = {f"first.{k}": v for k, v in self.first.to_arrays().items()}
        arrays.update({f"step.{k}": v for k, v in self.step.to_arrays().items()})
        return arrays

    @classmethod
    def from_parts(cls, data: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> SequenceModel:
        if data.get("format") != MODEL_FORMAT:
            raise ValueError(f"sequence model: format {data.get('format')!r} is not {MODEL_FORMAT!r}")
        layout = LagLayout(
            tuple(data["step_names"]),
            tuple(int(s) for s in data["step_sizes"]),
            tuple(bool(o) for o in data["ordinal"]),
            int(data["window_size"]),
            int(data["n_predict"]),
        )

        def part(prefix: str) -> Dict[str, np.ndarray]:
            return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}

        return cls(
            layout=layout,
            cap=int(data["cap"]),
            n_table_columns=int(data["n_table_columns"]),
            sort_parts=tuple(int(j) for j in data["sort_parts"]),
            owner_columns=tuple(int(j) for j in data["owner_columns"]),
            owner_sizes=tuple(int(s) for s in data["owner_sizes"]),
            first=privbayes.PrivBayesModel.from_parts(data["first"], part("first.")),
            step=privbayes.PrivBayesModel.from_parts(data["step"], part("step.")),
        )


def history_positions(sequence: np.ndarray) -> np.ndarray:
    """The position of each row within its history, for rows stored history after history in order."""
    sequence = np.asarray(sequence)
    n = len(sequence)
    if not n:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(sequence[1:] != sequence[:-1]) + 1]
    return np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))


def fit_sequences(
    table_codes: np.ndarray,
    gap_codes: np.ndarray,
    sequence: np.ndarray,
    owner_codes: np.ndarray,
    *,
    table_sizes: Sequence[int],
    table_hierarchies: Sequence[Sequence[np.ndarray]],
    table_ordinal: Sequence[bool],
    table_names: Sequence[str],
    sort_parts: Sequence[int],
    gap_sizes: Sequence[int],
    gap_hierarchies: Sequence[Sequence[np.ndarray]],
    gap_names: Sequence[str],
    owner_sizes: Sequence[int],
    owner_hierarchies: Sequence[Sequence[np.ndarray]],
    max_owner_columns: int,
    cap: int,
    window_size: int,
    n_predict: int,
    epsilon: float,
    n_parents: int,
    sample_parents: int,
    network_sample_rows: Optional[int],
    default_strategy: str,
    rng: np.random.Generator,
    ledger: BudgetLedger,
    table: str,
    owner_table: Optional[str],
) -> SequenceModel:
    """The first-row and step networks of a sequential table from its rows stored history after history, in
    order (`sequence`: a history id per row, equal ids adjacent). Histories are cut to their first `cap` rows.
    `gap_codes` holds the codes of each sort-by column's gap from the previous row (any code at position 0);
    `owner_codes` the owner's code columns joined onto each row (their absent code where there is no owner;
    sizes include it). At most `max_owner_columns` owner columns condition the networks, chosen by the
    exponential mechanism on the first rows when there are more. Charges `epsilon` in all."""
    position = history_positions(sequence)
    kept = position < cap
    table_codes, gap_codes, owner_codes = table_codes[kept], gap_codes[kept], owner_codes[kept]
    position = position[kept]
    first_rows = position == 0
    n_first, n_later = int(first_rows.sum()), int((~first_rows).sum())
    first_epsilon = FIRST_ROW_SHARE * epsilon
    step_epsilon = epsilon - first_epsilon
    settings = dict(
        n_parents=n_parents,
        sample_parents=sample_parents,
        network_sample_rows=network_sample_rows,
        default_strategy=default_strategy,
        rng=rng,
        ledger=ledger,
        table=table,
    )
    owner_columns = list(range(owner_codes.shape[1]))
    select_epsilon = 0.0
    if len(owner_columns) > max_owner_columns and n_parents > 0 and max_owner_columns > 0:
        # one exponential-mechanism step per chosen column, on the first rows (group 1), from the first-row share
        select_epsilon = (
            STRUCTURE_BUDGET_FRACTION * first_epsilon * max_owner_columns / (max_owner_columns + table_codes.shape[1])
        )
        data = privbayes.check_inputs(
            np.hstack([table_codes[first_rows], owner_codes[first_rows]]),
            list(table_sizes) + list(owner_sizes),
            list(table_hierarchies) + list(owner_hierarchies),
            table,
        )
        scorer = privbayes.MutualInformationScorer(
            privbayes.rows_to_score(data.codes, network_sample_rows, rng), data.domain_sizes, data.hierarchies
        )
        d = table_codes.shape[1]
        useful = privbayes.UsefulParentChoices(data.hierarchies, privbayes.MAX_TABLE_CELLS)
        chosen, steps = select_given_columns(
            scorer,
            d,
            [d + j for j in owner_columns],
            max_owner_columns,
            useful,
            select_epsilon / max_owner_columns,
            1,
            ledger.noise,
        )
        for index, step in enumerate(steps, start=1):
            ledger.charge(
                table=table,
                purpose="cross_table_selection",
                mechanism=SELECTION_MECHANISM,
                epsilon=select_epsilon / max_owner_columns,
                sensitivity=step["sensitivity"],
                detail={"step": index, "parent_table": owner_table, "candidates": step["candidates"], "group_size": 1},
            )
        owner_columns = sorted(j - d for j in chosen)
    elif max_owner_columns <= 0 or n_parents == 0:
        owner_columns = []
    given_sizes = [owner_sizes[j] for j in owner_columns]
    given_maps = [owner_hierarchies[j] for j in owner_columns]
    owner_given = owner_codes[:, owner_columns]
    starts = np.flatnonzero(first_rows)
    row_lengths = np.repeat(np.diff(np.r_[starts, len(position)]), np.diff(np.r_[starts, len(position)]))
    size = length_size(cap)
    length_maps = [privbayes.ordinal_hierarchy(size)]
    first = fit_given_network(
        table_codes[first_rows],
        table_sizes,
        table_hierarchies,
        np.hstack([owner_given, count_buckets(row_lengths)[:, None]])[first_rows],
        given_sizes + [size],
        given_maps + length_maps,
        epsilon=first_epsilon - select_epsilon,
        group=1,
        n_rows_public=n_first,
        network="first_row",
        **settings,
    )
    kept_parts = [j for j in range(table_codes.shape[1]) if j not in set(sort_parts)]
    layout = LagLayout(
        tuple([table_names[j] for j in kept_parts] + list(gap_names)),
        tuple([int(table_sizes[j]) for j in kept_parts] + [int(s) for s in gap_sizes]),
        tuple([bool(table_ordinal[j]) for j in kept_parts] + [True] * len(gap_sizes)),
        window_size,
        n_predict,
    )
    # gaps of first rows take the absent code (outside the gap domain), so window means skip them
    gaps = np.where(first_rows[:, None], np.array(gap_sizes, dtype=np.int64)[None, :], gap_codes)
    step_codes = np.hstack([table_codes[:, kept_parts], gaps]).astype(np.int64)
    lags = training_lag_features(step_codes, position, layout)
    step_maps = [list(table_hierarchies[j]) for j in kept_parts] + [list(m) for m in gap_hierarchies]
    # a gap is always conditioned on the rows remaining in its history: a table covers a fixed period, so the
    # histories with many rows to come have short gaps (a design choice, not read from the data)
    gap_steps = range(len(kept_parts), layout.n_step)
    step = fit_given_network(
        step_codes[~first_rows],
        layout.step_sizes,
        step_maps,
        np.hstack([owner_given, lags, count_buckets(row_lengths - position)[:, None]])[~first_rows],
        given_sizes + layout.feature_sizes + [size],
        given_maps + layout.feature_hierarchies(step_maps) + length_maps,
        epsilon=step_epsilon,
        group=max(cap - 1, 1),
        n_rows_public=n_later,
        preferred=layout.preferred_parents(len(owner_columns)),
        required={j: layout.n_step + len(owner_columns) + len(layout.feature_sizes) for j in gap_steps},
        weights=[GAP_WEIGHT if j in gap_steps else 1.0 for j in range(layout.n_step)],
        network="step",
        **settings,
    )
    return SequenceModel(
        layout=layout,
        cap=int(cap),
        n_table_columns=int(table_codes.shape[1]),
        sort_parts=tuple(int(j) for j in sort_parts),
        owner_columns=tuple(owner_columns),
        owner_sizes=tuple(int(s) for s in given_sizes),
        first=first,
        step=step,
    )


# Generation -----------------------------------------------------------------------------------------------


@dataclass
class Histories:
    """Generated histories stored one after another: table codes (sort-by parts as the first row's codes for
    first rows, unset otherwise), gap codes (absent at first rows), the history of each row and its position."""

    table_codes: np.ndarray
    gap_codes: np.ndarray
    sequence: np.ndarray
    position: np.ndarray


def sample_histories(
    model: SequenceModel, lengths: np.ndarray, owner_codes: np.ndarray, rng: np.random.Generator
) -> Histories:
    """Histories of the given `lengths` (clipped to the cap), one per owner row, conditioned on the owners'
    `owner_codes` (the owner's code columns `model.owner_columns`). The first rows come from the first-row
    network; then, step by step, `n_predict` rows of every live history at once from the step network."""
    layout = model.layout
    lengths = np.minimum(np.asarray(lengths, dtype=np.int64), model.cap)
    n_histories = len(lengths)
    starts = np.r_[0, np.cumsum(lengths)[:-1]].astype(np.int64) if n_histories else np.zeros(0, np.int64)
    n_rows = int(lengths.sum())
    d = model.n_table_columns
    n_gaps = layout.n_step - len(model.kept_parts)
    table_codes = np.zeros((n_rows, d), dtype=np.int64)
    gap_codes = np.tile(np.array(layout.step_sizes[layout.n_step - n_gaps :], dtype=np.int64), (n_rows, 1))
    sequence = np.repeat(np.arange(n_histories), lengths)
    position = np.arange(n_rows) - np.repeat(starts, lengths)
    owner = np.asarray(owner_codes, dtype=np.int64)
    owner = owner if owner.ndim == 2 else np.zeros((n_histories, 0), dtype=np.int64)
    # first rows
    has_rows = lengths > 0
    first = sample_conditioned(model.first, d, np.hstack([owner, count_buckets(lengths)[:, None]])[has_rows], rng)
    table_codes[starts[has_rows]] = first
    # later rows: histories in order of decreasing length, so the live ones are a prefix
    order = np.argsort(-lengths, kind="stable")
    sorted_lengths, sorted_starts, sorted_owner = lengths[order], starts[order], owner[order]
    n_started = int(has_rows.sum())
    state = WindowState(layout, n_started)
    kept = model.kept_parts
    started = sorted_starts[:n_started]
    state.push(0, np.hstack([table_codes[started][:, kept], gap_codes[started]]))
    max_length = int(lengths.max()) if n_histories else 0
    descending = -sorted_lengths
    anchor = 0
    while anchor + 1 < max_length:
        n_live = int(np.searchsorted(descending, -(anchor + 1), side="left"))
        features = state.features(n_live, anchor)
        slots = [int(np.searchsorted(descending, -(anchor + 1 + k), side="left")) for k in range(layout.n_predict)]
        slots = [n for n in slots if n > 0]
        offsets = [np.full((n, 1 if layout.n_predict > 1 else 0), k, dtype=np.int64) for k, n in enumerate(slots)]
        given = np.vstack(
            [
                np.hstack(
                    [
                        sorted_owner[:n],
                        features[:n],
                        offsets[k],
                        count_buckets(sorted_lengths[:n] - (anchor + 1 + k))[:, None],
                    ]
                )
                for k, n in enumerate(slots)
            ]
        )
        drawn = sample_conditioned(model.step, layout.n_step, given, rng)
        offset = 0
        for k, n in enumerate(slots):
            rows = sorted_starts[:n] + anchor + 1 + k
            step_codes = drawn[offset : offset + n]
            offset += n
            table_codes[np.ix_(rows, kept)] = step_codes[:, : len(kept)]
            gap_codes[rows] = step_codes[:, len(kept) :]
            state.push(anchor + 1 + k, step_codes)
        anchor += layout.n_predict
    return Histories(table_codes, gap_codes, sequence, position)


# Sort-by values -------------------------------------------------------------------------------------------


def cumulative_values(first_values: np.ndarray, gaps: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Each row's sort-by value: its history's first value plus the sum of its gaps so far (gaps clipped at 0,
    a null gap counted as 0), so values never decrease within a history."""
    gaps = np.where(np.isnan(gaps) | (position == 0), 0.0, np.maximum(gaps, 0.0))
    totals = np.cumsum(gaps)
    first_rows = np.flatnonzero(position == 0)
    base = np.repeat(totals[first_rows], np.diff(np.r_[first_rows, len(position)]))
    firsts = np.repeat(first_values[first_rows], np.diff(np.r_[first_rows, len(position)]))
    return firsts + totals - base


def sort_order(frame: pd.DataFrame, history: np.ndarray, sort_columns: Sequence[Tuple[str, np.ndarray]]) -> np.ndarray:
    """The row order that stores histories one after another, each ordered by its sort-by values (nulls last;
    ties keep source order)."""
    keys = [history] + [values for _, values in sort_columns]
    frame_keys = pd.DataFrame({f"k{i}": key for i, key in enumerate(keys)})
    return frame_keys.sort_values(list(frame_keys.columns), kind="mergesort", na_position="last").index.to_numpy()
