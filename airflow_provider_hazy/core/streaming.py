"""Fitting a table's encoding from a table read in chunks, from mergeable summaries only.

`fit_table_encoding_from_chunks(chunks, ...)` takes `chunks`, a callable that starts a fresh pass over the
table (prepared DataFrames, see `encoding.prepare_frame`). A table held in memory is one chunk: there is
one code path, so a table read in chunks of any size gives the same encoders, byte for byte.

Pass 1 collects, per column, summaries that merge exactly across chunks: row and null counts, minimum
and maximum, the exact counts of every distinct value while a column has at most `DISTINCT_CAP` of them
(categories: always), the values frequent within some chunk (a value frequent in the table is frequent
in at least one chunk), datetime storage, format and resolution, string lengths and uniqueness.

The encoders are then fit from the summaries:

- a column with at most `DISTINCT_CAP` distinct values is binned exactly as from its sorted values
  (quantile edges by rank, frequent values, skewness and empty bins from the exact counts);
- a column with more (a continuous measure) is binned from its minimum and maximum, and, when the
  binning needs more (quantile edges, skewness, `single_threshold`, `drop_empty_bins`), from one more
  pass: an exact histogram over `domains.FINE_CELLS` equal cells between them (quantile edges and skewness
  are then interpolated within a cell) and the exact counts of the candidate frequent values. Empty bins
  are the bins overlapping no occupied cell.
- with `processing_epsilon`, every statistic is the DP release of `dp_preprocessing`, its exact counts
  taken from the distinct counts or from another pass. Noise is added once, to the counts of the whole
  table.

The numeric and datetime bins are `domains.numeric_domain`, the one numeric domain fit (also used in
memory by `domains.fit_bins`): each count it asks for becomes a request here (`_bins`). Past
`DISTINCT_CAP` the histogram's quantile edges are approximate; docs/streaming.md gives the precision.

Each further pass is a list of requests (histograms, exact counts) answered together, column by
column; the random draws happen in the same order whatever the chunking.
Uniqueness (for `drop_unique_violation`) is tracked by value hashes for up to `UNIQUE_CAP` values per
column (2 MB); a column with more is not listed as unique.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Generator, Iterable, List, Optional, Tuple

import numpy as np
import pandas as pd

from ..config.model_parameters import ProcessingParams
from ..config.schema import BaseTable
from .bin_rules import point_share, resolve_params
from .category_encoder import (
    CategoryEncoder,
    as_category_values,
    category_json_value,
    category_value_type,
    warn_if_identifier_like,
)
from .column_encoders import BoolEncoder, NumericEncoder, bin_spec, bool_values, numeric_values, where, with_grid
from .datetime_encoders import (
    DEFAULT_FORMATS,
    PRIVATE_UNIT,
    UNITS_PER_DAY,
    DatetimeEncoder,
    DatetimeSource,
    SplitDatetimeEncoder,
    datetime_spec,
    is_datetime_text,
    is_number_column,
    split_specs,
    to_datetime64,
    to_epochs,
)
from .datetime_text import detect_format
from .domains import BinSpec, ValueSummary, count_sorted, fit_nulls, frequent_categories, numeric_domain
from .dp_preprocessing import (
    PrivateColumn,
    private_category_domain,
    private_value_type,
    split_budget,
)
from .encoding import (
    MODELLED_TYPES,
    NOT_UNIQUE_CHECKED_TYPES,
    Encoder,
    TableEncoding,
    is_text,
    private_steps,
)
from .privacy import BudgetLedger
from .value_grid import GridTracker

DISTINCT_CAP = 1 << 16
"""Most distinct values a numeric or datetime column keeps exact counts of (about 1 MB per column)."""
UNIQUE_CAP = 250_000
"""Most values per column whose hashes are kept to decide whether it is unique (2 MB); a unique key
column of a larger table should be declared as an `id` column."""
_DETECT_VALUES = 20_000  # detect_format reads at most the first 20 * 1000 present values
_US_PER_DAY = 86_400 * 10**6
_US_PER_UNIT = {"D": _US_PER_DAY, "s": 10**6, "us": 1}
"""Datetimes are summarised in microseconds since the epoch: int64 microseconds hold years 1 to 9999, where
pandas' nanoseconds end in 1677 and 2262 (and NumPy's cast to them wraps around silently)."""


def _from_micros(micros: np.ndarray, unit: str) -> np.ndarray:
    """Microsecond epochs in `unit` (floored; nanoseconds by multiplication)."""
    if unit == "ns":
        return micros * 1000
    return np.floor_divide(micros, _US_PER_UNIT[unit])

Chunks = Callable[[], Iterable[pd.DataFrame]]


# Mergeable summaries ----------------------------------------------------------------------------------------


def _merge_counts(
    first: Tuple[np.ndarray, np.ndarray], second: Tuple[np.ndarray, np.ndarray]
) -> Tuple[np.ndarray, np.ndarray]:
    values = np.concatenate([first[0], second[0]])
    counts = np.concatenate([first[1], second[1]])
    uniques, inverse = np.unique(values, return_inverse=True)
    return uniques, np.bincount(inverse, weights=counts, minlength=len(uniques)).astype(np.int64)


@dataclass
class ValueStats:
    """Mergeable summary of a column's non-null values (float64, or int64 nanoseconds for datetimes)."""

    frequent_fraction: Optional[float] = None
    n_present: int = 0
    grid: Optional[GridTracker] = None
    low: Any = None
    high: Any = None
    distinct: Optional[Tuple[np.ndarray, np.ndarray]] = None
    overflowed: bool = False
    candidates: set = field(default_factory=set)
    seen: Optional[np.ndarray] = field(default_factory=lambda: np.empty(0))  # all values, while all distinct

    def update(self, values: np.ndarray, chunk_rows: int) -> None:
        if len(values) == 0:
            return
        uniques, counts = np.unique(values, return_counts=True)
        if self.grid is not None:
            self.grid.update(uniques)
        self._track_unique(uniques, len(values))
        self.n_present += len(values)
        self.low = uniques[0] if self.low is None else min(self.low, uniques[0])
        self.high = uniques[-1] if self.high is None else max(self.high, uniques[-1])
        if self.frequent_fraction is not None:
            self.candidates.update(uniques[counts > self.frequent_fraction * chunk_rows].tolist())
        if not self.overflowed:
            merged = (uniques, counts) if self.distinct is None else _merge_counts(self.distinct, (uniques, counts))
            if len(merged[0]) > DISTINCT_CAP:
                self.distinct, self.overflowed = None, True
            else:
                self.distinct = merged

    def _track_unique(self, uniques: np.ndarray, n_values: int) -> None:
        if self.seen is None:
            return
        repeated = len(uniques) < n_values
        if not repeated and len(self.seen):
            found = np.minimum(np.searchsorted(self.seen, uniques), len(self.seen) - 1)
            repeated = bool(np.any(self.seen[found] == uniques))
        if repeated or len(self.seen) + len(uniques) > UNIQUE_CAP:
            self.seen = None
        else:
            self.seen = np.sort(np.concatenate([self.seen.astype(uniques.dtype), uniques]))

    @property
    def unique(self) -> bool:
        """Whether every non-null value was distinct (False past `UNIQUE_CAP` values)."""
        return self.seen is not None and self.n_present > 1

    def converted(self, transform: Callable[[np.ndarray], np.ndarray]) -> ValueStats:
        """The same summary of `transform(values)` (monotone, exact on these values), as float64."""
        out = ValueStats(self.frequent_fraction, self.n_present, overflowed=self.overflowed)
        if self.n_present:
            out.low = float(transform(np.array([self.low]))[0])
            out.high = float(transform(np.array([self.high]))[0])
        if self.distinct is not None:
            uniques = transform(self.distinct[0]).astype(np.float64)
            out.distinct = _merge_counts((uniques, self.distinct[1]), (np.empty(0), np.empty(0, np.int64)))
        out.candidates = set(transform(np.array(sorted(self.candidates))).astype(np.float64).tolist())
        return out


class UniqueTracker:
    """Whether a column's non-null values are all distinct, kept as the sorted 64-bit hashes of the values
    seen (8 bytes a value), for up to `UNIQUE_CAP` values; a column with more is not called unique. (Two
    distinct values sharing a hash, probability about n^2 / 2^65, make a unique column look not unique.)"""

    def __init__(self) -> None:
        self.seen: Optional[np.ndarray] = np.empty(0, dtype=np.uint64)
        self.n_present = 0

    def update(self, series: pd.Series) -> None:
        if self.seen is None:
            return
        present = series.dropna()
        self.n_present += len(present)
        if not len(present):
            return
        hashes = np.sort(pd.util.hash_array(present.to_numpy()))
        repeated = len(hashes) > 1 and bool(np.any(hashes[1:] == hashes[:-1]))
        if not repeated and len(self.seen):
            found = np.minimum(np.searchsorted(self.seen, hashes), len(self.seen) - 1)
            repeated = bool(np.any(self.seen[found] == hashes))
        if repeated or len(self.seen) + len(hashes) > UNIQUE_CAP:
            self.seen = None
            return
        self.seen = np.sort(np.concatenate([self.seen, hashes]))

    @property
    def unique(self) -> bool:
        return self.seen is not None and self.n_present > 1


class CategoryStats:
    """Exact counts of every raw value, the null count and the value types seen."""

    def __init__(self) -> None:
        self.counts: Optional[pd.Series] = None
        self.n_rows = 0
        self.types: set = set()

    def update(self, series: pd.Series) -> None:
        self.n_rows += len(series)
        present = series.dropna()
        if len(present) == 0:
            return
        self.types.add(category_value_type(series))
        counts = present.value_counts(sort=False)
        self.counts = counts if self.counts is None else self.counts.add(counts, fill_value=0)

    @property
    def value_type(self) -> str:
        if self.types <= {"int"} and self.types:
            return "int"
        if self.types <= {"int", "float"} and self.types:
            return "float"
        if self.types == {"bool"}:
            return "bool"
        if not self.types:
            return "int"  # a column with no values at all (as `category_value_type` says of it)
        return "str"

    def typed_counts(self, value_type: Optional[str] = None) -> pd.Series:
        """Counts keyed by the values in the categories' type, in sorted order (unconvertible: dropped)."""
        if self.counts is None:
            return pd.Series([], dtype=np.int64)
        values = as_category_values(pd.Series(self.counts.index.to_numpy(dtype=object)), value_type or self.value_type)
        typed = pd.Series(self.counts.to_numpy(dtype=np.int64), index=pd.Index(values))
        typed = typed[typed.index.notna()]
        return typed.groupby(level=0, sort=True).sum().astype(np.int64)


class DatetimeStats:
    """Storage and resolution of a date/datetime column and summaries of its instants in nanoseconds."""

    def __init__(
        self, column, params: ProcessingParams, where_: str, fraction: Optional[float], private: bool = False
    ) -> None:
        self.private = private
        self.column, self.params, self.where = column, params, where_
        self.storage: Optional[str] = None
        self.tz: Optional[str] = None
        # private: the declared format or the default one, never one detected from the values
        self.format: Optional[str] = column.format or (DEFAULT_FORMATS[column.type] if private else None)
        self.pending: List[pd.Series] = []
        self.pending_present = 0
        self.all_seconds, self.all_micros = True, True
        self.n_rows, self.n_null = 0, 0
        self.epochs = ValueStats(fraction)
        split = column.type == "datetime" and params.split_time
        self.days = ValueStats(fraction) if split else None
        self.times = ValueStats(fraction) if split else None

    def update(self, series: pd.Series) -> None:
        if self.storage is None:
            if series.notna().sum() == 0:
                self.n_rows += len(series)
                self.n_null += len(series)
                return
            if is_datetime_text(series) or (self.format is not None and is_number_column(series)):
                self.storage = "text"
            else:
                inferred = pd.api.types.infer_dtype(series, skipna=True) if series.dtype == object else ""
                self.storage = "date" if inferred == "date" else "datetime64"
                self.tz = str(series.dtype.tz) if isinstance(series.dtype, pd.DatetimeTZDtype) else None
        if self.storage == "text" and self.format is None:
            self.pending.append(series)
            self.pending_present += int(series.notna().sum())
            if self.pending_present >= _DETECT_VALUES:
                self._detect()
            return
        self._add(series)

    def _detect(self) -> None:
        head = pd.concat(self.pending, ignore_index=True)
        self.format = detect_format(head)
        if self.format is None:
            raise ValueError(
                f"{self.where}: could not detect the date format of the text values; set the column's format"
            )
        pending, self.pending = self.pending, []
        for series in pending:
            self._add(series)

    def _add(self, series: pd.Series) -> None:
        values = to_datetime64(series, self.format, self.where)
        present = ~np.isnat(values)
        if values.dtype == np.dtype("datetime64[ns]"):  # only nanosecond sources can hold sub-microseconds
            ns = values[present].astype(np.int64)
            self.all_micros &= bool(np.all(ns % 1_000 == 0))
        micros = values.astype("datetime64[us]")[present].astype(np.int64)
        self.n_rows += len(values)
        self.n_null += int((~present).sum())
        if len(micros):
            self.all_seconds &= bool(np.all(micros % 1_000_000 == 0))
        self.epochs.update(micros, len(values))
        if self.days is not None:
            days = np.floor_divide(micros, _US_PER_DAY)
            self.days.update(days, len(values))
            self.times.update(micros - days * _US_PER_DAY, len(values))

    def finish(self) -> DatetimeSource:
        if self.pending:
            self._detect()
        column = self.column
        storage = self.storage or "text"
        fmt = self.format
        if storage == "text" and fmt is None:
            fmt = DEFAULT_FORMATS[column.type]
        if column.type == "date":
            unit = "D"
        elif storage == "text":
            unit = "us" if "%f" in fmt else "s"
        elif self.private:
            unit = PRIVATE_UNIT  # a fixed resolution, not read from the values (`detect_source`)
        else:
            unit = "s" if self.all_seconds else ("us" if self.all_micros else "ns")
        return DatetimeSource(storage, unit, fmt if storage == "text" else None, self.tz)


# Requests for further passes --------------------------------------------------------------------------------


@dataclass
class Request:
    """Exact counts over the non-null values of one column part: 'cells' (between edges, the values
    beyond the ends in the end cells) or 'exact' (of each candidate value)."""

    kind: str
    points: np.ndarray
    stats: ValueStats
    values_of: Callable[[pd.DataFrame], np.ndarray]
    answer: Optional[np.ndarray] = None


def _answer_requests(requests: List[Request], chunks: Chunks) -> None:
    """Answer from the exact distinct counts where a column has them, else in one pass over the table."""
    remaining = []
    for request in requests:
        if request.stats.distinct is not None:
            request.answer = count_sorted(request, *request.stats.distinct)
        else:
            request.answer = np.zeros(len(request.points) - (1 if request.kind == "cells" else 0), dtype=np.int64)
            remaining.append(request)
    if not remaining:
        return
    for chunk in chunks():
        for request in remaining:
            request.answer += count_sorted(request, np.sort(request.values_of(chunk)))


# Bins from summaries ----------------------------------------------------------------------------------------

Fit = Generator[Request, None, Any]


def _bins(stats: ValueStats, n_rows: int, has_null: bool, null_count: int, spec: BinSpec, private, values_of) -> Fit:
    """`domains.numeric_domain` on the column part's summary, each count query it asks answered as a
    request (from the exact distinct counts, or in a further pass over the table)."""
    n_present = float(n_rows) if private is None else n_rows - null_count
    present = stats.n_present > 0
    summary = ValueSummary(
        stats.n_present,
        float(stats.low) if present else 0.0,
        float(stats.high) if present else 0.0,
        stats.distinct,
        np.array(sorted(stats.candidates), dtype=np.float64),
    )
    fit = numeric_domain(summary, n_rows, n_present, has_null, spec, private)
    try:
        query = next(fit)
        while True:
            request = Request(query.kind, query.points, stats, values_of)
            yield request
            query.answer = request.answer
            query = fit.send(query)
    except StopIteration as done:
        return done.value


# Column fitters ---------------------------------------------------------------------------------------------


class _Column:
    """One modelled column: its pass-1 summary and the generator that fits its encoder from it."""

    def __init__(self, column, params: ProcessingParams, table: str, private: bool) -> None:
        self.column, self.params, self.table = column, params, table
        self.where = where(table, column.name)
        self.n_rows, self.n_null, self.n_true = 0, 0, 0
        kind = column.type
        self.spec = bin_spec(column, params, kind == "integer") if kind in ("integer", "float") else None
        fraction = None if private else point_share(params)  # the unresolved n_bins: a superset of the candidates
        if kind == "category":
            self.stats: Any = CategoryStats()
        elif kind in ("datetime", "date"):
            self.stats = DatetimeStats(column, params, self.where, fraction, private=private)
        else:
            self.stats = ValueStats(fraction, grid=None if private else GridTracker(kind == "integer"))

    def set_params(self, params: ProcessingParams) -> None:
        """The settings resolved once the row count is known (`bin_rules.resolve_params`)."""
        self.params = params
        if self.spec is not None:
            self.spec = bin_spec(self.column, params, self.column.type == "integer")

    def update(self, series: pd.Series) -> None:
        kind = self.column.type
        if kind == "category":
            self.stats.update(series)
        elif kind in ("datetime", "date"):
            self.stats.update(series)
        elif kind == "bool":
            values = bool_values(series, self.where)
            self.n_rows += len(values)
            self.n_null += int(np.isnan(values).sum())
            self.n_true += int((values == 1.0).sum())
        else:
            values = numeric_values(series, self.where, kind == "integer")
            present = values[~np.isnan(values)]
            self.n_rows += len(values)
            self.n_null += len(values) - len(present)
            self.stats.update(present, len(values))

    @property
    def unique(self) -> bool:
        """Whether the column's non-null values were all distinct (see `UNIQUE_CAP`)."""
        kind = self.column.type
        if kind == "category":
            counts = self.stats.counts
            return counts is not None and int(counts.sum()) > 1 and bool((counts == 1).all())
        if kind == "bool":
            return self.n_rows - self.n_null == 2 and self.n_true == 1
        return (self.stats.epochs if kind in ("datetime", "date") else self.stats).unique

    def fit(self, private: Optional[PrivateColumn]) -> Fit:
        kind, column = self.column.type, self.column
        if kind == "category":
            return self._fit_category(private)
        if kind == "bool":
            has_null, _ = fit_nulls(self.n_null, private)
            empty = private is None and self.n_rows == self.n_null  # exact counts only: DP decides by noise
            return BoolEncoder(self.table, column.name, has_null or empty, empty=empty)
        if kind in ("integer", "float"):
            has_null, null_count = fit_nulls(self.n_null, private)
            integer = kind == "integer"

            def values_of(frame: pd.DataFrame) -> np.ndarray:
                values = numeric_values(frame[column.name], self.where, integer)
                return values[~np.isnan(values)]

            domain = yield from _bins(self.stats, self.n_rows, has_null, null_count, self.spec, private, values_of)
            if private is None and self.stats.grid is not None and self.stats.n_present:
                domain = with_grid(domain, self.stats.grid.grid(float(self.stats.low)))
            return NumericEncoder(self.table, column.name, kind, domain)
        return (yield from self._fit_datetime(private))

    def _fit_category(self, private: Optional[PrivateColumn]) -> CategoryEncoder:
        stats: CategoryStats = self.stats
        if private is None:
            value_type = stats.value_type
        else:  # through a charged mechanism, as `fit_category_encoder`
            raw = stats.counts if stats.counts is not None else pd.Series([], dtype=np.int64)
            value_type = private_value_type(raw, private)
        counts = stats.typed_counts(value_type)
        null_count = stats.n_rows - int(counts.sum())
        max_cat = self.column.max_cat or self.params.max_cat
        warn_if_identifier_like(self.table, self.column.name, counts, max_cat)
        if private is None:
            has_null = null_count > 0
            ranked = frequent_categories(counts)
            other_if_merged = True
        else:
            ranked, has_null = private_category_domain(counts, null_count, private)
            other_if_merged = False
        order = sorted(zip(ranked.to_numpy().tolist(), ranked.index.tolist()), key=lambda item: (-item[0], item[1]))
        kept = sorted(value for _, value in order[:max_cat])
        other = len(counts) > len(kept) if other_if_merged else True
        categories = [category_json_value(value, value_type) for value in kept]
        if not categories and not other:
            has_null = True
        return CategoryEncoder(self.table, self.column.name, categories, value_type, other, has_null)

    def _fit_datetime(self, private: Optional[PrivateColumn]) -> Fit:
        stats: DatetimeStats = self.stats
        source = stats.finish()
        column, params = self.column, self.params
        n_rows = stats.n_rows
        has_null, null_count = fit_nulls(stats.n_null, private)
        per_day = UNITS_PER_DAY[source.unit]

        def epochs_of(frame: pd.DataFrame) -> np.ndarray:
            epochs = to_epochs(to_datetime64(frame[column.name], source.format, self.where), source.unit)
            return epochs[~np.isnan(epochs)]

        if stats.days is None:
            spec = datetime_spec(params, per_day)
            epochs = stats.epochs.converted(lambda micros: _from_micros(micros, source.unit))
            domain = yield from _bins(epochs, n_rows, has_null, null_count, spec, private, epochs_of)
            return DatetimeEncoder(self.table, column.name, column.type, source, domain)
        date_spec, time_spec = split_specs(params, source.unit)
        days = stats.days.converted(lambda d: d)
        times = stats.times.converted(lambda micros: _from_micros(micros, source.unit))

        def days_of(frame: pd.DataFrame) -> np.ndarray:
            return np.floor(epochs_of(frame) / per_day)

        def times_of(frame: pd.DataFrame) -> np.ndarray:
            epochs = epochs_of(frame)
            return epochs - np.floor(epochs / per_day) * per_day

        date_domain = yield from _bins(days, n_rows, has_null, null_count, date_spec, private, days_of)
        time_domain = yield from _bins(times, n_rows, has_null, null_count, time_spec, private, times_of)
        if private is None and stats.epochs.n_present:
            low, high = _from_micros(np.array([stats.epochs.low, stats.epochs.high], dtype=np.int64), source.unit)
            value_range = (float(low), float(high))
        else:
            first_day, last_day = date_domain.value_range
            value_range = (first_day * per_day, (last_day + 1.0) * per_day - 1.0)
        return SplitDatetimeEncoder(
            self.table, column.name, source, date_domain, time_domain, value_range, params.preserve_datetime_range
        )


def _run_fitters(fitters: List[Fit], chunks: Chunks) -> List[Any]:
    """Drive the column fitters: each round answers every pending request together, column by column."""
    results: List[Any] = [None] * len(fitters)
    pending: Dict[int, Request] = {}

    def advance(index: int) -> None:
        try:
            pending[index] = next(fitters[index])
        except StopIteration as stop:
            pending.pop(index, None)
            results[index] = stop.value

    for index in range(len(fitters)):
        advance(index)
    while pending:
        _answer_requests([pending[i] for i in sorted(pending)], chunks)
        for index in sorted(pending):
            advance(index)
    return results


# The table --------------------------------------------------------------------------------------------------


def fit_table_encoding_from_chunks(
    chunks: Chunks,
    table: BaseTable,
    params: ProcessingParams,
    *,
    processing_epsilon: Optional[float],
    rng: np.random.Generator,
    ledger: BudgetLedger,
    table_name: Optional[str] = None,
    epsilon: Optional[float] = None,
) -> Tuple[TableEncoding, int]:
    """(the table's encoding, its row count) from `chunks()`, a fresh pass over prepared frames per call.

    As `encoding.fit_table_encoding` for what is fit and how the preprocessing budget is charged
    (`processing_epsilon` shared equally by the modelled columns, charges summing to it), but from
    mergeable summaries (see the module docstring), so the result does not depend on the chunking.
    `epsilon` is the table's model budget (default: `params.epsilon`), which bounds the bins per column
    (`bin_rules.resolve_params`).
    """
    table_name = table_name or table.name
    modelled = [column for column in table.columns if column.type in MODELLED_TYPES]
    private = processing_epsilon is not None
    columns = [_Column(column, params, table_name, private) for column in modelled]
    # modelled columns decide uniqueness from their summaries; other checked columns (foreign keys) by hashes
    uniques = {
        column.name: UniqueTracker()
        for column in table.columns
        if not private and column.type not in (*NOT_UNIQUE_CHECKED_TYPES, *MODELLED_TYPES, "id")
    }
    lengths: Dict[str, int] = {}
    n_rows = 0
    for chunk in chunks():
        n_rows += len(chunk)
        for fitter in columns:
            if fitter.column.name not in chunk.columns:
                raise ValueError(f"{fitter.where}: not in the data")
            fitter.update(chunk[fitter.column.name].reset_index(drop=True))
        if not private:
            _update_metadata(chunk, table, lengths, uniques)
    params = resolve_params(params, n_rows, len(modelled), epsilon)
    for fitter in columns:
        fitter.set_params(params)
    shares = split_budget(processing_epsilon, len(modelled)) if private and modelled else [None] * len(modelled)
    private_columns = [
        PrivateColumn(table_name, column.name, share, private_steps(column, params), ledger) if private else None
        for column, share in zip(modelled, shares)
    ]
    encoders: List[Encoder] = _run_fitters([fitter.fit(p) for fitter, p in zip(columns, private_columns)], chunks)
    for column, private_column in zip(modelled, private_columns):
        if private_column is not None and private_column.steps_left:
            raise RuntimeError(f"{where(table_name, column.name)}: preprocessing budget not fully spent")
    id_key = int(rng.integers(2**62))
    if private:
        unique = [column.name for column in table.columns if column.type == "id"]
    else:
        modelled_unique = {fitter.column.name: fitter.unique for fitter in columns}
        unique = [
            column.name
            for column in table.columns
            if column.type == "id"
            or modelled_unique.get(column.name, False)
            or (column.name in uniques and uniques[column.name].unique)
        ]
    return TableEncoding(table, encoders, private, id_key, lengths, unique), n_rows


def _update_metadata(
    chunk: pd.DataFrame, table: BaseTable, lengths: Dict[str, int], uniques: Dict[str, UniqueTracker]
) -> None:
    for column in table.columns:
        if column.type == "id" or column.name not in chunk.columns:
            continue
        series = chunk[column.name]
        present = series.dropna()
        if is_text(series) and len(present):
            longest = int(present.astype(str).str.len().max())
            lengths[column.name] = max(lengths.get(column.name, 0), longest)
        if column.name in uniques:
            uniques[column.name].update(series)
