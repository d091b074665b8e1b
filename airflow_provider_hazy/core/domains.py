"""Learning a column's domain: its bins, or its kept categories, and whether it has a null code.

Every function takes `private`: None reads the statistics from the data as they are (the model then says
`processing_private: false`); a `PrivateColumn` reads them only through the mechanisms of
`dp_preprocessing`, charged to the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np
import pandas as pd

from .binning import (
    QUANTILE,
    BinnedDomain,
    bins_from_edges,
    choose_strategy,
    frequent_values,
    quantile_edges_from_histogram,
    quantile_edges_from_sorted,
    skewness,
    uniform_edges,
)
from .dp_preprocessing import (
    EMPTY_BIN_SIGMAS,
    MAX_FINE_CELLS,
    PrivateColumn,
    day_grid,
    decade_edges,
    fine_cell_count,
    magnitude_edges,
    number_grid,
    occupied_cells,
    private_category_domain,
    private_frequent_values,
    private_histogram,
    private_null_count,
    quantile_cells,
)


@dataclass(frozen=True)
class BinSpec:
    """How one numeric-like column is binned (from `ProcessingParams` and the column's overrides)."""

    n_bins: int
    default_strategy: str
    column_strategy: Optional[str] = None
    skew_threshold: Optional[float] = None
    single_threshold: Optional[float] = None
    drop_empty_bins: bool = False
    integer: bool = False
    grid: str = "number"  # candidate grid of the private range: "number" or "days"
    per_day: float = 1.0  # units per day, for the "days" grid
    public_range: Optional[Tuple[float, float]] = None  # known without the data (time of day)

    @property
    def needs_histogram(self) -> bool:
        """Whether the private path measures a histogram (quantile edges, skewness or empty bins)."""
        may_be_quantile = self.column_strategy == QUANTILE or (
            self.column_strategy is None and (self.default_strategy == QUANTILE or self.skew_threshold is not None)
        )
        return may_be_quantile or self.drop_empty_bins

    @property
    def private_steps(self) -> int:
        """Mechanisms the private path runs (each takes an equal share of the column's budget): the
        magnitude and fine histograms (only the fine one, if needed, for a public range), and the exact
        counts of candidate frequent values."""
        histograms = int(self.needs_histogram) if self.public_range is not None else 2
        return histograms + int(self.single_threshold is not None)


def empty_domain(integer: bool, strategy: str) -> BinnedDomain:
    """The domain of a column with no values at all: a null code and one placeholder bin."""
    return BinnedDomain(np.array([0.0]), np.array([1.0]), np.array([True]), integer, True, strategy)


def fit_nulls(null_count: int, private: Optional[PrivateColumn]) -> Tuple[bool, float]:
    """(whether the column has a null code, the null count: exact, or noisy under DP)."""
    if private is None:
        return null_count > 0, float(null_count)
    noisy, has_null = private_null_count(null_count, private)
    return has_null, max(noisy, 0.0)


def fit_bins(
    values: np.ndarray,
    n_rows: int,
    has_null: bool,
    spec: BinSpec,
    private: Optional[PrivateColumn],
    n_present: Optional[float] = None,
) -> BinnedDomain:
    """The bins of a column's non-null values (float64, any order); `n_present` is the (noisy, under DP)
    number of non-null values, `n_rows` the public row count."""
    sorted_values = np.sort(values)
    if private is not None:
        n_present = float(n_rows) if n_present is None else n_present
        return _fit_bins_private(sorted_values, n_rows, n_present, has_null, spec, private)
    if len(sorted_values) == 0:
        return empty_domain(spec.integer, spec.column_strategy or spec.default_strategy)
    low, high = float(sorted_values[0]), float(sorted_values[-1])
    points = np.empty(0)
    if spec.single_threshold is not None:
        points = frequent_values(sorted_values, spec.single_threshold * n_rows)
    skew = skewness(values) if spec.skew_threshold is not None and spec.column_strategy is None else 0.0
    strategy = choose_strategy(spec.column_strategy, spec.default_strategy, spec.skew_threshold, skew)
    if strategy == QUANTILE:
        rest = sorted_values[~np.isin(sorted_values, points)] if len(points) else sorted_values
        edges = quantile_edges_from_sorted(rest, low, high, spec.n_bins)
    else:
        edges = uniform_edges(low, high, spec.n_bins)
    domain = bins_from_edges(edges, points, integer=spec.integer, has_null=has_null, strategy=strategy)
    if spec.drop_empty_bins:
        domain = domain.keep(domain.counts(sorted_values) > 0)
    return domain


def _cell_edges(low: float, high: float, integer: bool, n_cells: int) -> np.ndarray:
    """Fine cells over [low, high]: one per integer when that is at most `n_cells`, else `n_cells` equal ones."""
    if integer and high - low + 1 <= n_cells:
        return np.arange(low, high + 2.0)
    return np.linspace(low, high + (1.0 if integer else 0.0), n_cells + 1)


def _cells_range(cell_edges: np.ndarray, first: int, last: int, integer: bool) -> Tuple[float, float]:
    """The values held by cells first..last (an integer cell [a, b) holds ceil(a) .. ceil(b) - 1)."""
    low, high = float(cell_edges[first]), float(cell_edges[last + 1])
    if integer:
        low, high = float(np.ceil(low)), float(max(np.ceil(high) - 1.0, np.ceil(low)))
    return low, high


def _fit_bins_private(
    sorted_values: np.ndarray, n_rows: int, n_present: float, has_null: bool, spec: BinSpec, private: PrivateColumn
) -> BinnedDomain:
    """Bins from noisy histograms only (see `dp_preprocessing`): range, then edges, points, empty bins."""
    cell_edges, noisy_cells, cell_scale = None, None, 0.0
    if spec.public_range is not None:
        low, high = spec.public_range
        if spec.needs_histogram:
            cell_edges = _cell_edges(low, high, spec.integer, fine_cell_count(n_present, private.next_epsilon))
            noisy_cells, cell_scale = private_histogram(sorted_values, cell_edges, private, "fine")
    else:
        coarse_edges = magnitude_edges() if spec.grid == "number" else decade_edges(spec.per_day)
        noisy_coarse, coarse_scale = private_histogram(sorted_values, coarse_edges, private, "magnitude")
        low, high = _cells_range(coarse_edges, *occupied_cells(noisy_coarse, coarse_scale), spec.integer)
        cell_edges = _cell_edges(low, high, spec.integer, fine_cell_count(n_present, private.next_epsilon))
        noisy_cells, cell_scale = private_histogram(sorted_values, cell_edges, private, "fine")
        first, last = quantile_cells(noisy_cells)
        low, high = _cells_range(cell_edges, first, last, spec.integer)
        cell_edges, noisy_cells = cell_edges[first : last + 2], noisy_cells[first : last + 1]
    skew = 0.0
    if noisy_cells is not None and spec.skew_threshold is not None:
        midpoints = (cell_edges[:-1] + cell_edges[1:]) / 2.0
        skew = skewness(midpoints, np.clip(noisy_cells, 0.0, None))
    strategy = choose_strategy(spec.column_strategy, spec.default_strategy, spec.skew_threshold, skew)
    if strategy == QUANTILE and noisy_cells is not None:
        edges = quantile_edges_from_histogram(cell_edges, noisy_cells, spec.n_bins)
        edges[0], edges[-1] = low, high
    else:
        edges = uniform_edges(low, high, spec.n_bins)
    points = np.empty(0)
    if spec.single_threshold is not None:
        if spec.integer and high - low + 1 <= MAX_FINE_CELLS:
            candidates = np.arange(low, high + 1.0)
        else:
            grid = number_grid(spec.integer) if spec.grid == "number" else day_grid(spec.per_day)
            candidates = grid[(grid >= low) & (grid <= high)]
        points = private_frequent_values(sorted_values, candidates, spec.single_threshold * n_rows, private)
    domain = bins_from_edges(edges, points, integer=spec.integer, has_null=has_null, strategy=strategy)
    if spec.drop_empty_bins and noisy_cells is not None:
        domain = domain.keep(_nonempty_bins(domain, cell_edges, noisy_cells, cell_scale))
    return domain


def _nonempty_bins(
    domain: BinnedDomain, cell_edges: np.ndarray, noisy_cells: np.ndarray, cell_scale: float
) -> np.ndarray:
    """Bins whose noisy mass (summed over the cells whose middle they hold) stands out from the noise."""
    midpoints = (cell_edges[:-1] + cell_edges[1:]) / 2.0
    cell_bin = domain.bin_of(midpoints)
    mass = np.bincount(cell_bin, weights=noisy_cells, minlength=domain.n_bins)
    n_cells = np.bincount(cell_bin, minlength=domain.n_bins)
    noise_sd = cell_scale * np.sqrt(2.0 * n_cells)
    return domain.point | (n_cells == 0) | (mass > EMPTY_BIN_SIGMAS * noise_sd)


MIN_CATEGORY_COUNT = 5
"""Without `processing_epsilon`, a category value reaches the model only when at least this many rows hold
it (small-cell suppression, as statistical offices publish tables): rarer values are merged into the
other-bucket, so no value held by one row (a name, a case number) is copied into the model. With
`processing_epsilon` set, the noisy threshold of `private_category_domain` decides instead."""


def frequent_categories(counts: pd.Series) -> pd.Series:
    """The category counts of values held by at least `MIN_CATEGORY_COUNT` rows."""
    return counts[counts >= MIN_CATEGORY_COUNT]


def fit_categories(
    present: pd.Series, null_count: int, max_cat: int, private: Optional[PrivateColumn]
) -> Tuple[List, bool, bool]:
    """(kept categories in sorted order, whether there is an other-bucket, whether there is a null code).

    Without DP: the `max_cat` most frequent categories among those held by at least `MIN_CATEGORY_COUNT`
    rows (ties by value), an other-bucket when any were merged. With DP: the categories passing the noisy
    threshold, at most `max_cat` by noisy count, and always an other-bucket (whether something was merged
    is not released).
    """
    counts = present.value_counts(sort=False)
    if private is None:
        has_null = null_count > 0
        frequent = frequent_categories(counts)
        ranked = sorted(
            zip(frequent.to_numpy().tolist(), frequent.index.tolist()), key=lambda item: (-item[0], item[1])
        )
        kept = [value for _, value in ranked[:max_cat]]
        other = len(counts) > len(kept)
    else:
        noisy, has_null = private_category_domain(counts, null_count, private)
        ranked = sorted(zip(noisy.to_numpy().tolist(), noisy.index.tolist()), key=lambda item: (-item[0], item[1]))
        kept = [value for _, value in ranked[:max_cat]]
        other = True
    return sorted(kept), other, has_null
