"""Cross-table conditioning: a child table's PrivBayes network learned with its driving parent's columns
as given attributes, and sampled conditionally on the parent rows a batch drew.

- `joined_parent_codes`: each child row joined to its parent row's codes (an "absent" code for a child with
  no parent), with the child's rank among its parent's children clipped at the degree cap, so that one
  replaced row changes at most `multitable.CLIPPED_RANK_GROUP` joined rows;
- `select_given_columns`: which parent columns the child's network may condition on (at most
  `parent_compression`), chosen by the exponential mechanism like a PrivBayes structure step;
- `fit_conditioned`: the network over (child columns + given parent columns), the given columns placed first
  and never measured, every count table charged with the group sensitivity of the join;
- `sample_conditioned`: child codes drawn given the parent columns of each row (vectorised, in network order).

The privacy argument is in docs/multitable.md; `core/multitable.py` holds the graph, the degree model, the
budget split and the batch plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import privbayes
from .noise import NoiseSource
from .privacy import (
    COUNT_MECHANISM,
    SELECTION_MECHANISM,
    STRUCTURE_BUDGET_FRACTION,
    BudgetLedger,
    exponential_mechanism,
    mutual_information_sensitivity,
)


def joined_parent_codes(
    parent_codes: np.ndarray, parent_index: np.ndarray, ranks: np.ndarray, cap: int, sizes: Sequence[int]
) -> np.ndarray:
    """The parent columns joined onto each child row; a child without a parent, or ranked at or beyond the
    cap among its parent's children, gets each column's extra "absent" code (its size), so the joined data
    keeps all n child rows (n stays public) and one parent row reaches at most `cap` of them."""
    joined = np.empty((len(parent_index), parent_codes.shape[1]), dtype=np.int64, order="F")
    kept = (parent_index >= 0) & (ranks < cap)
    for j, size in enumerate(sizes):
        column = np.full(len(parent_index), size, dtype=np.int64)
        column[kept] = parent_codes[parent_index[kept], j]
        joined[:, j] = column
    return joined


def absent_hierarchy(maps: Sequence[np.ndarray]) -> List[np.ndarray]:
    """A parent column's hierarchy with the "absent" code appended as a value of its own at every level."""
    extended = []
    for level_map in maps:
        level_map = np.asarray(level_map, dtype=np.int64)
        top = int(level_map.max()) + 1 if level_map.size else 0
        extended.append(np.append(level_map, top))
    return extended


@dataclass(frozen=True)
class ConditionedFit:
    """A child network whose first `n_given` attributes (after the child's own d) are parent columns."""

    model: privbayes.PrivBayesModel
    n_child_columns: int
    given_columns: Tuple[int, ...]


def _step_cost(candidates: Sequence[privbayes.Node], given: set, scorer, group: int) -> float:
    sensitivity = privbayes.step_sensitivity(candidates, scorer)
    if any(set(node.parents) & given for node in candidates):
        sensitivity *= group
    return sensitivity


def select_given_columns(
    scorer: privbayes.MutualInformationScorer,
    n_child: int,
    candidates: Sequence[int],
    k: int,
    useful: privbayes.UsefulParentChoices,
    epsilon_per_step: float,
    group: int,
    noise: NoiseSource,
) -> Tuple[List[int], List[Dict[str, Any]]]:
    """`k` parent columns by the exponential mechanism, each scored by its largest mutual information with a
    child column (sensitivity: group size times Lemma 4.1 of PrivBayes, as a max of such scores)."""
    chosen: List[int] = []
    steps: List[Dict[str, Any]] = []
    remaining = list(candidates)
    sensitivity = group * mutual_information_sensitivity(scorer.n_rows, binary_child=False)
    for _ in range(min(k, len(remaining))):
        scores = []
        for parent in remaining:
            nodes = [
                privbayes.Node(child, *useful.choices(scorer.domain_sizes[child], (parent,))[0])
                for child in range(n_child)
            ]
            scores.append(float(scorer.scores(nodes).max()) if nodes else 0.0)
        picked = remaining[exponential_mechanism(scores, sensitivity, epsilon_per_step, noise)]
        steps.append({"candidates": len(remaining), "sensitivity": sensitivity, "picked": picked})
        chosen.append(picked)
        remaining.remove(picked)
    return chosen, steps


def fit_conditioned(
    codes: np.ndarray,
    domain_sizes: Sequence[int],
    hierarchies: Sequence[Sequence[np.ndarray]],
    given_codes: np.ndarray,
    given_sizes: Sequence[int],
    given_hierarchies: Sequence[Sequence[np.ndarray]],
    *,
    epsilon: float,
    group: int,
    max_given: int,
    n_parents: int,
    sample_parents: int,
    network_sample_rows: Optional[int],
    default_strategy: str,
    rng: np.random.Generator,
    ledger: BudgetLedger,
    table: str,
    parent_table: str,
    structure_fraction: float = STRUCTURE_BUDGET_FRACTION,
) -> ConditionedFit:
    """PrivBayes for a child table whose attributes may take parent columns (given at generation) as parents.

    The joined parent columns are placed first and never measured; when there are more than `max_given`,
    that many are chosen by the exponential mechanism. Each of the d child columns is then placed by one
    exponential-mechanism step (GreedyBayes, candidate parents among everything placed), and measured by one
    Laplace count table. A score or table that involves a parent column has its sensitivity multiplied by
    `group` (group privacy: a neighbouring change alters at most `group` joined rows); the others keep the
    single-table sensitivities. beta * epsilon is shared by the selection and placement steps, the rest by
    the d tables. The noisy tables are post-processed as a single table's (`_consistent_child_conditionals`).
    """
    d = len(domain_sizes)
    all_sizes = list(domain_sizes) + [int(s) + 1 for s in given_sizes]
    all_maps = list(hierarchies) + [absent_hierarchy(maps) for maps in given_hierarchies]
    joined = np.hstack([np.asarray(codes, dtype=np.int64), np.asarray(given_codes, dtype=np.int64)])
    data = privbayes.check_inputs(joined, all_sizes, all_maps, table)
    candidates_given = list(range(d, d + given_codes.shape[1]))
    select_steps = max_given if len(candidates_given) > max_given else 0
    n_steps = select_steps + d
    structure_epsilon = structure_fraction * epsilon
    step_epsilon = structure_epsilon / n_steps
    table_epsilon = (epsilon - structure_epsilon) / d if d else 0.0
    plain_scale = privbayes.COUNT_SENSITIVITY / table_epsilon if d else 0.0
    useful_plain = privbayes.UsefulParentChoices(
        data.hierarchies, privbayes.usefulness_max_cells(data.n_rows, plain_scale)
    )
    useful_given = privbayes.UsefulParentChoices(
        data.hierarchies, privbayes.usefulness_max_cells(data.n_rows, plain_scale * group)
    )
    scorer = privbayes.MutualInformationScorer(
        privbayes.rows_to_score(data.codes, network_sample_rows, rng), data.domain_sizes, data.hierarchies
    )
    given = candidates_given
    if select_steps:
        given, selection = select_given_columns(
            scorer, d, candidates_given, max_given, useful_given, step_epsilon, group, ledger.noise
        )
        for index, step in enumerate(selection, start=1):
            ledger.charge(
                table=table,
                purpose="cross_table_selection",
                mechanism=SELECTION_MECHANISM,
                epsilon=step_epsilon,
                sensitivity=step["sensitivity"],
                scale=None,
                detail={
                    "step": index,
                    "parent_table": parent_table,
                    "candidates": step["candidates"],
                    "group_size": group,
                    "score": "max mutual information with a child column (bits)",
                },
            )
    given_set = set(given)
    placed, unplaced = list(given), list(range(d))
    nodes: List[privbayes.Node] = []
    for step_index in range(1, d + 1):
        parent_sets = privbayes.candidate_parent_sets(placed, n_parents, sample_parents, rng)
        candidates: Dict[Any, privbayes.Node] = {}
        for parent_set in parent_sets:
            useful = useful_given if set(parent_set) & given_set else useful_plain
            for child in unplaced:
                for parents, levels in useful.choices(data.domain_sizes[child], parent_set):
                    node = privbayes.Node(child, parents, levels)
                    candidates.setdefault(node.key, node)
        candidate_nodes = list(candidates.values())
        sensitivity = _step_cost(candidate_nodes, given_set, scorer, group)
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
                "step": step_index + select_steps,
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
    conditionals = [
        privbayes.Conditional(j, (), (), (), (), np.full((1, all_sizes[j]), 1.0 / all_sizes[j])) for j in given
    ]
    noisy_tables, node_sizes, node_coarsenings, node_scales = [], [], [], []
    for node in nodes:
        hierarchies_used = [data.hierarchies[p] for p in node.parents]
        sizes = tuple(h.sizes[level] for h, level in zip(hierarchies_used, node.levels))
        coarsenings = tuple(h.coarsenings[level] for h, level in zip(hierarchies_used, node.levels))
        parent_codes = privbayes.parent_combination_codes(data.codes, node.parents, coarsenings, sizes)
        counts = privbayes.joint_counts(
            data.codes[:, node.child], parent_codes, math.prod(sizes), all_sizes[node.child]
        )
        involves_given = bool(set(node.parents) & given_set)
        sensitivity = privbayes.COUNT_SENSITIVITY * (group if involves_given else 1)
        scale = sensitivity / table_epsilon
        noisy_tables.append(privbayes.noisy_counts(counts, scale, ledger.noise))
        node_sizes.append(sizes)
        node_coarsenings.append(coarsenings)
        node_scales.append(scale)
        ledger.charge(
            table=table,
            purpose="conditional",
            mechanism=COUNT_MECHANISM,
            epsilon=table_epsilon,
            sensitivity=sensitivity,
            scale=scale,
            detail={
                "child": node.child,
                "parents": list(node.parents),
                "parent_levels": list(node.levels),
                "cells": int(counts.size),
                "rows": data.n_rows,
                "group_size": group if involves_given else 1,
                "parent_table": parent_table if involves_given else None,
            },
        )
    conditionals.extend(
        _consistent_child_conditionals(
            nodes,
            noisy_tables,
            node_sizes,
            node_coarsenings,
            node_scales,
            all_sizes,
            data.hierarchies,
            given,
            data.n_rows,
            default_strategy,
            rng,
        )
    )
    # unused candidate parent columns get placeholder marginals (no data) so the model covers every attribute
    for j in candidates_given:
        if j not in given_set:
            conditionals.insert(
                0, privbayes.Conditional(j, (), (), (), (), np.full((1, all_sizes[j]), 1.0 / all_sizes[j]))
            )
    model = privbayes.PrivBayesModel(tuple(all_sizes), tuple(conditionals))
    return ConditionedFit(model, d, tuple(j - d for j in given))


def _consistent_child_conditionals(
    nodes: Sequence[privbayes.Node],
    noisy_tables: Sequence[np.ndarray],
    node_sizes: Sequence[Tuple[int, ...]],
    node_coarsenings: Sequence[Tuple[Optional[np.ndarray], ...]],
    node_scales: Sequence[float],
    all_sizes: Sequence[int],
    hierarchies: Sequence[privbayes.Hierarchy],
    given: Sequence[int],
    n_rows: int,
    default_strategy: str,
    rng: np.random.Generator,
) -> Tuple[privbayes.Conditional, ...]:
    """The child's conditionals by the single-table post-processing (`privbayes.consistent_conditionals`:
    projection to n, pooled marginal estimates weighted by each table's own noise scale, tilting in network
    order). The given parent columns are not
    measured by the child's tables: in the simulated rows each is drawn on its own (`_simulated_given`).
    Post-processing of the noisy tables only."""
    initial = np.zeros((privbayes.CONSISTENCY_ROWS if n_rows > 0 else 0, len(all_sizes)), dtype=np.int64, order="F")
    for j in given:
        initial[:, j] = _simulated_given(
            j, nodes, noisy_tables, node_sizes, node_scales, hierarchies[j], initial.shape[0], rng
        )
    return privbayes.consistent_conditionals(
        nodes,
        noisy_tables,
        node_sizes,
        node_coarsenings,
        all_sizes,
        n_rows,
        default_strategy,
        rng,
        initial=initial,
        scales=node_scales,
    )


def _simulated_given(
    column: int,
    nodes: Sequence[privbayes.Node],
    noisy_tables: Sequence[np.ndarray],
    node_sizes: Sequence[Tuple[int, ...]],
    node_scales: Sequence[float],
    hierarchy: privbayes.Hierarchy,
    n_rows: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Simulated codes of a given parent column: its distribution at the finest level any table uses it,
    pooled from those tables (sums over the other axes, inverse-variance weights, clipped at 0), then a code
    drawn uniformly among the codes of each coarse value. Every table using the column at that level or a
    coarser one then sees the estimated distribution. Uniform when no table uses it."""
    size = hierarchy.sizes[0]
    found = [
        (node, noisy, sizes, scale, axis, level)
        for node, noisy, sizes, scale in zip(nodes, noisy_tables, node_sizes, node_scales)
        for axis, (parent, level) in enumerate(zip(node.parents, node.levels))
        if parent == column
    ]
    if not found or n_rows == 0:
        return rng.integers(size, size=n_rows)
    finest = min(level for *_, level in found)
    sums, weights = [], []
    for _node, noisy, sizes, scale, axis, level in found:
        if level != finest:
            continue
        cube = noisy.reshape(tuple(sizes) + (noisy.shape[1],))
        sums.append(cube.sum(axis=tuple(a for a in range(cube.ndim) if a != axis)))
        weights.append(1.0 / (noisy.size // sizes[axis] * scale**2))
    pooled = np.clip(sum(w * part for w, part in zip(weights, sums)) / sum(weights), 0.0, None)
    mapping = np.arange(size) if hierarchy.coarsenings[finest] is None else np.asarray(hierarchy.coarsenings[finest])
    if pooled.sum() <= 0:
        return rng.integers(size, size=n_rows)
    coarse = rng.choice(len(pooled), size=n_rows, p=pooled / pooled.sum())
    members = np.argsort(mapping, kind="stable")  # fine codes grouped by coarse value
    starts = np.searchsorted(mapping[members], np.arange(len(pooled)))
    counts = np.bincount(mapping, minlength=len(pooled))
    offsets = np.floor(rng.random(n_rows) * np.maximum(counts[coarse], 1)).astype(np.int64)
    return members[np.minimum(starts[coarse] + offsets, size - 1)]


def sample_conditioned(
    model: privbayes.PrivBayesModel, n_child_columns: int, given_codes: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """The child's d code columns for rows whose parent columns (`given_codes`, in the model's given order)
    are fixed: ancestral sampling that skips the given attributes."""
    n_rows = given_codes.shape[0]
    codes = np.zeros((n_rows, len(model.domain_sizes)), dtype=np.int64, order="F")
    if given_codes.shape[1]:
        codes[:, n_child_columns : n_child_columns + given_codes.shape[1]] = given_codes
    # the cached inverse-CDF tables of the same model
    for conditional, cumulative, buckets in zip(model.conditionals, model.cumulative, model.buckets):
        if conditional.child >= n_child_columns:
            continue
        child_size = model.domain_sizes[conditional.child]
        if child_size == 1:
            codes[:, conditional.child] = 0
            continue
        combination = privbayes.parent_combination_codes(
            codes, conditional.parents, conditional.parent_coarsenings, conditional.parent_sizes
        )
        codes[:, conditional.child] = privbayes.draw_children(cumulative, combination, child_size, rng, buckets)
    return np.asfortranarray(codes[:, :n_child_columns])
