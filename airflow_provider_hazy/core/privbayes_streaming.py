"""PrivBayes on a table read in chunks: the same model as `privbayes.fit`, with memory holding one chunk,
the structure-search sample and the count tables, never the table.

`fit_from_chunks(code_chunks, n_rows, ...)` takes a callable that starts a fresh pass over the code chunks:
the rows the structure search scores are drawn from the row count alone (`sample_row_indices`, the same
draw as `privbayes.rows_to_score`) and gathered in one pass (`gather_rows`); the network is learned on them
(`privbayes.learn_network_from_rows`, GreedyBayes on given rows); a second pass sums every node's exact
count table (`summed_joint_counts`: counts are additive); then the noise, the post-processing and the
ledger are `privbayes`'s own (`conditionals_from_counts`, `record_ledger`). Same inputs and `rng`, same
model as `privbayes.fit` on the whole matrix (tests/core/test_streaming.py).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from .privacy import STRUCTURE_BUDGET_FRACTION, BudgetLedger
from .privbayes import (
    LearnedNetwork,
    PrivBayesModel,
    TrainingData,
    check_inputs,
    check_parameters,
    conditionals_from_counts,
    joint_counts,
    learn_network_from_rows,
    node_parent_levels,
    parent_combination_codes,
    record_ledger,
    scored_row_count,
    split_budget,
)


def sample_row_indices(n_rows: int, network_sample_rows: int | None, rng: np.random.Generator) -> np.ndarray | None:
    """The sorted global indices of the rows the structure search scores, or None for all rows: the same
    draw as `rows_to_score`, made from the row count alone (known after a first pass)."""
    size = scored_row_count(n_rows, network_sample_rows)
    if size >= n_rows:
        return None
    return np.sort(rng.choice(n_rows, size=size, replace=False))


def gather_rows(code_chunks: Any, n_rows: int, n_columns: int, indices: np.ndarray | None) -> np.ndarray:
    """The rows at global `indices` (all rows when None) of the code chunks, in order, in one preallocated
    column-major matrix: memory holds the sample and one chunk, never the table."""
    size = n_rows if indices is None else len(indices)
    gathered = np.empty((size, n_columns), dtype=np.int64, order="F")
    start, filled = 0, 0
    for chunk in code_chunks():
        chunk = np.asarray(chunk)
        stop = start + chunk.shape[0]
        if indices is None:
            picked = chunk
        else:
            lo, hi = np.searchsorted(indices, [start, stop])
            picked = chunk[indices[lo:hi] - start]
        gathered[filled : filled + picked.shape[0]] = picked
        filled += picked.shape[0]
        start = stop
    if start != n_rows or filled != size:
        raise RuntimeError(f"the table changed between passes: {start} rows read, {n_rows} counted first")
    return gathered


def summed_joint_counts(
    code_chunks: Any, data: TrainingData, network: LearnedNetwork, n_rows: int | None = None
) -> list[np.ndarray]:
    """Every node's exact (parent combination x child) count table, summed over the code chunks. Counts are
    additive, so this equals the table of the whole matrix; no noise is added here. With `n_rows`, a pass
    that reads another number of rows is an error."""
    plans = [(node, *node_parent_levels(data, node)) for node in network.nodes]
    totals = [np.zeros((math.prod(sizes), data.domain_sizes[node.child]), dtype=np.int64) for node, sizes, _ in plans]
    seen = 0
    for chunk in code_chunks():
        chunk = np.asfortranarray(chunk, dtype=np.int64)
        seen += chunk.shape[0]
        for total, (node, parent_sizes, coarsenings) in zip(totals, plans):
            parent_codes = parent_combination_codes(chunk, node.parents, coarsenings, parent_sizes)
            total += joint_counts(chunk[:, node.child], parent_codes, total.shape[0], total.shape[1])
    if n_rows is not None and seen != n_rows:
        raise RuntimeError(f"the table changed between passes: {seen} rows read, {n_rows} counted first")
    return totals


def fit_from_chunks(
    code_chunks: Any,
    n_rows: int,
    domain_sizes: Sequence[int],
    *,
    epsilon: float,
    n_parents: int = 3,
    sample_parents: int = 25,
    network_sample_rows: int | None = None,
    default_strategy: str = "uniform",
    hierarchies: Sequence[Sequence[np.ndarray] | None] | None = None,
    rng: np.random.Generator,
    ledger: BudgetLedger,
    table: str = "table",
    structure_fraction: float = STRUCTURE_BUDGET_FRACTION,
) -> PrivBayesModel:
    """`fit` on a table read in chunks: `code_chunks()` starts a fresh pass over the (n_rows x d) codes.

    One pass gathers the `network_sample_rows` rows drawn (from the row count, before reading) for the
    structure search; another sums every count table over the chunks, and only then is the Laplace noise
    added. Given the same codes and `rng` state the model and ledger are those of `fit` on the whole
    matrix, whatever the chunk sizes. Memory: one chunk, the sampled rows and the count tables.
    """
    check_parameters(
        epsilon, n_parents, sample_parents, network_sample_rows, default_strategy, structure_fraction, table
    )
    sizes = tuple(int(size) for size in domain_sizes)
    data = check_inputs(np.empty((0, len(sizes)), dtype=np.int64), sizes, hierarchies, table)
    budget = split_budget(epsilon, data.n_columns, n_parents, structure_fraction)
    if budget.n_structure_steps:
        indices = sample_row_indices(n_rows, network_sample_rows, rng)
        scored = gather_rows(code_chunks, n_rows, data.n_columns, indices)
        scored = check_inputs(scored, sizes, hierarchies, table).codes
    else:
        scored = data.codes
    network = learn_network_from_rows(scored, n_rows, data, budget, n_parents, sample_parents, rng, ledger.noise)
    del scored
    totals = summed_joint_counts(code_chunks, data, network, n_rows)
    conditionals = conditionals_from_counts(
        data, network, totals, n_rows, budget, default_strategy, rng, ledger.noise
    )
    record_ledger(ledger, table, budget, network, conditionals, n_rows)
    return PrivBayesModel(data.domain_sizes, conditionals)
