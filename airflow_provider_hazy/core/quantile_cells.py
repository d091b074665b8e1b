"""Refining an exact histogram where its quantile edges fall, so heavy-tailed columns get good edges.

A streamed numeric column past `streaming.DISTINCT_CAP` distinct values is summarised by exact counts in
`domains.FINE_CELLS` equal cells between its minimum and maximum. For a column spanning orders of magnitude
(lognormal incomes, Pareto amounts) nearly every row lands in the first cell, and interpolating quantile
edges linearly inside it misplaces them badly. `refined_cell_edges` splits each cell that holds a quantile
target and more than `1 / (REFINE_FACTOR * n_bins)` of the rows into `sub_cells` equal sub-cells; the
caller (`domains._histogram_domain`) asks for exact counts over the finer edges in another pass, for at
most `REFINE_ROUNDS` rounds. Each round narrows such a cell by `sub_cells`, so after three rounds of 1,024
a quantile edge is interpolated in a cell 1,024^4 times narrower than the range.

The sketch stays an exact count over fixed edges: mergeable across chunks (counts add), the same for every
chunk size and read order, and deterministic. Bell-shaped and uniform columns, whose cells each hold a
small share, are not refined (no extra pass, the same edges as before).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

# A cell holding a quantile target is split when it holds more than this share of a bin's rows.
REFINE_FACTOR = 8
# At most this many refinement passes per column.
REFINE_ROUNDS = 3


def target_cells(cells: np.ndarray, n_bins: int) -> np.ndarray:
    """Indices of the cells holding the inner quantile targets (1/n_bins .. (n_bins-1)/n_bins), distinct."""
    cumulative = np.cumsum(cells.astype(np.float64))
    total = cumulative[-1] if len(cumulative) else 0.0
    if total <= 0 or n_bins < 2:
        return np.empty(0, dtype=np.int64)
    targets = np.linspace(0.0, total, n_bins + 1)[1:-1]
    return np.unique(np.minimum(np.searchsorted(cumulative, targets, side="left"), len(cells) - 1))


def refined_cell_edges(
    cell_edges: np.ndarray, cells: np.ndarray, n_bins: int, integer: bool, sub_cells: int
) -> Optional[np.ndarray]:
    """Finer edges: every crowded cell holding a quantile target split into `sub_cells` equal sub-cells (an
    integer column's cell into one sub-cell per integer when it spans at most `sub_cells`, never narrower
    than one), or None when no cell needs (or allows) splitting."""
    total = float(np.sum(cells))
    crowded = target_cells(cells, n_bins)
    crowded = crowded[cells[crowded] > total / (REFINE_FACTOR * n_bins)]
    pieces = [cell_edges]
    for index in crowded.tolist():
        start, stop = float(cell_edges[index]), float(cell_edges[index + 1])
        if integer:
            if np.ceil(stop) - np.ceil(start) <= 1:  # one integer at most: nothing to split
                continue
            if stop - start <= sub_cells:
                pieces.append(np.arange(np.ceil(start), stop))
                continue
        pieces.append(np.linspace(start, stop, sub_cells + 1))
    finer = np.unique(np.concatenate(pieces))
    return finer if len(finer) > len(cell_edges) else None
