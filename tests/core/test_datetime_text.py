"""Writing datetimes as text (`core.datetime_text.format_datetimes`): the fast fixed-width tables give exactly
the text of `strftime`, nulls stay null, and formats the tables do not take fall back to it."""

import numpy as np
import pandas as pd
import pytest

from airflow_provider_hazy.core.datetime_text import format_datetimes, parse_fixed_width, parse_text

FORMATS = [
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d",
    "%d/%m/%Y %H:%M",
    "%m/%d/%y",
    "%Y%m%d",
    "%Y-%m-%dT%H:%M:%SZ",
    "%d.%m.%Y %I:%M %p",
    "%j/%Y",
    "%Y-%m-%d %H:%M:%S.%f",
    "%d %b %Y",
    "%A %d %B %Y %H:%M",
    "%H:%M:%S %d/%m/%Y",
    "100%% %Y",
]


def strftime_text(values: np.ndarray, fmt: str) -> list:
    return [None if pd.isna(v) else v for v in pd.Series(values).dt.strftime(fmt).tolist()]


def as_list(text) -> list:
    return [None if pd.isna(v) else v for v in pd.Series(text).tolist()]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("n_rows", [0, 1, 7, 30_000])
def test_format_datetimes_equals_strftime(fmt, n_rows):
    rng = np.random.default_rng(n_rows)
    seconds = rng.integers(-2_000_000_000, 4_000_000_000, n_rows)
    values = np.datetime64("1970-01-01T00:00:00", "us") + seconds.astype("timedelta64[s]")
    values += rng.integers(0, 1_000_000, n_rows).astype("timedelta64[us]")
    values[rng.random(n_rows) < 0.1] = np.datetime64("NaT")
    text = format_datetimes(values, fmt)
    assert str(text.dtype) == "str"
    assert as_list(text) == strftime_text(values, fmt)


@pytest.mark.parametrize("fmt", ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%d/%m/%Y", "%d %b %Y", "%a %d %B %Y"])
def test_format_datetimes_across_narrow_and_wide_year_ranges(fmt):
    """Many rows over a few days (tables by strftime too), and ranges past the years %Y writes in 4 digits."""
    rng = np.random.default_rng(1)
    days = rng.integers(0, 3 * 86400, 40_000).astype("timedelta64[s]")
    narrow = np.datetime64("2024-02-28T00:00:00", "s") + days
    wide = np.array(["0999-12-31T23:59:59", "1000-01-01T00:00:00", "9999-12-31T23:59:59"], dtype="datetime64[s]")
    for values in (narrow, np.concatenate([narrow, wide]), np.full(10, np.datetime64("NaT", "s"))):
        assert as_list(format_datetimes(values, fmt)) == strftime_text(values, fmt)


def corrupted_text(rng: np.random.Generator, fmt: str, n_rows: int) -> pd.Series:
    """Text of random datetimes in `fmt`, a third of it corrupted: characters replaced by digits, letters,
    spaces or signs, shortened, lengthened, impossible days and months, year 0; and nulls."""
    seconds = rng.integers(-60_000_000_000, 250_000_000_000, n_rows)
    values = np.datetime64("1970-01-01T00:00:00", "s") + seconds.astype("timedelta64[s]")
    texts = pd.Series(values).dt.strftime(fmt).tolist()
    alphabet = list("0123456789 -:/T+aZ.") + ["", "99", "0"]
    for i in np.flatnonzero(rng.random(n_rows) < 0.33):
        text = list(texts[i])
        position = int(rng.integers(0, len(text)))
        text[position] = alphabet[int(rng.integers(0, len(alphabet)))]
        texts[i] = "".join(text)
    texts[:6] = [None, "2023-02-29 10:00:00", "2024-02-29 24:00:00", "0000-01-01 00:00:00", "2024-13-01", "2024-00-10"]
    return pd.Series(pd.array(texts, dtype="str"))


@pytest.mark.parametrize(
    "fmt", ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%d/%m/%Y %H:%M", "%Y%m%d%H%M%S", "%m/%d/%Y", "%H:%M %d.%m.%Y"]
)
def test_parse_text_equals_pandas_on_good_and_corrupted_text(fmt):
    rng = np.random.default_rng(len(fmt))
    series = corrupted_text(rng, fmt, 20_000)
    values, failed = parse_text(series, fmt)
    expected = pd.to_datetime(series, format=fmt, errors="coerce").to_numpy(dtype="datetime64[us]")
    assert np.array_equal(values, expected, equal_nan=True)
    assert np.array_equal(failed, series.notna().to_numpy() & np.isnat(expected))
    fast = parse_fixed_width(series, fmt)
    assert fast is not None and fast[1].mean() > 0.5  # the fast reader did read most rows


def test_parse_fixed_width_leaves_other_formats_and_columns_to_pandas():
    text = pd.Series(pd.array(["2024-01-02"], dtype="str"))
    assert parse_fixed_width(text, "%Y-%m") is None  # no day
    assert parse_fixed_width(text, "%y-%m-%d") is None  # two-digit years: strptime's century rule
    assert parse_fixed_width(text.astype(object), "%Y-%m-%d") is None  # not Arrow text
    values, parsed = parse_fixed_width(pd.Series(pd.array(["2024-01-02", None, "2024-1-2"], dtype="str")), "%Y-%m-%d")
    assert parsed.tolist() == [True, False, False] and str(values[0]) == "2024-01-02T00:00:00.000000"


@pytest.mark.parametrize(
    "fmt, text_fmt",
    [("%Y-%m-%d %H:%M:%S", None), ("%d/%m/%Y", None), (None, "%Y-%m-%d %H:%M:%S"), (None, "%Y-%m-%dT%H:%M:%S")]
    + [(None, "%Y-%m-%d"), (None, "%Y-%m-%d %H:%M")],
)
def test_datetime_seconds_of_text_equal_pandas(fmt, text_fmt):
    """With the column's format, or ISO 8601 without one (read by the fixed-width reader when it fits)."""
    from airflow_provider_hazy.metrics.discretise import datetime_seconds

    series = corrupted_text(np.random.default_rng(5), fmt or text_fmt, 5_000)
    if fmt is None:
        series[3] = "2024-02-29T12:00:00+01:00"
    expected = pd.to_datetime(series, errors="coerce", format=fmt or "ISO8601", utc=True).dt.tz_convert(None)
    micro = expected.to_numpy().astype("datetime64[us]")
    seconds = micro.astype(np.int64) / 1e6
    seconds[np.isnat(micro)] = np.nan
    assert np.array_equal(datetime_seconds(series, fmt), seconds, equal_nan=True)
