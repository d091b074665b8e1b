"""One way to turn a real and a synthetic column into aligned integer bins, used by every metric.

The bins are fitted on the REAL column only, then applied to any other frame (synthetic, held-out real):

- numeric (integer, float, age) and datetime (datetime, date) columns: with at most `n_bins` distinct real
  values, one bin per distinct value (cut at the midpoints between them); otherwise every *point mass* (a
  real value held by more than `POINT_SHARE` of the rows and half a bin's share, 1 / (2 n_bins)) gets a bin
  holding exactly that value, and the other values are cut into the remaining bins at their quantiles
  (`strategy="quantile"`, the default) or at equal-width steps between the real minimum and maximum
  (`strategy="uniform"`). A model that loses a point mass (decodes 0 as 0 < x < 500) is then seen to:
  the synthetic rows leave the point's bin. These bins depend on the real data only, never on the model's.
  The outer bins are open, so values outside the real range fall into the
  first or last bin. Datetimes are binned as seconds since the epoch (UTC); text that does not parse
  (with the column's `format`, or ISO 8601) counts as null.
- categorical columns (category, bool, and every other type): the `max_categories` most frequent real
  values, one bin each, then an "(other)" bin for every other value (rarer real values, values never
  seen in the real column). Values compare as they are, or by their text when one side is numeric and
  the other is not (a CSV round trip turns `1` into `"1"`).
- nulls (and unparseable datetimes) get a bin of their own, always the last one ("(null)").

Every code array is int64 in [0, n_codes), so joint counts are a `bincount` of `codes_a * n_b + codes_b`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Tuple

import numpy as np
import pandas as pd

from ..config.schema import BaseTable
from ..core.binning import spaced
from ..core.datetime_text import parse_fixed_width

N_BINS = 20
MAX_CATEGORIES = 50
POINT_SHARE = 0.01
NUMERIC_TYPES = ("integer", "float", "age")
DATETIME_TYPES = ("datetime", "date")
KEY_TYPES = ("id", "foreign_key")
FAKED_TYPES = ("person", "location")  # drawn from Faker, never modelled: no dependence on other columns
NULL_LABEL = "(null)"
OTHER_LABEL = "(other)"


def column_kind(column_type: Optional[str], series: pd.Series) -> str:
    """'numeric', 'datetime' or 'category': from the schema type, or from the dtype without one."""
    if column_type is not None:
        if column_type in NUMERIC_TYPES:
            return "numeric"
        if column_type in DATETIME_TYPES:
            return "datetime"
        return "category"
    if pd.api.types.is_bool_dtype(series.dtype):
        return "category"
    if pd.api.types.is_numeric_dtype(series.dtype):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return "datetime"
    return "category"


def datetime_seconds(series: pd.Series, datetime_format: Optional[str] = None) -> np.ndarray:
    """Seconds since the epoch (UTC) as float64, NaN for nulls and text that does not parse."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        values = series.dt.tz_convert(None)
    elif pd.api.types.is_datetime64_dtype(series.dtype):
        values = series
    else:
        fast = parse_fixed_width(series, datetime_format or _iso_format(series))
        if fast is not None and fast[1].any():
            # text of a fixed-width numeric format, read from its bytes; pandas reads the rows it did not
            micro, parsed = fast
            seconds = micro.view(np.int64) / 1e6
            rest = np.flatnonzero(~parsed)
            if len(rest):
                seconds[rest] = datetime_seconds(series.iloc[rest], datetime_format)
            return seconds
        values = pd.to_datetime(series, errors="coerce", format=datetime_format or "ISO8601", utc=True)
        values = values.dt.tz_convert(None)
    # through microseconds, not nanoseconds: years 1 to 9999 stay in range
    micro = np.asarray(values.to_numpy()).astype("datetime64[us]")
    seconds = micro.astype(np.int64) / 1e6
    seconds[np.isnat(micro)] = np.nan
    return seconds


def _iso_format(series: pd.Series) -> str:
    """The fixed-width ISO-8601 format of the first value of a text column ('' when none fits): what the
    ISO-8601 parser reads those values as."""
    if not (pd.api.types.is_string_dtype(series.dtype) and series.dtype != object):
        return ""
    index = series.first_valid_index()
    first = str(series[index]) if index is not None else ""
    if len(first) == 10:
        return "%Y-%m-%d"
    if len(first) == 19 and first[10] in " T":
        return f"%Y-%m-%d{first[10]}%H:%M:%S"
    return ""


def numeric_values(series: pd.Series) -> np.ndarray:
    """The column as float64, NaN for nulls and values that are not numbers."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)


def _format_number(value: float) -> str:
    return f"{value:.6g}"


def _format_edge(value: float, kind: str) -> str:
    if kind == "datetime":  # microseconds: years 1 to 9999, where pandas' nanoseconds end in 2262
        return str(np.datetime64(int(round(value * 1e6)), "us")) if np.isfinite(value) else str(value)
    return _format_number(value)


@dataclass(frozen=True)
class ColumnBins:
    """The bins of one column, fitted on its real values; `codes` applies them to any frame's column."""

    kind: str
    labels: Tuple[str, ...]
    cuts: Optional[np.ndarray] = None  # numeric/datetime: interior cut points, ascending
    categories: Optional[pd.Index] = None  # category: the real values that get a bin of their own
    numeric_categories: bool = False  # the real categorical column is numeric (for text comparison)
    datetime_format: Optional[str] = None

    @property
    def n_codes(self) -> int:
        """Number of bins, the null bin included."""
        return len(self.labels)

    @property
    def null_code(self) -> int:
        return self.n_codes - 1

    def values(self, series: pd.Series) -> np.ndarray:
        """A numeric or datetime column as float64 (seconds for datetimes), NaN for nulls."""
        if self.kind == "datetime":
            return datetime_seconds(series, self.datetime_format)
        return numeric_values(series)

    def codes(self, series: pd.Series) -> np.ndarray:
        """The bin of every row of `series` (int64, null bin last)."""
        if self.kind == "category":
            return self._category_codes(series)
        values = self.values(series)
        codes = np.searchsorted(self.cuts, values, side="right").astype(np.int64)
        codes[np.isnan(values)] = self.null_code
        return codes

    def _category_codes(self, series: pd.Series) -> np.ndarray:
        if _is_numeric(series) != self.numeric_categories:
            found = self.categories.astype(str).get_indexer(series.astype(str))
        else:
            found = self.categories.get_indexer(series)
        other = len(self.categories)
        codes = np.where(found >= 0, found, other).astype(np.int64)
        codes[series.isna().to_numpy()] = self.null_code
        return codes


def fit_column_bins(
    real: pd.Series,
    column_type: Optional[str] = None,
    *,
    datetime_format: Optional[str] = None,
    n_bins: int = N_BINS,
    strategy: str = "quantile",
    max_categories: int = MAX_CATEGORIES,
) -> ColumnBins:
    """The bins of a column, fitted on its real values (see the module docstring)."""
    if n_bins < 1:
        raise ValueError(f"column '{real.name}': n_bins must be >= 1")
    if strategy not in ("quantile", "uniform"):
        raise ValueError(f"column '{real.name}': strategy must be 'quantile' or 'uniform', not '{strategy}'")
    kind = column_kind(column_type, real)
    if kind == "category":
        counts = real.dropna().value_counts(sort=True)
        categories = pd.Index(counts.index[:max_categories])
        labels = tuple(str(value) for value in categories) + (OTHER_LABEL, NULL_LABEL)
        return ColumnBins(kind, labels, categories=categories, numeric_categories=_is_numeric(real))
    probe = ColumnBins(kind, (NULL_LABEL,), datetime_format=datetime_format)
    values = probe.values(real)
    values = values[~np.isnan(values)]
    cuts, labels = _numeric_cuts(values, kind, n_bins, strategy)
    return ColumnBins(kind, tuple(labels) + (NULL_LABEL,), cuts=cuts, datetime_format=datetime_format)


def point_values(values: np.ndarray, n_bins: int) -> np.ndarray:
    """The real values held by more than `POINT_SHARE` of the rows (and half a bin's share): bins of their own."""
    if len(values) == 0:
        return np.empty(0)
    distinct, counts = np.unique(values, return_counts=True)
    return distinct[counts > max(POINT_SHARE, 0.5 / n_bins) * len(values)]


def _numeric_cuts(values: np.ndarray, kind: str, n_bins: int, strategy: str) -> Tuple[np.ndarray, List[str]]:
    distinct = np.unique(values)
    if len(distinct) == 0:
        return np.empty(0), ["(any)"]
    if len(distinct) <= n_bins:
        cuts = (distinct[:-1] + distinct[1:]) / 2
        return cuts, [_format_edge(value, kind) for value in distinct]
    points = point_values(values, n_bins)
    rest = values[~np.isin(values, points)] if len(points) else values
    n_rest = max(n_bins - len(points), 1)
    if len(rest) == 0:
        edges = np.array([distinct[0], distinct[-1]])
    elif strategy == "quantile":
        edges = np.unique(np.quantile(rest, np.linspace(0.0, 1.0, n_rest + 1)))
    else:
        edges = spaced(distinct[0], distinct[-1], n_rest + 1)
    point_cuts = np.concatenate([points, np.nextafter(points, np.inf)])
    cuts = np.unique(np.concatenate([edges[1:-1], point_cuts]))
    cuts = cuts[(cuts > distinct[0]) & (cuts <= distinct[-1])]
    bounds = np.concatenate([[distinct[0]], cuts, [np.nextafter(distinct[-1], np.inf)]])
    labels = []
    last = len(bounds) - 2
    for index, (low, high) in enumerate(zip(bounds[:-1], bounds[1:])):
        if high == np.nextafter(low, np.inf):
            labels.append(_format_edge(low, kind))
            continue
        after_point = low in set(np.nextafter(points, np.inf).tolist())
        opening = f"({_format_edge(np.nextafter(low, -np.inf), kind)}" if after_point else f"[{_format_edge(low, kind)}"
        closing = f"{_format_edge(distinct[-1], kind)}]" if index == last else f"{_format_edge(high, kind)})"
        labels.append(f"{opening}, {closing}")
    return cuts, labels


@dataclass(frozen=True)
class BinnedPair:
    """A real and a synthetic column as aligned codes of the same bins."""

    bins: ColumnBins
    real: np.ndarray
    synthetic: np.ndarray


def discretise(
    real: pd.Series,
    synthetic: pd.Series,
    column_type: Optional[str] = None,
    *,
    datetime_format: Optional[str] = None,
    n_bins: int = N_BINS,
    strategy: str = "quantile",
    max_categories: int = MAX_CATEGORIES,
) -> BinnedPair:
    """Bins fitted on `real`, applied to both columns."""
    bins = fit_column_bins(
        real,
        column_type,
        datetime_format=datetime_format,
        n_bins=n_bins,
        strategy=strategy,
        max_categories=max_categories,
    )
    return BinnedPair(bins, bins.codes(real), bins.codes(synthetic))


def schema_column_bins(table: BaseTable, name: str, real: pd.Series, **options) -> ColumnBins:
    """`fit_column_bins` with the type and datetime format the schema gives the column."""
    column = table.column(name)
    return fit_column_bins(real, column.type, datetime_format=getattr(column, "format", None), **options)


def metric_columns(table: BaseTable, frames: Iterable[pd.DataFrame], exclude_types: Iterable[str]) -> List[str]:
    """Schema columns of `table` (schema order) present in every frame, leaving out `exclude_types`."""
    frames = list(frames)
    excluded = set(exclude_types)
    return [
        column.name
        for column in table.columns
        if column.type not in excluded and all(column.name in frame.columns for frame in frames)
    ]


def missing_columns(table: BaseTable, frames: Dict[str, pd.DataFrame], exclude_types: Iterable[str]) -> Dict[str, str]:
    """Schema columns a metric would read that some frame lacks: {column: 'not in the <frame> data'}."""
    excluded = set(exclude_types)
    missing: Dict[str, str] = {}
    for column in table.columns:
        if column.type in excluded:
            continue
        lacking = [label for label, frame in frames.items() if column.name not in frame.columns]
        if lacking:
            missing[column.name] = "not in the " + " and ".join(lacking) + " data"
    return missing
