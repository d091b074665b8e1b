"""PostgreSQL COPY encoders: a batch rendered as the byte stream `COPY ... FROM STDIN` reads.

`io/sql.py`'s `SqlTableWriter` writes a PostgreSQL batch through one of two streams, both rendered in
slices of `COPY_SLICE_ROWS` rows by a background thread while COPY sends the previous slices:

- `BinaryCopyStream`: PostgreSQL's binary format. `binary_fields` encodes each column for its target
  `pg_type` (int2/int4/int8, float4/float8, bool, text/varchar/bpchar, date, timestamp, timestamptz) with
  NumPy, and `render_binary_rows` scatters the fields into tuples (no Python loop per row). A column of
  another type, or with values the encoder does not take (numbers in a text column, ...), raises
  `NotBinary`, and the writer falls back to CSV. An integer out of its column's range (or a float beyond
  `real`) raises ValueError naming the column, as the server would.
- `CsvCopyStream`: PostgreSQL's CSV (nulls unquoted-empty, text quoted), rendered by Arrow
  (`arrow_for_csv`), which releases the GIL.

No connection, no SQL: the writer owns the transaction and the statement; this module only makes bytes.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, List, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

COPY_SLICE_ROWS = 20_000
"""Rows per rendered slice of a COPY stream."""


def arrow_for_csv(frame: pd.DataFrame) -> pa.Table:
    arrays = []
    for name in frame.columns:
        try:
            arrays.append(pa.array(frame[name], from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            raise ValueError(f"column '{name}': values cannot be written ({error})") from None
    return pa.Table.from_arrays(arrays, names=[f"c{i}" for i in range(len(arrays))])


class CsvCopyStream:
    """A file-like of a table's CSV (PostgreSQL's CSV: nulls unquoted-empty, text always quoted), in memory.

    A thread renders slices of `COPY_SLICE_ROWS` rows with Arrow (which releases the GIL) while COPY sends
    the previous ones, so rendering and the server's parsing overlap; at most `depth` slices wait.
    """

    def __init__(self, table: pa.Table, slice_rows: int = 0, depth: int = 4) -> None:
        self._slices: queue.Queue[Optional[bytes]] = queue.Queue(maxsize=depth)
        self._pending = memoryview(b"")
        self._error: Optional[BaseException] = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._render, args=(table, slice_rows or COPY_SLICE_ROWS), name="hazy-copy-csv", daemon=True
        )
        self._thread.start()

    def _render(self, table: pa.Table, slice_rows: int) -> None:
        options = pacsv.WriteOptions(include_header=False)
        try:
            for start in range(0, table.num_rows, slice_rows):
                if self._stopped.is_set():
                    return
                sink = pa.BufferOutputStream()
                pacsv.write_csv(table.slice(start, slice_rows), sink, write_options=options)
                self._put(sink.getvalue().to_pybytes())
        except BaseException as error:  # noqa: BLE001 - re-raised by the reader
            self._error = error
        finally:
            self._put(None)

    def _put(self, item: Optional[bytes]) -> None:
        while not self._stopped.is_set():
            try:
                self._slices.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def read(self, size: int = -1) -> bytes:
        while not self._pending:
            item = self._slices.get()
            if item is None:
                self._slices.put(None)  # stay at the end for further reads
                if self._error is not None:
                    raise OSError(f"rendering CSV failed: {self._error}")
                return b""
            self._pending = memoryview(item)
        size = len(self._pending) if size is None or size < 0 else size
        chunk, self._pending = self._pending[:size], self._pending[size:]
        return bytes(chunk)

    def raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=10)


# PostgreSQL binary COPY ---------------------------------------------------------------------------

_PG_EPOCH_DAYS = 10_957  # 2000-01-01 - 1970-01-01
_PG_EPOCH_MICROS = _PG_EPOCH_DAYS * 86_400 * 1_000_000
_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
_BINARY_TRAILER = b"\xff\xff"
_INT_RANGES = {
    "int2": (-(2**15), 2**15 - 1, "smallint"),
    "int4": (-(2**31), 2**31 - 1, "integer"),
    "int8": (-(2**63), 2**63 - 1, "bigint"),
}
_FIXED_TYPES = {"int2": ">i2", "int4": ">i4", "int8": ">i8", "float4": ">f4", "float8": ">f8", "bool": "u1"}
_TEXT_TYPES = {"text", "varchar", "bpchar"}
BINARY_TYPES = frozenset(_FIXED_TYPES) | _TEXT_TYPES | {"date", "timestamp", "timestamptz"}


class NotBinary(Exception):
    """A column the binary COPY encoder does not handle: the batch goes through CSV COPY."""


class BinaryField:
    """One column of a batch in PostgreSQL's binary COPY encoding: per-row payload lengths (-1 = NULL)
    and either a fixed-width (rows, width) uint8 payload or UTF-8 bytes with row offsets."""

    def __init__(
        self,
        lengths: np.ndarray,
        fixed: Optional[np.ndarray] = None,
        data: Optional[np.ndarray] = None,
        offsets: Optional[np.ndarray] = None,
    ) -> None:
        self.lengths = lengths.astype(np.int64)
        self.fixed = fixed
        self.data = data
        self.offsets = offsets
        self.has_null = bool((self.lengths < 0).any())


def _mask(series: pd.Series) -> np.ndarray:
    return series.isna().to_numpy(dtype=bool)


def _fixed_field(values: np.ndarray, missing: np.ndarray, dtype: str) -> BinaryField:
    width = np.dtype(dtype).itemsize
    payload = np.ascontiguousarray(values.astype(dtype, copy=False)).view(np.uint8).reshape(len(values), width)
    lengths = np.where(missing, -1, width)
    return BinaryField(lengths, fixed=payload)


def _int_field(series: pd.Series, typname: str, name: str) -> BinaryField:
    if not pd.api.types.is_integer_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        raise NotBinary(name)
    missing = _mask(series)
    low, high, label = _INT_RANGES[typname]
    present = series[~missing] if missing.any() else series
    if len(present):
        smallest, largest = int(present.min()), int(present.max())
        bad = smallest if smallest < low else largest if largest > high else None
        if bad is not None:
            raise ValueError(f"column '{name}': value {bad} is out of range for type {label}")
    values = series.to_numpy(dtype=np.int64, na_value=0)
    return _fixed_field(values, missing, _FIXED_TYPES[typname])


def _float_field(series: pd.Series, typname: str, name: str) -> BinaryField:
    if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        raise NotBinary(name)
    missing = _mask(series)  # NaN is NULL, as in the CSV path
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    if typname == "float4":
        finite = values[np.isfinite(values)]
        if len(finite) and np.abs(finite).max() > np.finfo(np.float32).max:
            raise ValueError(f"column '{name}': value {finite[np.abs(finite).argmax()]} is out of range for type real")
    return _fixed_field(values, missing, _FIXED_TYPES[typname])


def _bool_field(series: pd.Series, name: str) -> BinaryField:
    if not pd.api.types.is_bool_dtype(series.dtype):
        raise NotBinary(name)
    missing = _mask(series)
    return _fixed_field(series.to_numpy(dtype=bool, na_value=False).astype(np.uint8), missing, "u1")


def _arrow_array(series: pd.Series, name: str) -> pa.Array:
    try:
        array = pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        raise NotBinary(name) from None
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return array


def _text_field(series: pd.Series, name: str) -> BinaryField:
    array = _arrow_array(series, name)
    if pa.types.is_string(array.type):
        offset_type: Any = np.int32
    elif pa.types.is_large_string(array.type):
        offset_type = np.int64
    else:
        raise NotBinary(name)  # numbers in a text column: CSV renders them as today
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[array.offset : array.offset + len(array) + 1]
    offsets = offsets.astype(np.int64)
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.empty(0, np.uint8)
    missing = array.is_null().to_numpy(zero_copy_only=False)
    lengths = np.where(missing, -1, np.diff(offsets))
    return BinaryField(lengths, data=data, offsets=offsets)


def _date_field(series: pd.Series, name: str) -> BinaryField:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            raise NotBinary(name)
        missing = _mask(series)
        days = series.to_numpy().astype("datetime64[D]").view(np.int64)  # the day of each (floored) value
        return _fixed_field(np.where(missing, 0, days - _PG_EPOCH_DAYS), missing, ">i4")
    array = _arrow_array(series, name)
    if not pa.types.is_date32(array.type):
        raise NotBinary(name)
    missing = array.is_null().to_numpy(zero_copy_only=False)
    days = array.fill_null(0).to_numpy(zero_copy_only=False).astype("datetime64[D]").astype(np.int64)
    return _fixed_field(days - _PG_EPOCH_DAYS, missing, ">i4")


def _timestamp_field(series: pd.Series, name: str) -> BinaryField:
    dtype = series.dtype
    if not pd.api.types.is_datetime64_any_dtype(dtype):
        raise NotBinary(name)
    if isinstance(dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)  # timestamptz: UTC microseconds
    missing = _mask(series)
    raw = series.to_numpy()
    unit, _ = np.datetime_data(raw.dtype)
    ticks = raw.view(np.int64)
    scale = {"s": -1_000_000, "ms": -1_000, "us": 1, "ns": 1_000}.get(unit)
    if scale is None:
        raise NotBinary(name)
    if scale < 0:
        present = ticks[~missing]
        if len(present) and np.abs(present).max() > np.iinfo(np.int64).max // -scale // 2:
            raise NotBinary(name)  # beyond any timestamp PostgreSQL holds: CSV gives the server's error
        micros = ticks * -scale
    elif scale > 1:
        # PostgreSQL rounds to the microsecond, half to even (rint)
        micros, rest = np.divmod(ticks, scale)
        micros = micros + ((rest > scale // 2) | ((rest == scale // 2) & (micros % 2 == 1)))
    else:
        micros = ticks
    return _fixed_field(np.where(missing, 0, micros - _PG_EPOCH_MICROS), missing, ">i8")


def binary_fields(frame: pd.DataFrame, types: Mapping[str, str]) -> List[BinaryField]:
    """The batch's columns encoded for binary COPY into columns of PostgreSQL types `types`.

    `NotBinary` when a column's type or values are not handled (the caller uses CSV); ValueError naming
    the column for an integer out of the target column's range.
    """
    fields = []
    for position, name in enumerate(frame.columns):
        series = frame.iloc[:, position]
        typname = types.get(name)
        if typname in BINARY_TYPES and series.isna().all():
            fields.append(BinaryField(np.full(len(series), -1), fixed=np.empty((len(series), 0), dtype=np.uint8)))
        elif typname in _INT_RANGES:
            fields.append(_int_field(series, typname, name))
        elif typname in ("float4", "float8"):
            fields.append(_float_field(series, typname, name))
        elif typname == "bool":
            fields.append(_bool_field(series, name))
        elif typname in _TEXT_TYPES:
            fields.append(_text_field(series, name))
        elif typname == "date":
            fields.append(_date_field(series, name))
        elif typname in ("timestamp", "timestamptz"):
            fields.append(_timestamp_field(series, name))
        else:
            raise NotBinary(name)
    return fields


def render_binary_rows(fields: Sequence[BinaryField], start: int, stop: int) -> bytes:
    """Tuples `start:stop` in binary COPY format (no header or trailer), built with array scatters."""
    rows = stop - start
    if rows <= 0:
        return b""
    lengths = [field.lengths[start:stop] for field in fields]
    sizes = np.full(rows, 2, dtype=np.int64)
    for length in lengths:
        sizes += 4 + np.maximum(length, 0)
    ends = np.cumsum(sizes)
    out = np.empty(int(ends[-1]), dtype=np.uint8)
    position = ends - sizes
    count = np.array([len(fields)], dtype=">i2").view(np.uint8)
    out[position] = count[0]
    out[position + 1] = count[1]
    position = position + 2
    four = np.arange(4)
    for field, length in zip(fields, lengths, strict=True):
        header = length.astype(">i4").view(np.uint8).reshape(rows, 4)
        present = length >= 0
        if field.fixed is not None:
            width = field.fixed.shape[1]
            payload = field.fixed[start:stop]
            if not field.has_null:
                block = np.empty((rows, 4 + width), dtype=np.uint8)
                block[:, :4] = header
                block[:, 4:] = payload
                out[position[:, None] + np.arange(4 + width)] = block
            else:
                out[position[:, None] + four] = header
                out[position[present, None] + 4 + np.arange(width)] = payload[present]
        else:
            assert field.offsets is not None and field.data is not None
            out[position[:, None] + four] = header
            sizes_present = length[present]
            total = int(sizes_present.sum())
            if total:
                first = np.cumsum(sizes_present) - sizes_present  # where each value starts in the gathered bytes
                within = np.arange(total) - np.repeat(first, sizes_present)
                source = np.repeat(field.offsets[start:stop][present], sizes_present) + within
                target = np.repeat(position[present] + 4, sizes_present) + within
                out[target] = field.data[source]
        position = position + 4 + np.maximum(length, 0)
    return out.tobytes()


class BinaryCopyStream(CsvCopyStream):
    """A file-like of a batch in binary COPY format, rendered in slices by a thread (as `CsvCopyStream`)."""

    def __init__(self, fields: Sequence[BinaryField], rows: int, slice_rows: int = 0, depth: int = 4) -> None:
        self._rows = rows
        super().__init__(fields, slice_rows, depth)  # type: ignore[arg-type]

    def _render(self, fields: Sequence[BinaryField], slice_rows: int) -> None:  # type: ignore[override]
        try:
            self._put(_BINARY_HEADER)
            for start in range(0, self._rows, slice_rows):
                if self._stopped.is_set():
                    return
                self._put(render_binary_rows(fields, start, min(start + slice_rows, self._rows)))
            self._put(_BINARY_TRAILER)
        except BaseException as error:  # noqa: BLE001 - re-raised by the reader
            self._error = error
        finally:
            self._put(None)
