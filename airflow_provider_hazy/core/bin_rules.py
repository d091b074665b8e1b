"""The engine's own binning rules, applied where the configuration leaves a choice to it.

Every configurator default stays what it is; these rules say what the engine does with it:

- **Point masses** (`single_threshold: null`, the default): a numeric or datetime value held by more than
  `POINT_SHARE` of the rows gets a bin of its own (a *point bin*, decoded to exactly that value). An explicit
  `single_threshold` sets the share instead. Without `processing_epsilon` the frequent values are read from
  the data; with it they are the candidates whose Laplace count passes the threshold (`dp_preprocessing`,
  charged to the column's share of `processing_epsilon`). Without `processing_epsilon`, a column with at most
  as many distinct values as bins (`DISTINCT_POINTS`, e.g. an integer column holding 0, 5 and 100) is
  encoded by its distinct values only: every value a point bin, no bins between them.
- **Skewed columns** (`skew_threshold: null`, the default): a column whose absolute skewness exceeds
  `SKEW_THRESHOLD` takes quantile bins (a heavy tail would otherwise put nearly every row into the first of
  equal-width bins); a column's own `bin_strategy` still wins, an explicit `skew_threshold` sets the
  threshold.
- **Bins per column** (`n_bins`, default 100, is the most a column gets): a column gets at most
  `budget_bins(n, epsilon, d)` bins: the square root of the largest count table that is theta-useful for the
  table's budget (`privbayes.usefulness_max_cells`), so that a child with one parent of as many codes still
  fits the table, and at most the cube root of n (the histogram rule of thumb; finer bins let sampling noise
  steer the structure search), never fewer than `MIN_BINS`. A column's own `n_bins` is used as it is.

Within a bin (the *within-bin model*, `binning.BinnedDomain.decode`): a point bin decodes to its value; an
integer bin to one of its integers, uniformly; a float or datetime bin uniformly between its edges. Skewed
columns get quantile bins, so each bin is a slice of roughly equal mass where the density is close to flat.
Without `processing_epsilon`, a numeric column whose values lie on a grid (`value_grid`: integers a multiple
of g apart, floats with at most 6 decimals) decodes to the nearest grid point inside the drawn bin.

The measurements that chose the constants are in docs/privacy.md ("Bins at the defaults").
"""

from __future__ import annotations

import math
from typing import Optional

from ..config.model_parameters import ProcessingParams
from .privacy import STRUCTURE_BUDGET_FRACTION, USEFULNESS_THETA

POINT_SHARE = 0.01
"""A value held by more than this share of rows gets a bin of its own when `single_threshold` is None."""
SKEW_THRESHOLD = 1.0
"""Absolute skewness above which a column takes quantile bins when `skew_threshold` is None."""
MIN_BINS = 8
"""The fewest bins the budget rule gives a column (fewer than `n_bins` only when the budget is small)."""
DISTINCT_POINTS = True
"""Whether a non-private column with at most `n_bins` distinct values is encoded by those values only."""


def point_share(params: ProcessingParams, n_bins: Optional[int] = None) -> float:
    """The share of rows above which a value gets a point bin: `single_threshold`, else the larger of
    `POINT_SHARE` and half a bin's share of rows, 1 / (2 n_bins) (a point holds at least half a bin)."""
    if params.single_threshold is not None:
        return float(params.single_threshold)
    return max(POINT_SHARE, 0.5 / (n_bins or params.n_bins))


def skew_threshold(params: ProcessingParams) -> float:
    """The skewness above which a column is quantile-binned: `skew_threshold`, else `SKEW_THRESHOLD`."""
    return SKEW_THRESHOLD if params.skew_threshold is None else float(params.skew_threshold)


def distinct_points(params: ProcessingParams) -> bool:
    """Whether the engine's rule of encoding a few-valued column by its values applies (only with the
    default `single_threshold`: an explicit one is the user's rule)."""
    return DISTINCT_POINTS and params.single_threshold is None


def budget_bins(n_rows: int, epsilon: Optional[float], n_columns: int) -> int:
    """The most bins a column of a table of `n_rows` rows and `n_columns` modelled columns can afford under
    the table's `epsilon`: the smaller of floor(sqrt(n (1 - beta) epsilon / (2 d theta))) (the noise) and
    ceil(n ** (1/3)) (the sample: finer bins inflate the mutual information the structure search reads, and
    it then prefers spurious edges of many-valued columns), at least `MIN_BINS`. Public values only."""
    sample_bins = math.ceil(max(n_rows, 1) ** (1.0 / 3.0))
    if epsilon is None or not math.isfinite(epsilon) or n_columns <= 0:
        return max(MIN_BINS, sample_bins)
    max_cells = n_rows * (1.0 - STRUCTURE_BUDGET_FRACTION) * epsilon / (2.0 * n_columns * USEFULNESS_THETA)
    return max(MIN_BINS, min(sample_bins, int(math.floor(math.sqrt(max(max_cells, 0.0))))))


def resolve_params(params: ProcessingParams, n_rows: int, n_columns: int, epsilon: Optional[float]) -> ProcessingParams:
    """`params` with `n_bins` lowered to what the table's `epsilon` (None: `params.epsilon`, if any) affords
    (`budget_bins`); every other setting as it is (the point and skew rules read the None values themselves)."""
    if epsilon is None:
        epsilon = getattr(params, "epsilon", None)
    affordable = budget_bins(n_rows, epsilon, n_columns)
    if affordable >= params.n_bins:
        return params
    return params.model_copy(update={"n_bins": affordable})
