"""Dates and datetimes stored as text: detecting the format, parsing, and writing values back in it.

Parsing and formatting work on the distinct values (dates repeat a lot), and a format made of a date part
followed by a time part (`%Y-%m-%d %H:%M:%S`, `%d/%m/%Y %H:%M`) is written as distinct dates + distinct
times of day, so a million values take a fraction of a second instead of a `strftime` per row.
"""

from __future__ import annotations

import re
import warnings
from typing import Optional, Tuple

import numpy as np
import pandas as pd
from pandas.tseries.api import guess_datetime_format

_DIRECTIVE = re.compile(r"%(.)")
_DATE_DIRECTIVES = set("aAwdbBmyYjUWGuV")
_TIME_DIRECTIVES = set("HIpMSf")
_GUESS_VALUES = 20
_CHECK_VALUES = 1000


def _string_array(values: np.ndarray) -> pd.api.extensions.ExtensionArray:
    return pd.array(np.asarray(values, dtype=object), dtype="str")


def parse_text(series: pd.Series, fmt: str) -> Tuple[np.ndarray, np.ndarray]:
    """(datetime64[us] values with NaT for nulls, mask of non-null values that do not match `fmt`)."""
    codes, uniques = pd.factorize(series)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(pd.Index(uniques, dtype=object), format=fmt, errors="coerce")
    if getattr(parsed, "tz", None) is not None:
        parsed = parsed.tz_convert("UTC").tz_localize(None)
    # one extra NaT at the end stands for the nulls (code -1)
    parsed_values = np.append(parsed.to_numpy(dtype="datetime64[us]"), np.datetime64("NaT", "us"))
    values = parsed_values[codes]
    failed = (codes >= 0) & np.isnat(values)
    return values, failed


def detect_format(series: pd.Series) -> Optional[str]:
    """A strftime format guessed from the first values of a text column that parses its first
    `_CHECK_VALUES` distinct values, or None. (Values beyond those are checked when the column is parsed.)"""
    present = series.dropna()
    if present.empty:
        return "%Y-%m-%d %H:%M:%S"
    head = pd.Series(pd.unique(present.iloc[: 20 * _CHECK_VALUES].astype(str).to_numpy())[:_CHECK_VALUES])
    candidates = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for dayfirst in (False, True):
            for value in head.iloc[:_GUESS_VALUES]:
                guess = guess_datetime_format(str(value), dayfirst=dayfirst)
                if guess and guess not in candidates:
                    candidates.append(guess)
    for fmt in candidates:
        _, failed = parse_text(head, fmt)
        if not failed.any():
            return fmt
    return None


def _split_format(fmt: str) -> Optional[Tuple[str, str]]:
    """(date part, time part) of a format whose date directives all precede its time directives."""
    directives = [(match.start(), match.group(1)) for match in _DIRECTIVE.finditer(fmt) if match.group(1) != "%"]
    first_time = None
    for position, directive in directives:
        if directive in _TIME_DIRECTIVES:
            first_time = position if first_time is None else first_time
        elif directive in _DATE_DIRECTIVES:
            if first_time is not None:
                return None
        else:
            return None
    if first_time is None:
        return fmt, ""
    return fmt[:first_time], fmt[first_time:]


def _format_distinct(values: np.ndarray, fmt: str) -> pd.api.extensions.ExtensionArray:
    """`strftime` of each distinct value, spread back over the rows."""
    codes, uniques = pd.factorize(values)
    texts = _string_array(pd.DatetimeIndex(uniques).strftime(fmt).to_numpy(dtype=object))
    return texts.take(codes)


def format_datetimes(values: np.ndarray, fmt: str) -> pd.api.extensions.ExtensionArray:
    """Text of datetime64 values in `fmt` (nulls stay null)."""
    values = np.asarray(values)
    null = np.isnat(values)
    present = values[~null]
    parts = _split_format(fmt)
    if parts is None:
        text = _string_array(pd.Series(present).dt.strftime(fmt).to_numpy(dtype=object))
    else:
        date_fmt, time_fmt = parts
        days = present.astype("datetime64[D]")
        text = _format_distinct(days, date_fmt) if date_fmt else None
        if time_fmt:
            time_of_day = present - days + np.datetime64("1970-01-01", "D")
            time_text = _format_distinct(time_of_day, time_fmt)
            text = time_text if text is None else text + time_text
    if not null.any():
        return text
    positions = np.full(len(values), -1, dtype=np.int64)
    positions[~null] = np.arange(len(present))
    return text.take(positions, allow_fill=True)
