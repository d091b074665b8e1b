"""Local CSV (`.csv`, `.csv.gz`) and Parquet (`.parquet`, `.pq`) tables; the format comes from the extension."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import IO, Any, Dict, Iterator, Optional, Sequence, Union

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..config import IfExists

PathLike = Union[str, Path]
CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
DEFAULT_CHUNK_ROWS = 100_000


def file_format(path: PathLike) -> str:
    """'csv' or 'parquet', from the file name; ValueError naming the path otherwise."""
    name = str(path).lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    raise ValueError(f"{path}: unknown table file format (use .csv, .csv.gz, .parquet or .pq)")


def check_unique_header(names: Sequence[Any], where: str) -> None:
    """ValueError naming every column name the header holds more than once (pandas would silently rename
    the second `x` to `x.1`, and two columns that are one would be modelled as two)."""
    counts = Counter(str(name) for name in names)
    repeated = {name: count for name, count in counts.items() if count > 1}
    if repeated:
        listed = ", ".join(f"'{name}' ({count} times)" for name, count in repeated.items())
        raise ValueError(f"{where}: duplicate column names in the header: {listed}; give every column its own name")


def _mangled_duplicates(columns: Sequence[Any]) -> list:
    """Columns pandas renamed from a duplicated header name (`x.1` next to `x`), for a stream whose raw
    header cannot be read twice."""
    present = {str(column) for column in columns}
    found = []
    for column in map(str, columns):
        base, dot, suffix = column.rpartition(".")
        if dot and suffix.isdigit() and base in present:
            found.append(base)
    return found


def read_file_table(path: PathLike, nrows: Optional[int] = None) -> pd.DataFrame:
    """Read a whole CSV or Parquet table (the first `nrows` rows when set); a CSV header naming a column twice
    is an error naming it."""
    kind = file_format(path)
    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: no such table file")
    if kind == "csv":
        check_unique_header(pd.read_csv(path, header=None, nrows=1, dtype=str).iloc[0].tolist(), str(path))
        return pd.read_csv(path, nrows=nrows, low_memory=False)
    table = pq.read_table(path)
    if nrows is not None:
        table = table.slice(0, nrows)
    return table.to_pandas()


def read_csv_chunks(
    source: Union[PathLike, IO[bytes]],
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    nrows: Optional[int] = None,
    compression: Optional[str] = "infer",
    text_columns: Optional[Sequence[str]] = None,
) -> Iterator[pd.DataFrame]:
    """CSV rows in DataFrames of at most `chunk_size` rows, from a path or a binary stream (maybe gzip).

    Each chunk's column types are inferred from that chunk (as `pandas.read_csv` does), except
    `text_columns`, read as text (a zero-padded id such as "01581" stays text, not 1581). A header naming a
    column twice is an error naming it (read from the file for a path; for a stream, seen as pandas' `x.1`
    renaming next to `x`).
    """
    is_path = isinstance(source, (str, Path))
    where = str(source) if is_path else "CSV stream"
    if is_path:
        header = pd.read_csv(source, header=None, nrows=1, dtype=str, compression=compression)
        check_unique_header(header.iloc[0].tolist() if len(header) else [], where)
    if nrows == 0:  # pandas yields no chunk at all for nrows=0: one empty frame with the header's columns
        frame = pd.read_csv(source, nrows=0, compression=compression, dtype=_text_dtypes(text_columns))
        if not is_path:
            check_unique_header(_mangled_duplicates(frame.columns) * 2, where)
        yield frame
        return
    dtype = _text_dtypes(text_columns)
    reader = pd.read_csv(
        source, chunksize=chunk_size, nrows=nrows, low_memory=False, compression=compression, dtype=dtype
    )
    with reader:
        for index, chunk in enumerate(reader):
            if index == 0 and not is_path:
                check_unique_header(_mangled_duplicates(chunk.columns) * 2, where)
            yield chunk


def _text_dtypes(text_columns: Optional[Sequence[str]]) -> Optional[Dict[str, Any]]:
    """`pandas.read_csv`'s dtype for columns read as text (columns the file does not have are ignored)."""
    return {str(column): str for column in text_columns} if text_columns else None


def read_parquet_chunks(
    source: Union[PathLike, Any], chunk_size: int = DEFAULT_CHUNK_ROWS, nrows: Optional[int] = None
) -> Iterator[pd.DataFrame]:
    """Parquet rows in DataFrames of at most `chunk_size` rows, from a path or a seekable binary file."""
    parquet = pq.ParquetFile(source)
    remaining = nrows
    yielded = False
    if remaining is None or remaining > 0:
        for batch in parquet.iter_batches(batch_size=chunk_size):
            if remaining is not None:
                batch = batch.slice(0, remaining)
                remaining -= batch.num_rows
            yield pa.Table.from_batches([batch]).to_pandas()
            yielded = True
            if remaining is not None and remaining <= 0:
                break
    if not yielded:
        yield parquet.schema_arrow.empty_table().to_pandas()


def read_file_table_chunks(
    path: PathLike,
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    nrows: Optional[int] = None,
    text_columns: Optional[Sequence[str]] = None,
) -> Iterator[pd.DataFrame]:
    """Read a CSV or Parquet table in DataFrames of at most `chunk_size` rows (the first `nrows` rows;
    a CSV's `text_columns` as text)."""
    kind = file_format(path)
    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: no such table file")
    if kind == "csv":
        return read_csv_chunks(path, chunk_size=chunk_size, nrows=nrows, text_columns=text_columns)
    return read_parquet_chunks(path, chunk_size=chunk_size, nrows=nrows)


def count_csv_rows(source: Union[PathLike, IO[bytes]]) -> int:
    """The records of a CSV file or binary stream (a path ending `.gz` decompressed), parsed in streaming
    blocks with no column converted, so memory holds one block: quoted newlines stay inside their record and
    empty lines are skipped, as the readers here (`pandas.read_csv`) do."""
    import pyarrow.csv as pacsv

    reader = pacsv.open_csv(
        str(source) if isinstance(source, Path) else source,
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(include_columns=[]),
    )
    return sum(batch.num_rows for batch in reader)


def count_parquet_rows(source: Union[PathLike, Any]) -> int:
    """The rows of a Parquet file (a path or a seekable binary file), from its footer alone."""
    return int(pq.ParquetFile(source).metadata.num_rows)


def count_file_rows(path: PathLike) -> int:
    """The rows of a CSV or Parquet table file, without holding its rows (`count_csv_rows`, `count_parquet_rows`)."""
    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: no such table file")
    return count_csv_rows(str(path)) if file_format(path) == "csv" else count_parquet_rows(path)


class FileTableWriter:
    """Writes a table batch by batch: the first batch honours `if_exists`, later batches append."""

    def __init__(self, path: PathLike, if_exists: IfExists = IfExists.FAIL) -> None:
        self.path = Path(path)
        self.format = file_format(path)
        self.if_exists = IfExists(if_exists)
        self._parquet_writer: Optional[pq.ParquetWriter] = None
        self._batches_written = 0

    def _prepare_first_batch(self) -> bool:
        """Apply `if_exists`; returns True when the first batch appends to an existing file."""
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return False
        if self.if_exists == IfExists.FAIL:
            raise FileExistsError(f"{self.path}: already exists and if_exists is 'fail'")
        if self.if_exists == IfExists.REPLACE:
            self.path.unlink()
            return False
        if self.format == "parquet":
            raise ValueError(f"{self.path}: if_exists 'append' to an existing Parquet file is not supported")
        return True

    def write_batch(self, frame: pd.DataFrame) -> int:
        """Write one batch; returns the number of rows written."""
        appending = self._prepare_first_batch() if self._batches_written == 0 else True
        if self.format == "csv":
            compression = "gzip" if str(self.path).lower().endswith(".gz") else None
            frame.to_csv(
                self.path, mode="a" if appending else "w", header=not appending, index=False, compression=compression
            )
        else:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._parquet_writer is None:
                self._parquet_writer = pq.ParquetWriter(self.path, table.schema)
            elif table.schema != self._parquet_writer.schema:
                table = table.cast(self._parquet_writer.schema)
            self._parquet_writer.write_table(table)
        self._batches_written += 1
        return len(frame)

    def close(self) -> None:
        """Finish the file (Parquet footers are written here)."""
        if self._parquet_writer is not None:
            self._parquet_writer.close()
            self._parquet_writer = None

    def __enter__(self) -> FileTableWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
