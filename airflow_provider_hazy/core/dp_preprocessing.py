"""Differentially private preprocessing statistics, used when `processing_epsilon` is set.

Neighbouring datasets differ in one replaced row and the row count n is public (DESIGN.md). Each function
reads the source column through one Laplace mechanism over cells fixed without looking at the data, and
charges it to the ledger; everything derived from the noisy counts is post-processing.

- null count: Laplace on the count (sensitivity 1); a null code exists when the noisy count exceeds
  scale * ln(1 / `NULL_CODE_P_FAIL`) (about 14 scales): a column without nulls gets a null code, and so
  nulls in its output, with probability below `NULL_CODE_P_FAIL` (1e-6), while a missed null code of a few
  rows only turns those rows into values (the former 3 scales gave a column without nulls a null code in
  2.5% of trainings: nulls in a NOT NULL column). The column is taken as all null (no value codes at all,
  as for an all-null column without DP) when the noisy non-null count n - noisy nulls is below
  scale * ln(1 / (2 `ALL_NULL_P`)): for a truly all-null column the Laplace tail passes that with
  probability `ALL_NULL_P`. This is post-processing of the same noisy count: no extra charge.
- range, in two steps (after ApproxBounds): a histogram over magnitude cells (signed powers of two for
  numbers, decades 1700-2260 for dates) gives the first and last occupied magnitude, a cell being occupied
  when its noisy count exceeds scale * ln(cells / `P_FAIL`) (noise alone marks some cell occupied with
  probability below `P_FAIL`); a histogram over fine cells between them trims the range to its noisy
  `RANGE_QUANTILE` and 1 - `RANGE_QUANTILE` quantiles (noise in empty cells widens the range rather than
  cutting data). The fine histogram also gives quantile edges, the skewness and the empty bins. Both
  histograms have sensitivity 2 (a replaced row leaves one cell and enters another). The number of fine
  cells grows with n * epsilon (from public values) so that the noise stays a small fraction of the mass:
  with a weak budget the bins are coarse rather than wrong.
  The exponential mechanism over a wide candidate grid is not used: with a small epsilon it is close to
  uniform over the (mostly empty) grid, so the range it picks is mostly noise.
- frequent values (`single_threshold`): Laplace on the exact-match counts of candidate values inside the
  private range (every integer of a short integer range, else the round numbers / days of the grid;
  sensitivity 2), kept above max(single_threshold * n, the occupancy threshold).
- category value type (`private_value_type`): Laplace on the number of rows whose value is a boolean, a
  whole number, another number or text (sensitivity 2); the narrowest type that no occupied class contradicts
  (text > number > bool, float > int), so one replaced row cannot flip the stored type. A class counts as
  occupied only past a false-alarm probability of `VALUE_TYPE_P_FAIL` (1e-6), not the range steps' P_FAIL:
  a false "text" writes a whole integer column as text, while a missed class of a few rows only turns
  those rows' unconvertible values into nulls.
- category domain: Laplace on the count of every observed category and of nulls (sensitivity 2), keeping a
  category when its noisy count exceeds 1 + (2 / epsilon) ln(1 / delta). With no public domain this is
  (epsilon, delta)-DP with delta = `CATEGORY_DELTA` per column: a category held by a single row is released
  with probability at most delta / 2, and a replaced row can create at most two such categories.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np
import pandas as pd

from .privacy import COUNT_MECHANISM, BudgetLedger, noisy_counts

PURPOSE = "preprocessing"
P_FAIL = 0.05
RANGE_QUANTILE = 0.005
NULL_CODE_P_FAIL = 1e-6
ALL_NULL_P = 1e-6
VALUE_TYPE_P_FAIL = 1e-6
CATEGORY_DELTA = 1e-6
EMPTY_BIN_SIGMAS = 2.0
NOISE_MASS_FRACTION = 0.1
MIN_FINE_CELLS, MAX_FINE_CELLS = 16, 1024
# Candidate round numbers: 0 and +-m * 10**e for three-significant-digit mantissas m.
_MANTISSAS = np.arange(100, 1000) / 100.0
_EXPONENTS = np.arange(-4, 16)
_FIRST_YEAR, _LAST_YEAR = 1700, 2261


def split_budget(total: float, n_parts: int) -> List[float]:
    """`n_parts` equal shares of `total`; the last is what remains, so the shares sum to `total`."""
    share = total / n_parts
    shares = [share] * (n_parts - 1)
    return shares + [total - math.fsum(shares)]


@dataclass
class PrivateColumn:
    """One column's share of `processing_epsilon`, spent in `n_steps` equal charges to the ledger."""

    table: str
    column: str
    epsilon: float
    n_steps: int
    ledger: BudgetLedger
    _shares: List[float] = field(init=False, repr=False)
    null_scale: Optional[float] = field(default=None, init=False)
    """The noise scale of the column's null count, once drawn (`private_null_count`)."""
    all_null: bool = field(default=False, init=False)
    """Whether the noisy counts say the column has no values (`no_values`): set by the null count draw."""

    def no_values(self, n_rows: int, noisy_null_count: float) -> bool:
        """Whether the noisy non-null count is below the all-null threshold (post-processing, no charge)."""
        if self.null_scale is None:
            return False
        return n_rows - noisy_null_count < self.null_scale * math.log(1.0 / (2.0 * ALL_NULL_P))

    def __post_init__(self) -> None:
        self._shares = split_budget(self.epsilon, max(self.n_steps, 1))

    @property
    def steps_left(self) -> int:
        return len(self._shares)

    @property
    def next_epsilon(self) -> float:
        """The share the next mechanism will spend."""
        return self._shares[0]

    def spend(
        self, mechanism: str, sensitivity: float, scale_per_epsilon: float, detail: str, delta: float = 0.0
    ) -> float:
        """Charge the next share (with the mechanism's `delta`, if it has one); returns its epsilon."""
        if not self._shares:
            raise RuntimeError(f"column '{self.column}': more preprocessing steps than planned")
        epsilon = self._shares.pop(0)
        self.ledger.charge(
            table=self.table,
            purpose=PURPOSE,
            mechanism=mechanism,
            epsilon=epsilon,
            sensitivity=sensitivity,
            scale=scale_per_epsilon / epsilon,
            detail=f"column '{self.column}': {detail}",
            delta=delta,
        )
        return epsilon

    def laplace(
        self, true_values: np.ndarray, sensitivity: float, detail: str, delta: float = 0.0
    ) -> Tuple[np.ndarray, float]:
        """Discrete Laplace noise added to integer counts (L1 `sensitivity`), drawn by the ledger's noise
        source; returns the noisy counts (float64) and the scale."""
        epsilon = self.spend(COUNT_MECHANISM, sensitivity, sensitivity, detail, delta)
        scale = sensitivity / epsilon
        return noisy_counts(np.asarray(true_values), scale, self.ledger.noise), scale


def number_grid(integer: bool) -> np.ndarray:
    """Data-independent candidate values for a numeric range: 0 and +-m * 10**e, sorted."""
    positives = (_MANTISSAS[None, :] * 10.0 ** _EXPONENTS[:, None]).ravel()
    if integer:
        positives = np.round(positives)
        positives = positives[positives >= 1]
    positives = np.unique(positives)
    return np.concatenate([-positives[::-1], [0.0], positives])


def magnitude_edges() -> np.ndarray:
    """Cells of the first range step for numbers: signed powers of two from 2**-20 to 2**64 (and a cell
    around zero)."""
    positives = 2.0 ** np.arange(-20, 65)
    return np.concatenate([-positives[::-1], positives])


def decade_edges(per_day: float) -> np.ndarray:
    """Cells of the first range step for dates: decades 1700-2260, in the column's unit."""
    years = np.arange(_FIRST_YEAR, _LAST_YEAR + 10, 10).astype(str).astype("datetime64[Y]")
    return years.astype("datetime64[D]").astype(np.int64).astype(np.float64) * per_day


def day_grid(per_day: float) -> np.ndarray:
    """Candidate instants: the start of every day from 1700 to 2260, in the column's unit."""
    days = np.arange(np.datetime64(f"{_FIRST_YEAR}-01-01"), np.datetime64(f"{_LAST_YEAR}-01-01"))
    return days.astype(np.int64).astype(np.float64) * per_day


def fine_cell_count(n_present: float, epsilon: float) -> int:
    """Fine cells such that the expected clipped noise mass (about 1 / epsilon per cell) stays near
    `NOISE_MASS_FRACTION` of the rows; from public values only."""
    cells = int(NOISE_MASS_FRACTION * max(n_present, 0.0) * epsilon)
    return int(np.clip(cells, MIN_FINE_CELLS, MAX_FINE_CELLS))


def occupancy_threshold(n_cells: int, scale: float) -> float:
    """A noisy count above this is taken as a real occupied cell (false alarm anywhere below P_FAIL)."""
    return scale * math.log(max(n_cells, 1) / P_FAIL)


def occupied_cells(noisy_counts: np.ndarray, scale: float) -> Tuple[int, int]:
    """(first, last) index of the occupied cells; the fullest cell when none passes the threshold."""
    occupied = np.flatnonzero(noisy_counts > occupancy_threshold(len(noisy_counts), scale))
    if len(occupied) == 0:
        fullest = int(np.argmax(noisy_counts))
        return fullest, fullest
    return int(occupied[0]), int(occupied[-1])


def quantile_cells(noisy_counts: np.ndarray) -> Tuple[int, int]:
    """(first, last) index of the cells holding the RANGE_QUANTILE and 1 - RANGE_QUANTILE quantiles of the
    clipped noisy counts."""
    weights = np.clip(noisy_counts, 0.0, None)
    total = weights.sum()
    if total <= 0:
        return 0, len(noisy_counts) - 1
    cumulative = np.cumsum(weights) / total
    first = int(np.searchsorted(cumulative, RANGE_QUANTILE, side="right"))
    last = int(np.searchsorted(cumulative, 1.0 - RANGE_QUANTILE, side="left"))
    return min(first, len(noisy_counts) - 1), max(min(last, len(noisy_counts) - 1), first)


def null_code_threshold(scale: float) -> float:
    """A noisy null count above this gives the column a null code: noise alone passes it with probability
    below `NULL_CODE_P_FAIL` (the discrete Laplace tail P(noise > t) is below exp(-t / scale))."""
    return scale * math.log(1.0 / NULL_CODE_P_FAIL)


def private_null_count(null_count: int, private: PrivateColumn) -> Tuple[float, bool]:
    """The noisy null count and whether the column gets a null code."""
    noisy, scale = private.laplace(np.array([null_count]), 1.0, "null count")
    private.null_scale = scale
    return float(noisy[0]), bool(noisy[0] > null_code_threshold(scale))


def private_histogram(
    sorted_values: np.ndarray, cell_edges: np.ndarray, private: PrivateColumn, what: str
) -> Tuple[np.ndarray, float]:
    """Noisy counts of the cells between `cell_edges` (values beyond the ends count in the end cells)."""
    inner = np.searchsorted(sorted_values, cell_edges[1:-1], side="left")
    counts = np.diff(np.concatenate([[0], inner, [len(sorted_values)]]))
    return private.laplace(counts, 2.0, f"{what} histogram of {len(counts)} cells")


def private_frequent_values(
    sorted_values: np.ndarray, candidates: np.ndarray, min_count: float, private: PrivateColumn
) -> np.ndarray:
    """Candidates whose noisy exact-match count exceeds `min_count` (single_threshold * n)."""
    counts = np.searchsorted(sorted_values, candidates, side="right") - np.searchsorted(
        sorted_values, candidates, side="left"
    )
    noisy, scale = private.laplace(counts, 2.0, f"exact counts of {len(candidates)} candidate values")
    return candidates[noisy > max(min_count, occupancy_threshold(len(candidates), scale))]


VALUE_CLASSES = ("bool", "int", "float", "str")


def value_class_counts(counts: pd.Series) -> np.ndarray:
    """Rows per value class (bool, whole number, other number, text) from a column's counts per distinct
    value: the classes are read off the distinct values, never row by row."""
    values = pd.Series(counts.index.to_numpy(dtype=object))
    weights = counts.to_numpy(dtype=np.int64)
    is_bool = values.map(lambda value: isinstance(value, (bool, np.bool_))).to_numpy(dtype=bool)
    numbers = pd.to_numeric(values.where(~is_bool), errors="coerce").to_numpy(dtype=np.float64)
    is_number = ~is_bool & np.isfinite(numbers) & ~values.map(lambda value: isinstance(value, str)).to_numpy(bool)
    whole = is_number & (numbers == np.round(numbers))
    classes = np.select([is_bool, whole, is_number], [0, 1, 2], default=3)
    return np.bincount(classes, weights=weights, minlength=4).astype(np.int64)


def private_value_type(counts: pd.Series, private: PrivateColumn) -> str:
    """A category column's value type from noisy class counts (`value_class_counts`): 'str' when text is
    present (or booleans mixed with numbers), else 'bool', 'float' or 'int' (also for an empty column)."""
    noisy, scale = private.laplace(value_class_counts(counts), 2.0, "value type (rows per value class)")
    threshold = scale * math.log(len(VALUE_CLASSES) / VALUE_TYPE_P_FAIL)
    present = dict(zip(VALUE_CLASSES, noisy > threshold))
    if present["str"] or (present["bool"] and (present["int"] or present["float"])):
        return "str"
    if present["bool"]:
        return "bool"
    return "float" if present["float"] else "int"


def private_category_domain(
    category_counts: pd.Series, null_count: int, private: PrivateColumn, delta: float = CATEGORY_DELTA
) -> Tuple[pd.Series, bool]:
    """Observed categories whose noisy count passes the (epsilon, delta) threshold, with their noisy counts,
    and whether the column gets a null code; none (and `private.all_null` set) when the noisy null count
    says the column has no values (`PrivateColumn.no_values`)."""
    true_counts = np.append(category_counts.to_numpy(dtype=np.float64), float(null_count))
    noisy, scale = private.laplace(true_counts, 2.0, f"category counts (domain discovery, delta={delta:g})", delta)
    threshold = 1.0 + scale * math.log(1.0 / delta)
    noisy_categories = pd.Series(noisy[:-1], index=category_counts.index)
    private.null_scale = scale
    n_rows = int(category_counts.sum()) + int(null_count)  # the public row count
    if private.no_values(n_rows, float(noisy[-1])):
        private.all_null = True  # no category and no other-bucket: the column decodes to null
        return noisy_categories.iloc[:0], True
    return noisy_categories[noisy_categories > threshold], bool(noisy[-1] > null_code_threshold(scale))
