"""Learning a column's domain: its bins, or its kept categories, and whether it has a null code.

Every function takes `private`: None reads the statistics from the data as they are (the model then says
`processing_private: false`); a `PrivateColumn` reads them only through the mechanisms of
`dp_preprocessing`, charged to the ledger.

`numeric_domain` is the one numeric domain fit, shared by the in-memory fit (`fit_bins`, every count
answered from the sorted values) and the streamed fit (`core.streaming`, counts answered from mergeable
summaries or another pass over the chunks): a generator that asks for the exact counts it needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generator, List, Optional, Tuple

import numpy as np
import pandas as pd

from .binning import (
    EMPTY,
    QUANTILE,
    BinnedDomain,
    bins_from_edges,
    choose_strategy,
    quantile_edges_from_histogram,
    skewness,
    spaced,
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
    occupancy_threshold,
    occupied_cells,
    private_category_domain,
    private_null_count,
    quantile_cells,
)
from .quantile_cells import REFINE_ROUNDS, refined_cell_edges


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
    distinct_points: bool = False  # non-private: a column with <= n_bins distinct values is binned by them

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
    """The domain of a column with no values at all: a null code and one placeholder bin, never drawn
    (`binning.EMPTY`: the column decodes to null whatever the noise put on the placeholder)."""
    return BinnedDomain(np.array([0.0]), np.array([1.0]), np.array([True]), integer, True, EMPTY)


def fit_nulls(null_count: int, private: Optional[PrivateColumn]) -> Tuple[bool, float]:
    """(whether the column has a null code, the null count: exact, or noisy under DP)."""
    if private is None:
        return null_count > 0, float(null_count)
    noisy, has_null = private_null_count(null_count, private)
    return has_null, max(noisy, 0.0)


FINE_CELLS = 1024
"""Cells of the exact histogram that bins a column known only by a summary without its distinct counts
(`ValueSummary.distinct` None: a streamed column past `streaming.DISTINCT_CAP` distinct values)."""


@dataclass
class ValueSummary:
    """What the numeric domain fit reads of a column's non-null values before asking for more counts:
    their number, range, the exact distinct counts when known (sorted float64 values and their counts),
    and, when those are not known, the candidate frequent values."""

    n_present: int
    low: float
    high: float
    distinct: Optional[Tuple[np.ndarray, np.ndarray]]
    candidates: np.ndarray = field(default_factory=lambda: np.empty(0))

    @classmethod
    def of(cls, sorted_values: np.ndarray) -> ValueSummary:
        """The exact summary of sorted values (all distinct counts)."""
        if len(sorted_values) == 0:
            return cls(0, 0.0, 0.0, (np.empty(0), np.empty(0, np.int64)))
        uniques, counts = np.unique(sorted_values, return_counts=True)
        return cls(len(sorted_values), float(sorted_values[0]), float(sorted_values[-1]), (uniques, counts))


@dataclass
class CountQuery:
    """Exact counts over a column's non-null values that the fit asks for: 'cells' (between `points` as
    edges, the values beyond the ends in the end cells) or 'exact' (of each value in `points`). The caller
    sets `answer` (int64) and sends the query back."""

    kind: str
    points: np.ndarray
    answer: Optional[np.ndarray] = None


NumericFit = Generator[CountQuery, CountQuery, BinnedDomain]


def count_sorted(query: CountQuery, sorted_values: np.ndarray, weights: Optional[np.ndarray] = None) -> np.ndarray:
    """`query`'s counts over sorted values (each standing for `weights[i]` values when given)."""
    cumulative = None if weights is None else np.concatenate([[0], np.cumsum(weights)])

    def rank(points: np.ndarray, side: str) -> np.ndarray:
        found = np.searchsorted(sorted_values, points, side=side)
        return found if cumulative is None else cumulative[found]

    total = len(sorted_values) if cumulative is None else int(cumulative[-1])
    if query.kind == "cells":
        inner = rank(query.points[1:-1], "left")
        return np.diff(np.concatenate([[0], inner, [total]])).astype(np.int64)
    return (rank(query.points, "right") - rank(query.points, "left")).astype(np.int64)


def fit_bins(
    values: np.ndarray,
    n_rows: int,
    has_null: bool,
    spec: BinSpec,
    private: Optional[PrivateColumn],
    n_present: Optional[float] = None,
) -> BinnedDomain:
    """The bins of a column's non-null values (float64, any order); `n_present` is the (noisy, under DP)
    number of non-null values, `n_rows` the public row count. `numeric_domain` with every count query
    answered from the sorted values (the exact summary: the same bins as from the values themselves)."""
    sorted_values = np.sort(values)
    n_present = float(n_rows) if n_present is None else n_present
    fit = numeric_domain(ValueSummary.of(sorted_values), n_rows, n_present, has_null, spec, private)
    try:
        query = next(fit)
        while True:
            query.answer = count_sorted(query, sorted_values)
            query = fit.send(query)
    except StopIteration as done:
        return done.value


def numeric_domain(
    summary: ValueSummary,
    n_rows: int,
    n_present: float,
    has_null: bool,
    spec: BinSpec,
    private: Optional[PrivateColumn],
) -> NumericFit:
    """The one numeric domain fit (bins, point masses, empty bins) of a numeric, datetime or time-of-day
    column, in memory (`fit_bins`) and streamed (`core.streaming`): a generator that yields a
    `CountQuery` whenever it needs exact counts the summary does not hold, and returns the domain.

    Without DP, exact distinct counts give the bins of the sorted values themselves; without them (a
    streamed column past `streaming.DISTINCT_CAP` distinct values) quantile edges and skewness are
    interpolated in an exact histogram of `FINE_CELLS` cells, refined where quantile targets crowd a cell
    (`quantile_cells`; docs/streaming.md gives the precision).
    With DP every statistic is a noisy count (`dp_preprocessing`), in the same order either way."""
    if private is not None:
        domain = yield from _private_domain(summary, n_rows, n_present, has_null, spec, private)
        if private.no_values(n_rows, n_rows - n_present):  # post-processing of the noisy null count
            private.all_null = True
            return empty_domain(spec.integer, spec.column_strategy or spec.default_strategy)
        return domain
    if summary.n_present == 0:
        return empty_domain(spec.integer, spec.column_strategy or spec.default_strategy)
    if summary.distinct is not None:
        return _exact_domain(summary, n_rows, has_null, spec)
    return (yield from _histogram_domain(summary, n_rows, has_null, spec))


def _weighted_quantile_edges(uniques: np.ndarray, counts: np.ndarray, low: float, high: float, n_bins: int):
    """`binning.quantile_edges_from_sorted` on the sorted values these distinct counts stand for."""
    total = int(counts.sum())
    if total == 0:
        return uniform_edges(low, high, n_bins)
    cumulative = np.cumsum(counts)
    position = np.linspace(0.0, 1.0, n_bins + 1) * (total - 1)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, total - 1)
    fraction = position - below
    at_below = uniques[np.searchsorted(cumulative, below, side="right")]
    at_above = uniques[np.searchsorted(cumulative, above, side="right")]
    edges = at_below + fraction * (at_above - at_below)
    edges[0], edges[-1] = low, high
    return edges


def _exact_domain(summary: ValueSummary, n_rows: int, has_null: bool, spec: BinSpec) -> BinnedDomain:
    """Bins from exact distinct counts: quantile edges by rank, frequent values, skewness, empty bins."""
    low, high = float(summary.low), float(summary.high)
    threshold = None if spec.single_threshold is None else spec.single_threshold * n_rows
    wants_skew = spec.skew_threshold is not None and spec.column_strategy is None
    uniques, counts = summary.distinct
    uniques = uniques.astype(np.float64)
    if spec.distinct_points and len(uniques) <= spec.n_bins:
        return distinct_value_domain(uniques, spec, has_null)
    point_mask = counts > threshold if threshold is not None else np.zeros(len(uniques), dtype=bool)
    points = uniques[point_mask]
    skew = skewness(uniques, counts.astype(np.float64)) if wants_skew else 0.0
    strategy = choose_strategy(spec.column_strategy, spec.default_strategy, spec.skew_threshold, skew)
    if strategy == QUANTILE:
        edges = _weighted_quantile_edges(uniques[~point_mask], counts[~point_mask], low, high, spec.n_bins)
    else:
        edges = uniform_edges(low, high, spec.n_bins)
    domain = bins_from_edges(edges, points, integer=spec.integer, has_null=has_null, strategy=strategy)
    if spec.drop_empty_bins:
        domain = domain.keep(np.bincount(domain.bin_of(uniques), minlength=domain.n_bins) > 0)
    return domain


def distinct_value_domain(distinct: np.ndarray, spec: BinSpec, has_null: bool) -> BinnedDomain:
    """A column encoded by its (few, sorted) distinct values: one point bin each, none between them (a value
    between two points is encoded as the nearer one)."""
    strategy = spec.column_strategy or spec.default_strategy
    domain = bins_from_edges(distinct, distinct, integer=spec.integer, has_null=has_null, strategy=strategy)
    return domain.keep(domain.point)


def _overlapping_bins(domain: BinnedDomain, cell_edges: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Bins that overlap at least one occupied cell."""
    keep = np.zeros(domain.n_bins, dtype=bool)
    occupied = np.flatnonzero(cells > 0)
    if len(occupied):
        starts, stops = cell_edges[occupied], cell_edges[occupied + 1]
        first = np.maximum(np.searchsorted(domain.upper, starts, side="right"), 0)
        last = np.searchsorted(domain.lower, stops, side="left") - 1
        last[occupied == len(cells) - 1] = domain.n_bins - 1  # the last cell holds the maximum
        for a, b in zip(first.tolist(), last.tolist()):
            keep[a : b + 1] = True
    return keep | domain.point


def _histogram_domain(summary: ValueSummary, n_rows: int, has_null: bool, spec: BinSpec) -> NumericFit:
    """Bins from the range, an exact histogram of `FINE_CELLS` cells and the candidates' exact counts."""
    low, high = float(summary.low), float(summary.high)
    threshold = None if spec.single_threshold is None else spec.single_threshold * n_rows
    wants_skew = spec.skew_threshold is not None and spec.column_strategy is None
    may_be_quantile = spec.column_strategy == QUANTILE or (
        spec.column_strategy is None and spec.default_strategy == QUANTILE
    )
    cells = None
    cell_edges = _cell_edges(low, high, spec.integer, FINE_CELLS)
    if may_be_quantile or wants_skew or spec.drop_empty_bins:
        cells = (yield CountQuery("cells", cell_edges)).answer
    points = np.empty(0)
    if threshold is not None and len(summary.candidates):
        candidates = np.asarray(summary.candidates, dtype=np.float64)
        points = candidates[(yield CountQuery("exact", candidates)).answer > threshold]
    skew = 0.0
    if cells is not None and wants_skew:
        skew = skewness((cell_edges[:-1] + cell_edges[1:]) / 2.0, cells.astype(np.float64))
    strategy = choose_strategy(spec.column_strategy, spec.default_strategy, spec.skew_threshold, skew)
    if strategy == QUANTILE:
        for _ in range(REFINE_ROUNDS):  # heavy tails: finer cells where the quantile edges fall
            finer = refined_cell_edges(cell_edges, cells, spec.n_bins, spec.integer, FINE_CELLS)
            if finer is None:
                break
            cell_edges, cells = finer, (yield CountQuery("cells", finer)).answer
        edges = quantile_edges_from_histogram(cell_edges, cells.astype(np.float64), spec.n_bins)
        edges[0], edges[-1] = low, high
    else:
        edges = uniform_edges(low, high, spec.n_bins)
    domain = bins_from_edges(edges, points, integer=spec.integer, has_null=has_null, strategy=strategy)
    if spec.drop_empty_bins:
        domain = domain.keep(_overlapping_bins(domain, cell_edges, cells))
    return domain


def _cell_edges(low: float, high: float, integer: bool, n_cells: int) -> np.ndarray:
    """Fine cells over [low, high]: one per integer when that is at most `n_cells`, else `n_cells` equal ones."""
    if integer and high - low + 1 <= n_cells:
        return np.arange(low, high + 2.0)
    return spaced(low, high + (1.0 if integer else 0.0), n_cells + 1)


def _cells_range(cell_edges: np.ndarray, first: int, last: int, integer: bool) -> Tuple[float, float]:
    """The values held by cells first..last (an integer cell [a, b) holds ceil(a) .. ceil(b) - 1)."""
    low, high = float(cell_edges[first]), float(cell_edges[last + 1])
    if integer:
        low, high = float(np.ceil(low)), float(max(np.ceil(high) - 1.0, np.ceil(low)))
    return low, high


def _noisy_cells(cells: CountQuery, private: PrivateColumn, what: str) -> Tuple[np.ndarray, float]:
    return private.laplace(cells.answer, 2.0, f"{what} histogram of {len(cells.answer)} cells")


def _private_domain(
    summary: ValueSummary, n_rows: int, n_present: float, has_null: bool, spec: BinSpec, private: PrivateColumn
) -> NumericFit:
    """Bins from noisy histograms only (see `dp_preprocessing`): range, then edges, points, empty bins."""
    cell_edges, noisy_cells, cell_scale = None, None, 0.0
    if spec.public_range is not None:
        low, high = spec.public_range
        if spec.needs_histogram:
            cell_edges = _cell_edges(low, high, spec.integer, fine_cell_count(n_present, private.next_epsilon))
            noisy_cells, cell_scale = _noisy_cells((yield CountQuery("cells", cell_edges)), private, "fine")
    else:
        coarse_edges = magnitude_edges() if spec.grid == "number" else decade_edges(spec.per_day)
        noisy_coarse, coarse_scale = _noisy_cells((yield CountQuery("cells", coarse_edges)), private, "magnitude")
        low, high = _cells_range(coarse_edges, *occupied_cells(noisy_coarse, coarse_scale), spec.integer)
        cell_edges = _cell_edges(low, high, spec.integer, fine_cell_count(n_present, private.next_epsilon))
        noisy_cells, cell_scale = _noisy_cells((yield CountQuery("cells", cell_edges)), private, "fine")
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
        exact = yield CountQuery("exact", candidates)
        noisy, scale = private.laplace(exact.answer, 2.0, f"exact counts of {len(candidates)} candidate values")
        points = candidates[noisy > max(spec.single_threshold * n_rows, occupancy_threshold(len(candidates), scale))]
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
        other = not private.all_null
    return sorted(kept), other, has_null
