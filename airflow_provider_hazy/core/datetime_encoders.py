"""Date and datetime columns, binned like numbers on their epoch value (days, seconds or finer).

A date is modelled in epoch days; a datetime in epoch seconds, or microseconds / nanoseconds when the
source holds fractions of a second. With `split_time` a datetime is two code columns, `<name>:date` (epoch
day) and `<name>:time` (time of day, a range known without the data). Decoded values stay inside the bins,
so inside the training range (the private range under DP); with `split_time`, `preserve_datetime_range`
also clips the recombined date + time of day to the training range, as the first and last days' times
could otherwise fall outside it. Values come back as they were stored: text in the column's `format` (or
the format detected from the data), datetime64 (with its time zone), or `datetime.date` objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import pandas as pd

from ..config.model_parameters import ProcessingParams
from ..config.schema import DateColumn, DatetimeColumn
from .bin_rules import distinct_points, point_share, skew_threshold
from .binning import BinnedDomain
from .column_encoders import BinnedEncoder, CodePart, where
from .datetime_text import detect_format, format_datetimes, parse_text
from .domains import BinSpec, fit_bins, fit_nulls
from .dp_preprocessing import PrivateColumn

UNITS_PER_DAY = {"D": 1.0, "s": 86_400.0, "us": 86_400e6, "ns": 86_400e9}
DEFAULT_FORMATS = {"date": "%Y-%m-%d", "datetime": "%Y-%m-%d %H:%M:%S"}
PRIVATE_UNIT = "s"
"""The resolution a datetime is modelled in with `processing_epsilon` set: whole seconds, a fixed choice (the
resolution found in the values could reveal one row's sub-second timestamp)."""


@dataclass(frozen=True)
class DatetimeSource:
    """How the source stores the column: 'text' (in `format`), 'datetime64' (with `tz`) or 'date' objects;
    `unit` is the resolution modelled."""

    storage: str
    unit: str
    format: Optional[str] = None
    tz: Optional[str] = None

    def to_json(self) -> Dict[str, Any]:
        return {"storage": self.storage, "unit": self.unit, "format": self.format, "tz": self.tz}

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> DatetimeSource:
        return cls(data["storage"], data["unit"], data.get("format"), data.get("tz"))


def is_datetime_text(series: pd.Series) -> bool:
    """Whether a datetime column arrives as text (parsed with a detected or declared format)."""
    if isinstance(series.dtype, pd.StringDtype):
        return True
    if series.dtype != object:
        return False
    return pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty")


def is_number_column(series: pd.Series) -> bool:
    """A numeric column (not bool, not datetime), or object values that are all numbers; not all null."""
    if pd.api.types.is_bool_dtype(series.dtype) or not series.notna().any():
        return False
    if pd.api.types.is_numeric_dtype(series.dtype):
        return True
    if series.dtype == object:
        return pd.api.types.infer_dtype(series, skipna=True) in ("integer", "floating", "mixed-integer-float")
    return False


def _numbers_as_text(series: pd.Series) -> pd.Series:
    """Numbers as the text a date format reads: integral values without a decimal point (20240131)."""
    values = pd.to_numeric(series, errors="coerce")
    def text(value: float) -> Optional[str]:
        if pd.isna(value):
            return None
        return str(int(value)) if float(value).is_integer() else str(value)

    return values.map(text).astype(object)


def to_datetime64(series: pd.Series, fmt: Optional[str], where_: str) -> np.ndarray:
    """Naive UTC datetime64 values (NaT for nulls); unparseable values are an error naming the column."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    if pd.api.types.is_datetime64_dtype(series.dtype):
        return series.to_numpy()
    if is_datetime_text(series):
        fmt = fmt or detect_format(series)
        if fmt is None:
            raise ValueError(f"{where_}: could not detect the date format of the text values; set the column's format")
        values, failed = parse_text(series, fmt)
        if failed.any():
            raise ValueError(
                f"{where_}: {int(failed.sum())} value(s) do not match the date format '{fmt}', "
                f"e.g. {series[failed].iloc[0]!r}; declare the column's format (with processing_epsilon set it is "
                "never detected from the values)"
            )
        return values
    if is_number_column(series):
        if fmt is None:
            example = series.dropna().iloc[:1].tolist()[0]
            raise ValueError(
                f"{where_}: declared a date/datetime, but holds numbers (e.g. {example!r}); set the column's "
                "format to say how they read as dates (e.g. '%Y%m%d'), or declare the column integer or float"
            )
        return to_datetime64(_numbers_as_text(series), fmt, where_)
    converted = pd.to_datetime(series, errors="coerce")
    bad = converted.isna().to_numpy() & series.notna().to_numpy()
    if bad.any():
        raise ValueError(f"{where_}: {int(bad.sum())} value(s) are not dates, e.g. {series[bad].iloc[0]!r}")
    if isinstance(converted.dtype, pd.DatetimeTZDtype):
        converted = converted.dt.tz_convert("UTC").dt.tz_localize(None)
    return converted.to_numpy()


def _resolution(values: np.ndarray) -> str:
    """'s', 'us' or 'ns': the coarsest unit that holds every value (nanoseconds only from a nanosecond
    source; otherwise microseconds, which hold years 1 to 9999)."""
    present = values[~np.isnat(values)]
    if present.dtype == np.dtype("datetime64[ns]"):
        nanoseconds = present.astype(np.int64)
        if np.all(nanoseconds % 1_000_000_000 == 0):
            return "s"
        return "us" if np.all(nanoseconds % 1_000 == 0) else "ns"
    micros = present.astype("datetime64[us]").astype(np.int64)
    return "s" if np.all(micros % 1_000_000 == 0) else "us"


def detect_source(
    series: pd.Series, column: Union[DateColumn, DatetimeColumn], where_: str, private: bool = False
) -> DatetimeSource:
    """How the column is stored, its format (the column's own, else detected) and the unit to model.

    With `private` (processing_epsilon set) nothing is read off the values: text is read in the declared
    format or the default one (`DEFAULT_FORMATS`), and datetimes are modelled in `PRIVATE_UNIT`. The storage
    (text, datetime64, date objects) and the time zone come from the column's type as the source declares it.
    """
    tz = str(series.dtype.tz) if isinstance(series.dtype, pd.DatetimeTZDtype) else None
    if is_datetime_text(series):
        detected = None if private or series.isna().all() else detect_format(series)
        fmt = column.format or detected or (DEFAULT_FORMATS[column.type] if private or series.isna().all() else None)
        if fmt is None:
            raise ValueError(f"{where_}: could not detect the date format of the text values; set the column's format")
        storage = "text"
    elif is_number_column(series) and column.format:  # numbers such as 20240131 that the format reads as dates
        fmt, storage = column.format, "text"
    else:
        inferred = pd.api.types.infer_dtype(series, skipna=True) if series.dtype == object else ""
        fmt, storage = None, "date" if inferred == "date" else "datetime64"
    if column.type == "date":
        return DatetimeSource(storage, "D", fmt, tz)
    if storage == "text":
        return DatetimeSource(storage, "us" if "%f" in fmt else "s", fmt, tz)
    if private:
        return DatetimeSource(storage, PRIVATE_UNIT, fmt, tz)
    return DatetimeSource(storage, _resolution(to_datetime64(series, fmt, where_)), fmt, tz)


def to_epochs(values: np.ndarray, unit: str) -> np.ndarray:
    """Float epoch values in `unit` (NaN for NaT)."""
    null = np.isnat(values)
    epochs = values.astype(f"datetime64[{unit}]").astype(np.int64).astype(np.float64)
    epochs[null] = np.nan
    return epochs


def from_epochs(epochs: np.ndarray, unit: str) -> np.ndarray:
    null = np.isnan(epochs)
    if not null.any():
        return epochs.astype(np.int64).view(f"datetime64[{unit}]")
    values = np.where(null, 0, epochs).astype(np.int64).view(f"datetime64[{unit}]")
    values[null] = np.datetime64("NaT")
    return values


def present(values: np.ndarray, source: DatetimeSource, name: str) -> pd.Series:
    """Decoded datetime64 values as the source stored them."""
    if source.storage == "text":
        return pd.Series(format_datetimes(values, source.format), name=name)
    if source.storage == "date":
        row_codes, uniques = pd.factorize(values.astype("datetime64[D]"))
        dates = np.append(pd.DatetimeIndex(uniques).date, None)
        return pd.Series(dates[np.where(row_codes >= 0, row_codes, len(dates) - 1)], name=name, dtype=object)
    if source.unit == "D":
        values = values.astype("datetime64[s]")
    series = pd.Series(values, name=name)
    if source.tz is not None:
        series = series.dt.tz_localize("UTC").dt.tz_convert(source.tz)
    return series


def datetime_spec(params: ProcessingParams, per_day: float, public_range: Optional[Tuple[float, float]] = None):
    """The binning of a date, datetime or time-of-day part (epoch values are integers in the unit), with the
    engine's rules (`bin_rules`) for the settings left at None."""
    return BinSpec(
        n_bins=params.n_bins,
        default_strategy=params.bin_strategy_default.value,
        skew_threshold=skew_threshold(params),
        single_threshold=point_share(params),
        distinct_points=distinct_points(params),
        drop_empty_bins=params.drop_empty_bins,
        integer=True,
        grid="days",
        per_day=per_day,
        public_range=public_range,
    )


def _iso(epoch: float, unit: str) -> str:
    return str(np.datetime64(int(epoch), unit))


@dataclass(eq=False)
class DatetimeEncoder(BinnedEncoder):
    """A date or datetime column binned on its epoch value in `source.unit`."""

    table: str
    column: str
    kind: str
    source: DatetimeSource
    domain: BinnedDomain

    def encode(self, series: pd.Series) -> np.ndarray:
        values = to_datetime64(series, self.source.format, self.where)
        return self.domain.encode(to_epochs(values, self.source.unit))

    def decode_datetimes(self, codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return from_epochs(self.domain.decode(codes, rng), self.source.unit)

    def present(self, values: np.ndarray) -> pd.Series:
        return present(values, self.source, self.column)

    def decode(self, codes: np.ndarray, rng: np.random.Generator) -> pd.Series:
        return self.present(self.decode_datetimes(codes, rng))

    def to_json(self) -> Dict[str, Any]:
        return {**self._header(), "source": self.source.to_json(), "bins": self.domain.to_json()}

    def describe(self) -> Dict[str, Any]:
        low, high = self.domain.value_range
        return {
            "n_bins": self.domain.n_bins,
            "strategy": self.domain.strategy,
            "split_time": False,
            **self.source.to_json(),
            "range": [_iso(low, self.source.unit), _iso(high, self.source.unit)],
            "null_code": self.null_code,
        }

    @classmethod
    def from_parts(cls, data: Dict[str, Any], arrays: Dict[str, np.ndarray], table: str = "") -> DatetimeEncoder:
        source = DatetimeSource.from_json(data["source"])
        return cls(table, data["column"], data["kind"], source, BinnedDomain.from_parts(data["bins"], arrays))


@dataclass(eq=False)
class SplitDatetimeEncoder:
    """A datetime modelled as two ordinal code columns: the epoch day and the time of day."""

    table: str
    column: str
    source: DatetimeSource
    date_domain: BinnedDomain
    time_domain: BinnedDomain
    value_range: Tuple[float, float]
    preserve_range: bool
    kind: str = "datetime_split"

    @property
    def where(self) -> str:
        return where(self.table, self.column)

    @property
    def per_day(self) -> float:
        return UNITS_PER_DAY[self.source.unit]

    def code_parts(self) -> List[CodePart]:
        return [
            CodePart(f"{self.column}:date", self.date_domain.n_codes, True, self.date_domain.null_code),
            CodePart(f"{self.column}:time", self.time_domain.n_codes, True, self.time_domain.null_code),
        ]

    def split(self, epochs: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        days = np.floor(epochs / self.per_day)
        return days, epochs - days * self.per_day

    def encode_columns(self, series: pd.Series) -> np.ndarray:
        epochs = to_epochs(to_datetime64(series, self.source.format, self.where), self.source.unit)
        days, time_of_day = self.split(epochs)
        return np.column_stack([self.date_domain.encode(days), self.time_domain.encode(time_of_day)])

    def decode_datetimes(self, codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        days = self.date_domain.decode(codes[:, 0], rng)
        time_of_day = self.time_domain.decode(codes[:, 1], rng)
        epochs = days * self.per_day + time_of_day  # NaN when either part is null
        if self.preserve_range:
            epochs = np.clip(epochs, *self.value_range)
        return from_epochs(epochs, self.source.unit)

    def present(self, values: np.ndarray) -> pd.Series:
        return present(values, self.source, self.column)

    def decode_columns(self, codes: np.ndarray, rng: np.random.Generator) -> pd.Series:
        return self.present(self.decode_datetimes(codes, rng))

    def to_json(self) -> Dict[str, Any]:
        return {
            "kind": self.kind,
            "column": self.column,
            "parts": [part.__dict__ for part in self.code_parts()],
            "source": self.source.to_json(),
            "range": list(self.value_range),
            "preserve_range": self.preserve_range,
            "date_bins": self.date_domain.to_json(),
            "time_bins": self.time_domain.to_json(),
        }

    def arrays(self) -> Dict[str, np.ndarray]:
        return {**self.date_domain.arrays("date."), **self.time_domain.arrays("time.")}

    def describe(self) -> Dict[str, Any]:
        return {
            "split_time": True,
            "date_bins": self.date_domain.n_bins,
            "time_bins": self.time_domain.n_bins,
            "strategy": self.date_domain.strategy,
            **self.source.to_json(),
            "range": [_iso(value, self.source.unit) for value in self.value_range],
            "null_code": self.date_domain.null_code,
        }

    @classmethod
    def from_parts(cls, data: Dict[str, Any], arrays: Dict[str, np.ndarray], table: str = "") -> SplitDatetimeEncoder:
        return cls(
            table,
            data["column"],
            DatetimeSource.from_json(data["source"]),
            BinnedDomain.from_parts(data["date_bins"], arrays, "date."),
            BinnedDomain.from_parts(data["time_bins"], arrays, "time."),
            (float(data["range"][0]), float(data["range"][1])),
            bool(data["preserve_range"]),
        )


def split_specs(params: ProcessingParams, unit: str) -> Tuple[BinSpec, BinSpec]:
    """The bin specs of a datetime split into days and time of day (the time of day's range is public)."""
    per_day = UNITS_PER_DAY[unit]
    return datetime_spec(params, 1.0), datetime_spec(params, per_day, public_range=(0.0, per_day - 1.0))


def datetime_private_steps(column: Union[DateColumn, DatetimeColumn], params: ProcessingParams) -> int:
    """Mechanisms a private fit runs: the null count, then the bins (of both parts when split)."""
    if column.type == "datetime" and params.split_time:
        date_spec, time_spec = split_specs(params, "s")
        return 1 + date_spec.private_steps + time_spec.private_steps
    return 1 + datetime_spec(params, 1.0).private_steps


def fit_datetime_encoder(
    series: pd.Series,
    column: Union[DateColumn, DatetimeColumn],
    params: ProcessingParams,
    private: Optional[PrivateColumn],
    table: str,
) -> Union[DatetimeEncoder, SplitDatetimeEncoder]:
    where_ = where(table, column.name)
    source = detect_source(series, column, where_, private=private is not None)
    epochs = to_epochs(to_datetime64(series, source.format, where_), source.unit)
    present_epochs = epochs[~np.isnan(epochs)]
    n_rows = len(epochs)
    has_null, null_count = fit_nulls(n_rows - len(present_epochs), private)
    n_present = n_rows - null_count
    if column.type == "date" or not params.split_time:
        spec = datetime_spec(params, UNITS_PER_DAY[source.unit])
        domain = fit_bins(present_epochs, n_rows, has_null, spec, private, n_present=n_present)
        return DatetimeEncoder(table, column.name, column.type, source, domain)
    date_spec, time_spec = split_specs(params, source.unit)
    per_day = UNITS_PER_DAY[source.unit]
    days = np.floor(present_epochs / per_day)
    date_domain = fit_bins(days, n_rows, has_null, date_spec, private, n_present=n_present)
    time_domain = fit_bins(present_epochs - days * per_day, n_rows, has_null, time_spec, private, n_present=n_present)
    if private is None and len(present_epochs):
        value_range = (float(present_epochs.min()), float(present_epochs.max()))
    else:
        first_day, last_day = date_domain.value_range
        value_range = (first_day * per_day, (last_day + 1.0) * per_day - 1.0)
    return SplitDatetimeEncoder(
        table, column.name, source, date_domain, time_domain, value_range, params.preserve_datetime_range
    )
