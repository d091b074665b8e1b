"""Post-processing of PrivBayes's noisy count tables: reads only the noisy tables and public sizes, so it
costs no privacy budget (differential privacy is closed under post-processing).

- `project_to_total`: the closest table with cells >= 0 summing to the public n ("norm-sub");
- `conditional_distributions`: a projected table normalised per parent combination, empty rows filled by
  the default strategy (uniform, or the child's marginal);
- `marginal_estimates`: each column's marginal pooled, by inverse variance, from every noisy table that
  holds it at full resolution;
- `tilt_to_marginal`: a conditional tilted (iterative proportional fitting) so that its child's marginal
  under the model matches the pooled estimate.

`core/privbayes.py`'s `consistent_conditionals` runs these in network order (Zhang et al., step 2, then
consistency). Not to be confused with `core/postprocess.py`, which post-processes *generated tables*
(string limits, unique violations, the user's post_generation steps).
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

CONSISTENCY_ITERATIONS = 10
"""Iterative proportional fitting steps of `tilt_to_marginal` (the fit converges in a few)."""


class NetworkNode(Protocol):
    """What `marginal_estimates` reads of a network node (`core.privbayes.Node`)."""

    child: int
    parents: tuple[int, ...]
    levels: tuple[int, ...]


def conditional_distributions(
    noisy: np.ndarray, default_strategy: str, marginal: np.ndarray | None = None
) -> np.ndarray:
    """Noisy joint counts (parent combination x child) -> P(child | parents) by post-processing: clip at 0,
    normalise each row. A row with no mass left gets the uniform distribution ("uniform") or the child's
    marginal ("marginal"): `marginal` when given (the estimate of `marginal_estimates`), else the column
    sums of the same noisy table (no further budget either way)."""
    n_combinations, child_size = noisy.shape
    clipped = np.maximum(noisy, 0.0)
    mass = clipped.sum(axis=1, keepdims=True)
    fallback = np.full(child_size, 1.0 / child_size)
    if default_strategy == "marginal":
        if marginal is None:
            marginal = np.maximum(noisy.sum(axis=0), 0.0)
        if marginal.sum() > 0:
            fallback = marginal / marginal.sum()
    has_mass = mass > 0
    probabilities = np.where(has_mass, clipped / np.where(has_mass, mass, 1.0), fallback[None, :])
    return np.ascontiguousarray(probabilities, dtype=np.float64)


def project_to_total(noisy: np.ndarray, total: float) -> np.ndarray:
    """The closest table (in L2) to `noisy` with cells >= 0 summing to `total`: subtract one shift from every
    cell and clip at 0 ("norm-sub"; the Euclidean projection onto the scaled simplex). Post-processing: n is
    public. Unlike clipping alone it removes the mass that positive noise puts into empty cells, which would
    otherwise flatten every conditional. A table of zeros comes back for `total` <= 0."""
    flat = np.asarray(noisy, dtype=np.float64).ravel()
    if total <= 0 or flat.size == 0:
        return np.zeros(np.shape(noisy))
    descending = np.sort(flat)[::-1]
    shifts = (np.cumsum(descending) - total) / np.arange(1, flat.size + 1)
    kept = np.flatnonzero(descending > shifts)
    shift = shifts[kept[-1]] if kept.size else descending[0] - total
    return np.maximum(np.asarray(noisy, dtype=np.float64) - shift, 0.0)


def marginal_estimates(
    nodes: Sequence[NetworkNode],
    noisy_tables: Sequence[np.ndarray],
    parent_sizes: Sequence[tuple[int, ...]],
    n_columns: int,
    n_rows: int,
    scales: Sequence[float] | None = None,
) -> list[np.ndarray | None]:
    """Each column's distribution estimated from every noisy table that holds it at full resolution: as the
    child (column sums) and as a level-0 parent (sums over the other axes). A sum over m cells has noise
    variance m * 2 b^2 (every table has the same scale b), so the sums are averaged with weights 1 / m,
    projected to n (`project_to_total`) and normalised. Post-processing of the noisy tables only; None for a
    column no table holds in full (none: every column is the child of one table) or with n = 0. With
    `scales` (each table's Laplace scale, when they differ: a child table's tables with a parent column), a
    sum's variance is m * 2 scale^2 instead."""
    sums: list[list[tuple[np.ndarray, float]]] = [[] for _ in range(n_columns)]
    table_scales = [1.0] * len(nodes) if scales is None else list(scales)
    for node, noisy, sizes, scale in zip(nodes, noisy_tables, parent_sizes, table_scales):
        sums[node.child].append((noisy.sum(axis=0), noisy.shape[0] * scale**2))
        cube = noisy.reshape(sizes + (noisy.shape[1],))
        for axis, (parent, level) in enumerate(zip(node.parents, node.levels)):
            if level == 0:
                others = tuple(a for a in range(cube.ndim) if a != axis)
                sums[parent].append((cube.sum(axis=others), noisy.size // sizes[axis] * scale**2))
    estimates: list[np.ndarray | None] = []
    for column_sums in sums:
        if not column_sums or n_rows <= 0:
            estimates.append(None)
            continue
        weights = np.array([1.0 / variance for _, variance in column_sums])
        combined = sum(w * s for w, (s, _) in zip(weights / weights.sum(), column_sums))
        estimates.append(project_to_total(combined, n_rows) / n_rows)
    return estimates


def tilt_to_marginal(
    probabilities: np.ndarray,
    parent_distribution: np.ndarray,
    target: np.ndarray,
    fixed_rows: np.ndarray | None = None,
    iterations: int = CONSISTENCY_ITERATIONS,
) -> np.ndarray:
    """P(child | parents) with each child value's column scaled by one factor and rows renormalised, so that
    sum over parent combinations of parent_distribution * P(child | parents) approaches `target` (iterative
    proportional fitting with the parents' distribution held fixed). Rows in `fixed_rows` (the parent
    combinations filled by the default strategy) are left as they are; a row the factors would empty keeps
    `target`. Post-processing: all three inputs come from noisy tables and the model itself."""
    tilted_rows = np.ones(probabilities.shape[0], dtype=bool) if fixed_rows is None else ~fixed_rows
    tilted = probabilities[tilted_rows]
    fixed_part = parent_distribution[~tilted_rows] @ probabilities[~tilted_rows]
    weights = parent_distribution[tilted_rows]
    factors = np.ones(probabilities.shape[1])
    for _ in range(iterations):
        implied = fixed_part + weights @ _normalised_rows(tilted * factors, target)
        factors *= np.divide(target, implied, out=np.ones_like(target), where=implied > 0)
    result = probabilities.copy()
    result[tilted_rows] = _normalised_rows(tilted * factors, target)
    return result


def _normalised_rows(table: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    mass = table.sum(axis=1, keepdims=True)
    has_mass = mass > 0
    return np.where(has_mass, table / np.where(has_mass, mass, 1.0), fallback[None, :])
