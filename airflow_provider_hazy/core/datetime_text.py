"""Dates and datetimes stored as text: detecting the format, parsing, and writing values back in it.

Parsing works on the distinct values (dates repeat a lot). Formatting a format made of a date part followed
by a time part (`%Y-%m-%d %H:%M:%S`, `%d/%m/%Y %H:%M`, or a date part alone) writes the text of every day in
the values' range and of every second of a day once, as fixed-width byte tables (numeric directives by
integer arithmetic, others by `strftime`), and gathers each row's bytes from them straight into an Arrow
string buffer: a million values in a few hundredths of a second, no Python object per row. Other formats
(widths that vary, `%f`, time before date) format the distinct dates and times of day with `strftime`.
"""

from __future__ import annotations

import re
import warnings
from typing import Optional, Tuple

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.tseries.api import guess_datetime_format

_DIRECTIVE = re.compile(r"%(.)")
_DATE_DIRECTIVES = set("aAwdbBmyYjUWGuV")
_TIME_DIRECTIVES = set("HIpMSf")
_GUESS_VALUES = 20
_CHECK_VALUES = 1000


def _string_array(values: np.ndarray) -> pd.api.extensions.ExtensionArray:
    return pd.array(np.asarray(values, dtype=object), dtype="str")


_PARSED = set("YmdHMS")


def parse_fixed_width(series: pd.Series, fmt: str) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """(datetime64[us] values, mask of the rows parsed) of Arrow-backed text in a format of fixed-width
    numeric fields (`%Y`, `%m`, `%d` and optionally `%H`, `%M`, `%S`, each once, with literal text), read
    digit by digit from the string buffer; None for other formats or values. Only text of exactly the
    format's width with digits and literals in place and valid fields (month 1-12, a day of that month,
    hour < 24, minute and second < 60) is parsed: there `strftime`'s own parser reads the same date. The
    other rows (NaT, mask False) are left to it."""
    tokens = _tokens(fmt)
    directives = [token[1] for token in tokens if not isinstance(token, str)]
    if set(directives) - _PARSED or len(set(directives)) != len(directives) or not {"Y", "m", "d"} <= set(directives):
        return None  # a field twice, or a missing day, would leave the reading to strptime's rules
    if not (pd.api.types.is_string_dtype(series.dtype) and series.dtype != object):
        return None
    try:
        array = pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return None
    n_rows = len(array)
    _, offsets_buffer, data_buffer = array.buffers()
    offset_type = np.int64 if pa.types.is_large_string(array.type) else np.int32
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[array.offset : array.offset + n_rows + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.empty(0, np.uint8)
    width = sum(len(token.encode("utf-8")) if isinstance(token, str) else _DIGITS[token[1]] for token in tokens)
    starts = offsets[:-1].astype(np.int64)
    ok = (offsets[1:] - offsets[:-1]) == width
    if array.null_count:
        ok &= array.is_valid().to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(ok)
    if ok.all() and width and int(offsets[-1]) - int(offsets[0]) == n_rows * width:
        text = data[int(offsets[0]) : int(offsets[0]) + n_rows * width].reshape(n_rows, width)
    else:
        text = data[starts[rows, None] + np.arange(width)] if len(rows) else np.empty((0, width), np.uint8)
    literal_columns, literal_bytes, digit_columns, spans = [], [], [], {}
    for token in tokens:
        column = len(literal_columns) + len(digit_columns)
        if isinstance(token, str):
            encoded = token.encode("utf-8")
            literal_columns.extend(range(column, column + len(encoded)))
            literal_bytes.extend(encoded)
        else:
            spans[token[1]] = (len(digit_columns), _DIGITS[token[1]])
            digit_columns.extend(range(column, column + _DIGITS[token[1]]))
    good = np.all(text[:, literal_columns] == np.array(literal_bytes, dtype=np.uint8), axis=1)
    digits = text[:, digit_columns] - np.uint8(48)  # bytes below '0' wrap past 9
    good &= np.all(digits < 10, axis=1)
    fields = {}
    for letter, (first, count) in spans.items():
        value = digits[:, first].astype(np.int64)
        for place in range(first + 1, first + count):
            value *= 10
            value += digits[:, place]
        fields[letter] = value
    year, month, day = fields["Y"], fields["m"], fields["d"]
    good &= (month >= 1) & (month <= 12) & (day >= 1) & (year >= 1)
    # the first day and length of every month of the years present, looked up by (year, month)
    first_year = int(year.min()) if len(year) else 1970
    months = np.arange((int(year.max()) - first_year + 1) * 12 + 1 if len(year) else 1) + (first_year - 1970) * 12
    month_starts = months.view("datetime64[M]").astype("datetime64[D]").view(np.int64)
    index = (year - first_year) * 12 + np.clip(month, 1, 12) - 1
    good &= day <= np.diff(month_starts)[index]
    micros = month_starts[index] + (day - 1)
    micros *= 86400
    for letter, limit, scale in (("H", 24, 3600), ("M", 60, 60), ("S", 60, 1)):
        if letter in fields:
            good &= fields[letter] < limit
            fields[letter] *= scale
            micros += fields[letter]
    micros *= 1_000_000
    values = np.full(n_rows, np.datetime64("NaT"), dtype="datetime64[us]")
    parsed = np.zeros(n_rows, dtype=bool)
    rows = rows[good]
    values[rows] = micros[good].view("datetime64[us]")
    parsed[rows] = True
    return values, parsed


def parse_text(series: pd.Series, fmt: str) -> Tuple[np.ndarray, np.ndarray]:
    """(datetime64[us] values with NaT for nulls, mask of non-null values that do not match `fmt`). Text of
    fixed-width numeric formats goes through `parse_fixed_width`, the rest through pandas on its distinct
    values."""
    fast = parse_fixed_width(series, fmt)
    if fast is None or not fast[1].any():
        return _parse_distinct(series, fmt)
    values, parsed = fast
    failed = np.zeros(len(series), dtype=bool)
    rest = np.flatnonzero(~parsed)
    if len(rest):
        values[rest], failed[rest] = _parse_distinct(series.iloc[rest], fmt)
    return values, failed


def _parse_distinct(series: pd.Series, fmt: str) -> Tuple[np.ndarray, np.ndarray]:
    """`parse_text` by pandas on the distinct values."""
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


_DIGITS = {"Y": 4, "m": 2, "d": 2, "y": 2, "j": 3, "H": 2, "I": 2, "M": 2, "S": 2, "p": 2}


def _tokens(fmt: str) -> list:
    """The format as literal texts and one-letter directives (`%%` is the literal `%`)."""
    tokens, position = [], 0
    for match in _DIRECTIVE.finditer(fmt):
        tokens.append(fmt[position : match.start()])
        tokens.append("%" if match.group(1) == "%" else ("%", match.group(1)))
        position = match.end()
    tokens.append(fmt[position:])
    return [token for token in tokens if token != ""]


def _numeric_fields(keys: np.ndarray, kind: str) -> dict:
    """The numeric fields of epoch days (`kind` 'date') or seconds of the day ('time')."""
    if kind == "time":
        hours = keys // 3600
        return {"H": hours, "I": (hours + 11) % 12 + 1, "M": keys // 60 % 60, "S": keys % 60, "p": hours >= 12}
    days = keys.astype("datetime64[D]")
    years = days.astype("datetime64[Y]")
    months = days.astype("datetime64[M]")
    year = years.astype(np.int64) + 1970
    return {
        "Y": year,
        "y": year % 100,
        "m": (months - years.astype("datetime64[M]")).astype(np.int64) + 1,
        "d": (days - months.astype("datetime64[D]")).astype(np.int64) + 1,
        "j": (days - years.astype("datetime64[D]")).astype(np.int64) + 1,
    }


def _text_table(keys: np.ndarray, fmt: str, kind: str, n_rows: int) -> Optional[np.ndarray]:
    """The text of each key (epoch days, or seconds of the day on 1970-01-01) in `fmt`, as a (keys, width)
    uint8 table, or None when the texts are not all one width or the table would cost more than formatting
    the `n_rows` rows. Numeric directives are written digit by digit (`%Y` for years 1000-9999), any other
    key set through `strftime`."""
    if len(keys) > 4 * n_rows + 4096:
        return None
    tokens = _tokens(fmt)
    numeric = all(isinstance(token, str) or token[1] in _DIGITS for token in tokens)
    if numeric:
        fields = _numeric_fields(keys, kind)
        if kind == "date" and len(keys) and not (1000 <= fields["Y"].min() and fields["Y"].max() <= 9999):
            numeric = False
        elif any(not isinstance(token, str) and token[1] not in fields for token in tokens):
            numeric = False
    if not numeric:
        if 4 * len(keys) > n_rows:
            return None
        stamps = keys.astype("datetime64[D]" if kind == "date" else "datetime64[s]")
        texts = pd.DatetimeIndex(stamps).strftime(fmt).to_numpy(dtype=object)
        encoded = [text.encode("utf-8") for text in texts]
        width = len(encoded[0]) if encoded else 0
        if any(len(text) != width for text in encoded):
            return None
        return np.frombuffer(b"".join(encoded), dtype=np.uint8).reshape(len(keys), width)
    width = sum(len(token.encode("utf-8")) if isinstance(token, str) else _DIGITS[token[1]] for token in tokens)
    table = np.empty((len(keys), width), dtype=np.uint8)
    column = 0
    for token in tokens:
        if isinstance(token, str):
            for byte in token.encode("utf-8"):
                table[:, column] = byte
                column += 1
        elif token[1] == "p":
            pm = fields["p"]
            table[:, column] = np.where(pm, ord("P"), ord("A"))
            table[:, column + 1] = ord("M")
            column += 2
        else:
            value = fields[token[1]].copy()
            digits = _DIGITS[token[1]]
            for place in range(digits - 1, -1, -1):
                table[:, column + place] = 48 + value % 10
                value //= 10
            column += digits
    return table


def _fixed_width(
    values: np.ndarray, null: np.ndarray, parts: Tuple[str, str]
) -> Optional[pd.api.extensions.ExtensionArray]:
    """Text of datetime64 `values` in a (date part, time part) format whose parts have one width each: every
    row's bytes gathered from the tables of `_text_table` into one Arrow string buffer; None otherwise."""
    date_fmt, time_fmt = parts
    if "%f" in time_fmt:
        return None
    days = values.astype("datetime64[D]")
    day_numbers = days.astype(np.int64)
    present = ~null
    fields = []
    if date_fmt:
        low = int(day_numbers[present].min()) if present.any() else 0
        high = int(day_numbers[present].max()) if present.any() else 0
        table = _text_table(np.arange(low, high + 1, dtype=np.int64), date_fmt, "date", len(values))
        if table is None:
            return None
        fields.append((table, np.where(present, day_numbers - low, 0)))
    if time_fmt:
        seconds = (values - days).astype("timedelta64[s]").astype(np.int64)
        table = _text_table(np.arange(86400, dtype=np.int64), time_fmt, "time", len(values))
        if table is None:
            return None
        fields.append((table, np.where(present, seconds, 0)))
    widths = [table.shape[1] for table, _ in fields]
    width = sum(widths)
    if width == 0:
        return None
    rows = np.empty(len(values), dtype=[(f"f{i}", f"V{w}") for i, w in enumerate(widths)])
    for i, (table, index) in enumerate(fields):
        rows[f"f{i}"] = table.view(f"V{table.shape[1]}")[:, 0][index]
    offsets = np.arange(0, (len(values) + 1) * width, width, dtype=np.int64)
    validity = pa.py_buffer(np.packbits(present, bitorder="little")) if null.any() else None
    data = pa.py_buffer(rows.view(np.uint8))
    array = pa.LargeStringArray.from_buffers(len(values), pa.py_buffer(offsets), data, validity)
    return pd.array(array, dtype="str")


def _format_distinct(values: np.ndarray, fmt: str) -> pd.api.extensions.ExtensionArray:
    """`strftime` of each distinct value, spread back over the rows."""
    codes, uniques = pd.factorize(values)
    texts = _string_array(pd.DatetimeIndex(uniques).strftime(fmt).to_numpy(dtype=object))
    return texts.take(codes)


def format_datetimes(values: np.ndarray, fmt: str) -> pd.api.extensions.ExtensionArray:
    """Text of datetime64 values in `fmt` (nulls stay null)."""
    values = np.asarray(values)
    null = np.isnat(values)
    parts = _split_format(fmt)
    if parts is not None:
        fixed = _fixed_width(values, null, parts)
        if fixed is not None:
            return fixed
    present = values[~null]
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
