"""Writing datetimes as text (`core.datetime_text.format_datetimes`): the fast fixed-width tables give exactly
the text of `strftime`, nulls stay null, and formats the tables do not take fall back to it."""

import numpy as np
import pandas as pd
import pytest

from airflow_provider_hazy.core.datetime_text import format_datetimes

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
