"""Bins of numeric-like values and the integer codes of a binned column.

Integers, floats, dates (epoch days), datetimes (epoch seconds or microseconds) and times of day are all
binned as float64 numbers. The codes of a binned column are: 0 = null when the column has nulls, then one
code per bin in increasing order of value. The codes are therefore ordinal (apart from the null code), so
the PrivBayes core may coarsen a parent by merging adjacent bins.

A bin is [lower, upper): an integer bin holds the integers lower .. upper - 1; a float bin holds the reals
in it, the last one including its upper end (the column's maximum); a point bin holds exactly `lower` (a
value more frequent than `single_threshold`). Bins may leave gaps (`drop_empty_bins`): a value in a gap, or
outside every bin, is encoded as the nearest bin. Decoding draws a value uniformly inside the bin (a point
bin gives its value); when the column's values lie on a grid (`value_grid`: integers a multiple of g apart,
floats with at most d decimals; read without DP only), the drawn value moves to the nearest grid point in
its bin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Sequence

import numpy as np

from .value_grid import snap

UNIFORM = "uniform"
QUANTILE = "quantile"
EMPTY = "empty"
"""The strategy of a column's domain when the source held no value at all: every draw decodes to null, so a
column all null in the source is all null in the output (noise on the placeholder bin makes no value)."""


@dataclass(eq=False)
class BinnedDomain:
    """The bins of one column (in value order) and whether it has a null code (code 0)."""

    lower: np.ndarray
    upper: np.ndarray
    point: np.ndarray
    integer: bool
    has_null: bool
    strategy: str = UNIFORM
    step: float = 0.0  # the values' grid (value_grid): decoded values snap to anchor + k * step; 0: none
    anchor: float = 0.0
    _draw_max: np.ndarray = field(init=False, repr=False)
    _draw_width: np.ndarray = field(init=False, repr=False)
    _has_gaps: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.lower = np.asarray(self.lower, dtype=np.float64)
        self.upper = np.asarray(self.upper, dtype=np.float64)
        self.point = np.asarray(self.point, dtype=bool)
        if self.integer:
            draw_max = self.upper - 1.0
        else:
            draw_max = np.where(self.point, self.lower, np.nextafter(self.upper, -np.inf))
            if len(draw_max) and not self.point[-1]:
                draw_max[-1] = self.upper[-1]  # the last float bin includes the column's maximum
        self._draw_max = draw_max
        width = self.upper - self.lower
        self._draw_width = width if self.integer else np.where(self.point, 0.0, width)
        self._has_gaps = bool(np.any(self.upper[:-1] < self.lower[1:]))

    @property
    def n_bins(self) -> int:
        return len(self.lower)

    @property
    def null_code(self) -> Optional[int]:
        return 0 if self.has_null else None

    @property
    def n_codes(self) -> int:
        return self.n_bins + int(self.has_null)

    @property
    def value_range(self) -> tuple:
        """(smallest, largest) value a decoded row can take."""
        return float(self.lower[0]), float(self._draw_max[-1])

    def bin_of(self, values: np.ndarray) -> np.ndarray:
        """The bin of each (non-null) value: the bin holding it, or the nearest bin."""
        last = self.n_bins - 1
        index = np.searchsorted(self.lower, values, side="right") - 1
        np.clip(index, 0, last, out=index)
        if self._has_gaps:
            following = np.minimum(index + 1, last)
            past_upper = values - self.upper[index]
            nearer_next = (index < last) & (past_upper >= 0) & (self.lower[following] - values < past_upper)
            index += nearer_next
        return index

    def encode(self, values: np.ndarray) -> np.ndarray:
        """Codes of float values (NaN is null); a null without a null code takes the first bin's code."""
        values = np.asarray(values, dtype=np.float64)
        codes = self.bin_of(values)  # NaN sorts last: replaced below
        null = np.isnan(values)
        if self.has_null:
            codes += 1
        codes[null] = 0
        return codes

    def decode(self, codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A float value drawn uniformly inside each code's bin (NaN for the null code; all NaN for a column
        that had no value in the source). Computed in place on a few arrays of the rows (the values are
        those of lower + floor(u * width), or lower + u * width, capped at the bin's highest value)."""
        codes = np.asarray(codes, dtype=np.int64)
        if self.strategy == EMPTY:
            return np.full(len(codes), np.nan)
        null = None
        index = codes
        if self.has_null:
            index = codes - 1
            null = index < 0
            np.maximum(index, 0, out=index)
        lower = self.lower.take(index)
        values = rng.random(len(index))
        values *= self._draw_width.take(index)
        if self.integer:
            np.floor(values, out=values)
        np.add(lower, values, out=values)
        highest = self._draw_max.take(index)
        np.minimum(values, highest, out=values)
        if self.step > 0:
            values = snap(values, lower, highest, self.step, self.anchor)
        if null is not None:
            values[null] = np.nan
        return values

    def counts(self, values: np.ndarray) -> np.ndarray:
        """How many of the (non-null) values fall in each bin."""
        return np.bincount(self.bin_of(values), minlength=self.n_bins)

    def keep(self, mask: np.ndarray) -> BinnedDomain:
        """Only the bins where `mask` holds (at least one bin is always kept)."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            mask = np.zeros(self.n_bins, dtype=bool)
            mask[0] = True
        return BinnedDomain(
            self.lower[mask],
            self.upper[mask],
            self.point[mask],
            self.integer,
            self.has_null,
            self.strategy,
            self.step,
            self.anchor,
        )

    def to_json(self) -> Dict[str, Any]:
        low, high = self.value_range
        return {
            "integer": self.integer,
            "has_null": self.has_null,
            "n_bins": self.n_bins,
            "strategy": self.strategy,
            "n_points": int(self.point.sum()),
            "range": [low, high],
            **({"step": self.step, "anchor": self.anchor} if self.step > 0 else {}),
        }

    def arrays(self, prefix: str = "") -> Dict[str, np.ndarray]:
        return {f"{prefix}lower": self.lower, f"{prefix}upper": self.upper, f"{prefix}point": self.point}

    @classmethod
    def from_parts(cls, data: Dict[str, Any], arrays: Dict[str, np.ndarray], prefix: str = "") -> BinnedDomain:
        return cls(
            lower=arrays[f"{prefix}lower"],
            upper=arrays[f"{prefix}upper"],
            point=arrays[f"{prefix}point"],
            integer=bool(data["integer"]),
            has_null=bool(data["has_null"]),
            strategy=str(data.get("strategy", UNIFORM)),
            step=float(data.get("step", 0.0)),
            anchor=float(data.get("anchor", 0.0)),
        )


def skewness(values: np.ndarray, weights: Optional[np.ndarray] = None) -> float:
    """Sample skewness (third standardised moment), optionally weighted; 0 without spread."""
    total = float(len(values) if weights is None else weights.sum())
    if len(values) < 3 or total <= 0:
        return 0.0
    mean = float(values.sum() if weights is None else np.dot(weights, values)) / total
    centred = values - mean
    squared = centred * centred
    variance = float(squared.sum() if weights is None else np.dot(weights, squared)) / total
    if variance <= 0:
        return 0.0
    third = float(np.dot(squared, centred) if weights is None else np.dot(weights, squared * centred)) / total
    return third / variance**1.5


def choose_strategy(
    column_strategy: Optional[str], default_strategy: str, skew_threshold: Optional[float], skew: float
) -> str:
    """The column's own `bin_strategy` wins; otherwise a column skewed past the threshold is quantile-binned."""
    if column_strategy is not None:
        return column_strategy
    if skew_threshold is not None and abs(skew) > skew_threshold:
        return QUANTILE
    return default_strategy


def uniform_edges(low: float, high: float, n_bins: int) -> np.ndarray:
    return spaced(low, high, n_bins + 1)


def spaced(low: float, high: float, count: int) -> np.ndarray:
    """`count` evenly spaced values from `low` to `high`, like `np.linspace`, without computing `high - low`:
    that overflows float64 for a range such as -1e308..1e308, and every edge would be inf or NaN."""
    position = np.linspace(0.0, 1.0, count)
    values = low * (1.0 - position) + high * position
    values[0], values[-1] = low, high
    return values


def quantile_edges_from_sorted(sorted_values: np.ndarray, low: float, high: float, n_bins: int) -> np.ndarray:
    """Edges at equally spaced quantiles of sorted values (linear interpolation), spanning [low, high]."""
    if len(sorted_values) == 0:
        return uniform_edges(low, high, n_bins)
    position = np.linspace(0.0, 1.0, n_bins + 1) * (len(sorted_values) - 1)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, len(sorted_values) - 1)
    fraction = position - below
    edges = sorted_values[below] + fraction * (sorted_values[above] - sorted_values[below])
    edges[0], edges[-1] = low, high
    return edges


def quantile_edges_from_histogram(
    cell_edges: np.ndarray, cell_weights: np.ndarray, n_bins: int
) -> np.ndarray:
    """Edges at equally spaced quantiles of a (noisy, clipped) histogram over `cell_edges`."""
    weights = np.clip(cell_weights, 0.0, None)
    total = weights.sum()
    if total <= 0:
        return uniform_edges(cell_edges[0], cell_edges[-1], n_bins)
    cumulative = np.concatenate([[0.0], np.cumsum(weights) / total])
    return np.interp(np.linspace(0.0, 1.0, n_bins + 1), cumulative, cell_edges)


def frequent_values(sorted_values: np.ndarray, min_count: float) -> np.ndarray:
    """Values occurring more than `min_count` times in a sorted array."""
    if len(sorted_values) == 0:
        return np.empty(0)
    starts = np.flatnonzero(np.concatenate([[True], sorted_values[1:] != sorted_values[:-1]]))
    run_lengths = np.diff(np.append(starts, len(sorted_values)))
    return sorted_values[starts[run_lengths > min_count]]


def bins_from_edges(
    edges: np.ndarray,
    points: Sequence[float],
    *,
    integer: bool,
    has_null: bool,
    strategy: str,
) -> BinnedDomain:
    """Bins between consecutive edges (edges[0] is the minimum, edges[-1] the maximum), each point in
    `points` split out as a bin of its own."""
    edges = np.unique(np.asarray(edges, dtype=np.float64))
    low, high = float(edges[0]), float(edges[-1])
    if integer:
        low, high = float(np.floor(low)), float(np.ceil(high))
        bounds = np.unique(np.ceil(edges[1:-1]))
        bounds = bounds[(bounds > low) & (bounds <= high)]
        bounds = np.concatenate([[low], bounds, [high + 1.0]])
        lower, upper = bounds[:-1], bounds[1:]
        point = np.zeros(len(lower), dtype=bool)
    elif len(edges) == 1:
        lower, upper, point = np.array([low]), np.array([np.nextafter(low, np.inf)]), np.array([True])
    else:
        lower, upper, point = edges[:-1], edges[1:], np.zeros(len(edges) - 1, dtype=bool)
    pieces = list(zip(lower.tolist(), upper.tolist(), point.tolist()))
    for value in sorted({float(v) for v in points if low <= v <= high}):
        pieces = _split_at(pieces, value, integer)
    lower, upper, point = (np.array(part) for part in zip(*pieces))
    return BinnedDomain(lower, upper, point, integer, has_null, strategy)


def _split_at(pieces: list, value: float, integer: bool) -> list:
    """Split the bin holding `value` into [lower, value), {value}, (value, upper)."""
    lowers = [piece[0] for piece in pieces]
    index = max(0, int(np.searchsorted(lowers, value, side="right")) - 1)
    lower, upper, is_point = pieces[index]
    if is_point or (integer and upper - lower == 1):
        pieces[index] = (lower, upper, True)
        return pieces
    last = index == len(pieces) - 1
    after = value + 1.0 if integer else float(np.nextafter(value, np.inf))
    replacement = []
    if lower < value:
        replacement.append((lower, value, False))
    replacement.append((value, after, True))
    if after < upper or (not integer and last and value < upper):
        replacement.append((after, upper, False))
    return pieces[:index] + replacement + pieces[index + 1 :]
