"""SQL tables through SQLAlchemy 2: streamed reads, typed table creation, one transaction per batch.

Reads stream through server-side cursors (`stream_results` / `yield_per`) and come back in chunks as
DataFrames typed from the reflected columns: integers as int64 (`Int64` when a chunk has nulls),
floats as float64, booleans as bool (`boolean` with nulls), timestamps as datetime64 (time-zone-aware
columns in UTC), dates as `datetime.date` objects and text as strings.

Writes create the table from the `DataSchema` (`create_table`), then `SqlTableWriter.write_batch` writes
each batch in one transaction: PostgreSQL (psycopg2) through `COPY ... FROM STDIN`, every other database
through DBAPI `executemany` in sized chunks. COPY uses PostgreSQL's binary format (built with NumPy
scatters, typed by the target table's `pg_type` names: int2/int4/int8, float4/float8, bool,
text/varchar/bpchar, date, timestamp, timestamptz); a batch with a column of another type (numeric, json,
uuid, a domain, ...) or with values the encoder does not take (numbers in a text column, ...) goes
through CSV built in memory by Arrow instead (`copy_format='csv'` always does). An integer out of its
column's range fails the batch with an error naming the column, as the server does for CSV. A batch that fails
is rolled back completely and the error says so. On PostgreSQL and SQLite the first batch runs in the
same transaction as the `CREATE`/`DROP` of `if_exists`, so a failed first batch leaves the target as it
was; MySQL/MariaDB commit DDL implicitly, so there the table is created (or replaced) first.

Engines, identifiers (always quoted by SQLAlchemy, never formatted from user text), column types and
`CREATE`/`DROP` live in `io/sql_tables.py`; the COPY encoders (binary and CSV byte streams) in
`io/pg_copy.py`. This module re-exports their public names, so callers import from `io.sql` alone.

Time zones: PostgreSQL keeps them (`timestamp with time zone`); MySQL/MariaDB have no such type, so
time-zone-aware values are stored in UTC in `DATETIME(6)` and read back naive (UTC); SQLite stores
ISO-8601 text with a `+00:00` suffix for aware values, read back aware (UTC).
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection, Engine

from ..config import IfExists
from ..config.schema import BaseTable, DataSchema
from . import pg_copy_read
from .masking import mask_url, scrub
from .pg_copy import BinaryCopyStream, BinaryField, CsvCopyStream, NotBinary, arrow_for_csv, binary_fields
from .sql_tables import (
    Bind,
    ForeignKeyTargets,
    InvalidIdentifierError,
    TableExistsError,
    begin_sqlite,
    build_table,
    check_identifier,
    check_names,
    count_rows,
    create_table,
    create_table_in,
    dialect_of,
    display_name,
    engine_from_url,
    has_table,
    qualified_name,
    quote_identifier,
    schema_column_type,
)

__all__ = [
    "Bind",
    "ForeignKeyTargets",
    "InvalidIdentifierError",
    "SqlTableWriter",
    "SqlWriteError",
    "TableExistsError",
    "build_table",
    "check_identifier",
    "column_kind",
    "count_rows",
    "create_table",
    "delete_rows_by_key",
    "display_name",
    "engine_from_url",
    "pg_column_types",
    "qualified_name",
    "quote_identifier",
    "read_sql_table",
    "reflect_table",
    "schema_column_type",
]

log = logging.getLogger(__name__)

DEFAULT_READ_CHUNK_ROWS = 100_000
DEFAULT_EXECUTEMANY_ROWS = 10_000
# Dialects whose DDL is transactional (a failed first batch also undoes its CREATE/DROP).
TRANSACTIONAL_DDL = {"postgresql", "sqlite", "mssql"}


class SqlWriteError(RuntimeError):
    """A batch could not be written; its transaction was rolled back (nothing of it was written)."""


# --------------------------------------------------------------------------------------------------
# Reading


def column_kind(column_type: sa.types.TypeEngine, dialect: sa.Dialect) -> str:
    """'int', 'float', 'bool', 'datetime', 'datetime_tz', 'date', 'str' or 'other' for a column type."""
    if isinstance(column_type, sa.Boolean):
        return "bool"
    if isinstance(column_type, mysql.TINYINT) and getattr(column_type, "display_width", None) == 1:
        return "bool"
    if isinstance(column_type, sa.Integer):
        return "int"
    if isinstance(column_type, sa.Float):
        return "float"
    if isinstance(column_type, sa.Numeric):
        if column_type.scale == 0 and (column_type.precision or 99) <= 18:
            return "int"
        return "float"
    if isinstance(column_type, sa.DateTime):
        return "datetime_tz" if getattr(column_type, "timezone", False) else "datetime"
    if isinstance(column_type, sa.Date):
        return "date"
    if isinstance(column_type, (sa.String, sa.Enum)):
        return "str"
    return "other"


def _series(values: Sequence[Any], kind: str, name: str, text_datetimes: bool) -> pd.Series:
    """One column of a chunk, typed by its kind (as Python objects when the values do not fit the kind,
    as SQLite's dynamic typing allows)."""
    try:
        return _typed_series(values, kind, name, text_datetimes)
    except (OverflowError, TypeError, ValueError, decimal.InvalidOperation):
        return pd.Series(list(values), dtype=object, name=name)


def _typed_series(values: Sequence[Any], kind: str, name: str, text_datetimes: bool) -> pd.Series:
    has_null = None in values
    if kind == "int":
        if has_null:
            return pd.Series(pd.array(list(values), dtype="Int64"), name=name)
        return pd.Series(np.fromiter(values, dtype=np.int64, count=len(values)), name=name)
    if kind == "float":
        return pd.Series(np.array(values, dtype=np.float64), name=name)
    if kind == "bool":
        if has_null:
            return pd.Series(pd.array([None if v is None else bool(v) for v in values], dtype="boolean"), name=name)
        return pd.Series(np.fromiter((bool(v) for v in values), dtype=bool, count=len(values)), name=name)
    if kind in ("datetime", "datetime_tz"):
        return pd.Series(_to_datetime(values, text_datetimes), name=name)
    if kind == "date":
        if text_datetimes:
            values = [None if v is None else dt.date.fromisoformat(str(v)[:10]) for v in values]
        return pd.Series(list(values), dtype=object, name=name)
    if kind == "str" and set(map(type, values)) <= {str, type(None)}:
        return pd.Series(list(values), dtype="str", name=name)
    return pd.Series(list(values), dtype=object, name=name)


def _to_datetime(values: Sequence[Any], text: bool) -> Any:
    """datetime64 values: naive stays naive, aware becomes UTC."""
    if text:
        strings = pd.Series([None if v is None else str(v) for v in values], dtype=object)
        try:
            parsed = pd.to_datetime(strings, format="ISO8601")
        except ValueError:  # mixed offsets
            parsed = pd.to_datetime(strings, format="ISO8601", utc=True)
        return parsed.dt.tz_convert("UTC") if parsed.dt.tz is not None else parsed
    first = next((v for v in values if v is not None), None)
    return pd.to_datetime(pd.Series(list(values), dtype=object), utc=getattr(first, "tzinfo", None) is not None)


def _empty_series(kind: str, name: str) -> pd.Series:
    dtype = {
        "int": "int64",
        "float": "float64",
        "bool": "bool",
        "datetime": "datetime64[us]",
        "datetime_tz": "datetime64[us, UTC]",
        "str": "str",
    }.get(kind, object)
    return pd.Series([], dtype=dtype, name=name)


def _read_expression(column: sa.Column, kind: str, text_datetimes: bool) -> Any:
    """The column as selected: SQLite dates as text (parsed here), floats without a Decimal detour."""
    if text_datetimes and kind in ("datetime", "datetime_tz", "date"):
        return sa.type_coerce(column, sa.String())
    if kind == "float" and getattr(column.type, "asdecimal", False):
        return sa.type_coerce(column, sa.Double())
    return column


def reflect_table(bind: Bind, table_name: str, schema_name: Optional[str] = None) -> sa.Table:
    """The existing table, reflected (LookupError naming it when it does not exist)."""
    dialect = dialect_of(bind)
    check_names(dialect, table_name, schema_name, [])
    try:
        return sa.Table(table_name, sa.MetaData(), schema=schema_name, autoload_with=bind)
    except sa.exc.NoSuchTableError:
        raise LookupError(f"database table {display_name(table_name, schema_name)} does not exist") from None


def read_sql_table(
    engine: Engine,
    table_name: str,
    schema_name: Optional[str] = None,
    columns: Optional[Sequence[str]] = None,
    chunk_size: int = DEFAULT_READ_CHUNK_ROWS,
    *,
    limit: Optional[int] = None,
) -> Iterator[pd.DataFrame]:
    """Stream a table as DataFrames of at most `chunk_size` rows (at least one frame, maybe empty).

    The table is reflected now (a missing table or column raises here, naming it); rows are fetched
    through a server-side cursor as the iterator is consumed, so memory holds one chunk at a time.
    `limit` reads only the first rows (in the database's order).
    """
    if chunk_size < 1:
        raise ValueError(f"table {display_name(table_name, schema_name)}: chunk_size must be >= 1")
    table = reflect_table(engine, table_name, schema_name)
    if columns is not None:
        missing = [c for c in columns if c not in table.c]
        if missing:
            raise LookupError(f"database table {display_name(table_name, schema_name)} has no column(s) {missing}")
        selected = [table.c[c] for c in columns]
    else:
        selected = list(table.c)
    dialect = engine.dialect
    text_datetimes = dialect.name == "sqlite"
    kinds = [column_kind(column.type, dialect) for column in selected]
    names = [column.name for column in selected]
    if pg_copy_read.supported(engine, kinds):  # COPY ... TO STDOUT into Arrow (io/pg_copy_read.py)
        qualified = qualified_name(dialect, table_name, schema_name)
        return pg_copy_read.read_chunks(engine, qualified, names, kinds, chunk_size, limit)
    expressions = [_read_expression(column, kind, text_datetimes) for column, kind in zip(selected, kinds, strict=True)]
    statement = sa.select(*expressions)
    if limit is not None:
        statement = statement.limit(int(limit))

    def chunks() -> Iterator[pd.DataFrame]:
        yielded = False
        with engine.connect() as connection:
            result = connection.execution_options(stream_results=True, yield_per=chunk_size).execute(statement)
            for rows in result.partitions():
                values_by_column = list(zip(*rows)) if rows else [() for _ in names]
                yield pd.DataFrame(
                    {
                        position: _series(values, kind, name, text_datetimes)
                        for position, (values, kind, name) in enumerate(zip(values_by_column, kinds, names))
                    }
                ).set_axis(names, axis=1)
                yielded = True
        if not yielded:
            frame = pd.DataFrame({i: _empty_series(kind, name) for i, (kind, name) in enumerate(zip(kinds, names))})
            yield frame.set_axis(names, axis=1)

    return chunks()


# --------------------------------------------------------------------------------------------------
# Writing


_KIND_LABELS = {
    "int": "integers",
    "float": "floating-point numbers",
    "bool": "booleans",
    "datetime": "timestamps",
    "datetime_tz": "timestamps with time zone",
    "date": "dates",
}


def _conform(series: pd.Series, kind: str, name: str) -> pd.Series:
    """A batch column made to fit its target column (time zones, integers held as floats, parsed text).

    ValueError naming the column when its values cannot fit (even where the database would take them,
    as SQLite takes text in an integer column).
    """
    try:
        return _conform_values(series, kind)
    except (ValueError, TypeError, OverflowError) as error:
        detail = " ".join(str(error).split())[:200]
        raise ValueError(f"column '{name}': cannot be written as {_KIND_LABELS.get(kind, kind)} ({detail})") from None


def _parse_datetimes(series: pd.Series) -> pd.Series:
    """Text as datetime64: ISO-8601 without a zone offset by Arrow's cast (C++, no object per row), anything
    else (offsets, compact or padded forms) by pandas' ISO-8601 parser, which reads those the same way."""
    if pd.api.types.is_string_dtype(series.dtype) and series.dtype != object:
        try:
            parsed = pc.cast(pa.array(series, from_pandas=True), pa.timestamp("us"))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            pass
        else:
            values = parsed.to_numpy(zero_copy_only=False).astype("datetime64[us]", copy=False)
            return pd.Series(values, index=series.index, name=series.name)
    try:
        return pd.to_datetime(series, format="ISO8601")
    except ValueError as error:
        if "tz" not in str(error).lower() and "timezone" not in str(error).lower():
            raise
        return pd.to_datetime(series, format="ISO8601", utc=True)


def _conform_values(series: pd.Series, kind: str) -> pd.Series:
    dtype = series.dtype
    if kind in ("datetime", "datetime_tz"):
        if not pd.api.types.is_datetime64_any_dtype(dtype):
            series = _parse_datetimes(series)
        aware = isinstance(series.dtype, pd.DatetimeTZDtype)
        if kind == "datetime_tz":
            return series.dt.tz_convert("UTC") if aware else series.dt.tz_localize("UTC")
        return series.dt.tz_convert("UTC").dt.tz_localize(None) if aware else series
    if kind == "date":
        if not pd.api.types.is_datetime64_any_dtype(dtype):
            present = series.dropna()
            if all(isinstance(v, dt.date) and not isinstance(v, dt.datetime) for v in present.head(100)):
                return series.astype(object).where(series.notna(), None)
            series = _parse_datetimes(series)
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            series = series.dt.tz_localize(None)
        return series.dt.floor("D")  # datetime64 at midnight: dates without a Python object per row
    if kind == "int":
        if pd.api.types.is_integer_dtype(dtype):
            return series
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            series = pd.to_numeric(series.astype(object).where(series.notna(), None))
        return series if pd.api.types.is_integer_dtype(series.dtype) else series.astype("Int64")
    if kind == "float":
        if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            return series
        return pd.to_numeric(series.astype(object).where(series.notna(), None)).astype("float64")
    if kind == "bool":
        if pd.api.types.is_bool_dtype(dtype):
            return series
        values = set(series.dropna().unique().tolist())
        if not values <= {True, False}:
            raise ValueError(f"not booleans: {sorted(map(repr, values))[:5]}")
        return series.astype(object).where(series.notna(), None).astype("boolean")
    return series


def _python_values(series: pd.Series, kind: str, text_datetimes: bool, aware_suffix: str) -> List[Any]:
    """A column as Python values for a DBAPI driver (None for nulls; datetimes as text when asked)."""
    missing = series.isna().to_numpy()
    if kind in ("datetime", "datetime_tz") and pd.api.types.is_datetime64_any_dtype(series.dtype):
        aware = isinstance(series.dtype, pd.DatetimeTZDtype)
        naive = series.dt.tz_convert("UTC").dt.tz_localize(None) if aware else series
        if text_datetimes:
            strings = np.datetime_as_string(naive.to_numpy(dtype="datetime64[us]"), unit="us").tolist()
            suffix = aware_suffix if aware else ""
            values = [f"{s[:10]} {s[11:]}{suffix}" for s in strings]
        else:
            values = naive.astype(object).tolist()
            values = [None if gone else value.to_pydatetime() for value, gone in zip(values, missing.tolist())]
            if aware:
                values = [None if v is None else v.replace(tzinfo=dt.timezone.utc) for v in values]
    elif kind == "date" and pd.api.types.is_datetime64_any_dtype(series.dtype):
        dates = series.dt.date.astype(object).tolist()
        values = [v.isoformat() for v in dates] if text_datetimes else dates
    elif kind == "date" and text_datetimes:
        values = [v.isoformat() if hasattr(v, "isoformat") else v for v in series.astype(object).tolist()]
    else:
        values = series.astype(object).tolist()
    if missing.any():
        values = [None if gone else value for value, gone in zip(values, missing.tolist())]
    return values


def pg_column_types(connection: Connection, table_name: str, schema_name: Optional[str]) -> Dict[str, str]:
    """The target table's columns -> PostgreSQL type name (`pg_type.typname`; a domain is its own name)."""
    regclass = qualified_name(connection.dialect, table_name, schema_name)
    rows = connection.execute(
        sa.text(
            "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
            "WHERE a.attrelid = CAST(:regclass AS regclass) AND a.attnum > 0 AND NOT a.attisdropped"
        ),
        {"regclass": regclass},
    )
    return {str(name): str(typname) for name, typname in rows}


class SqlTableWriter:
    """Writes a table batch by batch, one transaction per batch.

    The first batch applies `if_exists` (creating the table from `table`, a `DataSchema` table, or from
    the batch's columns); later batches append. `method` is 'copy' (PostgreSQL with psycopg2),
    'executemany' or 'auto' (COPY where possible); `copy_format` 'binary' (binary COPY where every column
    allows it, else CSV for that batch; `binary_batches` counts them) or 'csv'. `write_batch` raises
    `SqlWriteError` after rolling back when a batch fails, so the caller can send that batch elsewhere and
    go on.
    """

    def __init__(
        self,
        engine: Engine,
        table_name: str,
        schema_name: Optional[str] = None,
        table: Optional[BaseTable] = None,
        if_exists: Union[IfExists, str] = IfExists.FAIL,
        *,
        data_schema: Optional[DataSchema] = None,
        foreign_key_targets: Optional[ForeignKeyTargets] = None,
        string_lengths: Optional[Mapping[str, int]] = None,
        method: str = "auto",
        executemany_rows: int = DEFAULT_EXECUTEMANY_ROWS,
        secrets: Sequence[str] = (),
        copy_format: str = "binary",
    ) -> None:
        dialect = engine.dialect
        check_names(dialect, table_name, schema_name, [c.name for c in table.columns] if table is not None else [])
        can_copy = dialect.name == "postgresql" and dialect.driver == "psycopg2"
        if method not in ("auto", "copy", "executemany"):
            raise ValueError(f"method must be 'auto', 'copy' or 'executemany', not {method!r}")
        if method == "copy" and not can_copy:
            raise ValueError(f"method 'copy' needs PostgreSQL with psycopg2, not {dialect.name}+{dialect.driver}")
        if copy_format not in ("binary", "csv"):
            raise ValueError(f"copy_format must be 'binary' or 'csv', not {copy_format!r}")
        self.engine = engine
        self.table_name = table_name
        self.schema_name = schema_name
        self.table = table
        self.if_exists = IfExists(if_exists)
        self.data_schema = data_schema
        self.foreign_key_targets = foreign_key_targets
        self.string_lengths = string_lengths
        self.method = "copy" if method == "copy" or (method == "auto" and can_copy) else "executemany"
        self.executemany_rows = max(1, int(executemany_rows))
        self.secrets = list(secrets)
        self.copy_format = copy_format
        self.batches_written = 0
        self.rows_written = 0
        self.binary_batches = 0
        self._sa_table: Optional[sa.Table] = None

    @property
    def name(self) -> str:
        """The target for messages: `'schema.table'`."""
        return display_name(self.table_name, self.schema_name)

    def _prepare(self, connection: Connection, frame: pd.DataFrame) -> sa.Table:
        if_exists = self.if_exists if self.batches_written == 0 else IfExists.APPEND
        return create_table_in(
            connection,
            self.table_name,
            self.schema_name,
            self.table,
            if_exists,
            frame,
            self.data_schema,
            self.foreign_key_targets,
            self.string_lengths,
        )

    def write_batch(self, frame: pd.DataFrame) -> int:
        """Write one batch in one transaction; returns its row count. On failure nothing of it is written."""
        try:
            if self._sa_table is None and self.engine.dialect.name not in TRANSACTIONAL_DDL:
                # DDL commits implicitly here: create (or replace) the table on its own first.
                with self.engine.begin() as connection:
                    self._sa_table = self._prepare(connection, frame)
            with self.engine.begin() as connection:
                begin_sqlite(connection)
                sa_table = self._sa_table if self._sa_table is not None else self._prepare(connection, frame)
                self._insert(connection, sa_table, frame)
            self._sa_table = sa_table  # only once the CREATE (if any) is committed with the batch
        except (TableExistsError, InvalidIdentifierError):
            raise
        except Exception as error:
            raise SqlWriteError(
                f"table {self.name}: batch of {len(frame)} rows rolled back: {self._describe(error)}"
            ) from error
        self.batches_written += 1
        self.rows_written += len(frame)
        return len(frame)

    def _describe(self, error: BaseException) -> str:
        original = getattr(error, "orig", None) or error
        text = " ".join(str(original).split())
        if len(text) > 500:
            text = text[:500] + " ..."
        return scrub(f"{type(original).__name__}: {text}", self.secrets)

    @staticmethod
    def _columns(sa_table: sa.Table, frame: pd.DataFrame) -> List[str]:
        names = [str(c) for c in frame.columns]
        if len(set(names)) != len(names):
            raise ValueError("the batch has duplicate column names")
        unknown = [c for c in names if c not in sa_table.c]
        if unknown:
            raise ValueError(f"column(s) {unknown} are not in the target table")
        return names

    def _insert(self, connection: Connection, sa_table: sa.Table, frame: pd.DataFrame) -> None:
        columns = self._columns(sa_table, frame)
        if len(frame) == 0:
            return
        kinds = {column.name: column_kind(column.type, connection.dialect) for column in sa_table.columns}
        conformed = pd.DataFrame(
            {i: _conform(frame.iloc[:, i].reset_index(drop=True), kinds[name], name) for i, name in enumerate(columns)}
        )
        conformed.columns = columns
        if self.method == "copy":
            self._copy(connection, conformed)
        else:
            self._executemany(connection, sa_table, conformed, kinds)

    def _copy(self, connection: Connection, frame: pd.DataFrame) -> None:
        if self.copy_format == "binary":
            try:
                fields = binary_fields(frame, pg_column_types(connection, self.table_name, self.schema_name))
            except NotBinary as unsupported:
                log.debug("table %s: column '%s' goes through CSV COPY", self.name, unsupported)
            else:
                self._copy_binary(connection, frame, fields)
                self.binary_batches += 1
                return
        self._copy_csv(connection, frame)

    def _copy_binary(self, connection: Connection, frame: pd.DataFrame, fields: Sequence[BinaryField]) -> None:
        self._copy_from_stream(connection, frame, "FORMAT binary", BinaryCopyStream(fields, len(frame)))

    def _copy_csv(self, connection: Connection, frame: pd.DataFrame) -> None:
        self._copy_from_stream(connection, frame, "FORMAT csv, ENCODING 'UTF8'", CsvCopyStream(arrow_for_csv(frame)))

    def _copy_from_stream(self, connection: Connection, frame: pd.DataFrame, options: str, stream: Any) -> None:
        """`COPY table (columns) FROM STDIN WITH (options)` fed from `stream`, a file-like rendered by a
        background thread (`BinaryCopyStream` or `CsvCopyStream`), in the batch's transaction."""
        dialect = connection.dialect
        columns = ", ".join(quote_identifier(dialect, name) for name in frame.columns)
        table = qualified_name(dialect, self.table_name, self.schema_name)
        statement = f"COPY {table} ({columns}) FROM STDIN WITH ({options})"
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            cursor.copy_expert(statement, stream, size=1 << 20)
        finally:
            cursor.close()
            stream.close()
        stream.raise_error()

    def _executemany(
        self, connection: Connection, sa_table: sa.Table, frame: pd.DataFrame, kinds: Mapping[str, str]
    ) -> None:
        dialect = connection.dialect
        raw = dialect.name in ("sqlite", "mysql", "mariadb")
        suffix = "+00:00" if dialect.name == "sqlite" else ""
        columns = list(frame.columns)
        values = [_python_values(frame.iloc[:, i], kinds[name], raw, suffix) for i, name in enumerate(columns)]
        total = len(frame)
        if raw:
            # Positional DBAPI executemany of the statement SQLAlchemy compiled (identifiers quoted by it).
            binds = {name: sa.bindparam(f"p{i}") for i, name in enumerate(columns)}
            compiled = sa_table.insert().values(binds).compile(dialect=dialect)
            if compiled.positional and compiled.positiontup is not None:
                order = [int(bind[1:]) for bind in compiled.positiontup]
                statement = str(compiled)
                for start in range(0, total, self.executemany_rows):
                    stop = min(start + self.executemany_rows, total)
                    rows = list(zip(*(values[i][start:stop] for i in order)))
                    connection.exec_driver_sql(statement, rows)
                return
        insert = sa_table.insert()
        for start in range(0, total, self.executemany_rows):
            stop = min(start + self.executemany_rows, total)
            chunk = [dict(zip(columns, row)) for row in zip(*(column[start:stop] for column in values))]
            connection.execute(insert, chunk)

    def close(self) -> None:
        """Nothing to finish: every batch is committed by `write_batch`."""

    def __enter__(self) -> SqlTableWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqlTableWriter({self.name} at {mask_url(self.engine.url)}, method={self.method!r})"


DELETE_KEYS_PER_STATEMENT = 1000


def delete_rows_by_key(
    engine: Engine, table_name: str, schema_name: Optional[str], key_columns: Sequence[str], frame: pd.DataFrame
) -> int:
    """Delete the rows of the target table whose `key_columns` values are those of a row of `frame`, in
    one transaction (statements of DELETE_KEYS_PER_STATEMENT keys); a table that does not exist yet has
    nothing to delete. Returns the number of rows deleted. How a mapped generation batch makes its retry
    replace the rows an earlier attempt wrote (its keys are a function of the batch)."""
    if not key_columns or len(frame) == 0:
        return 0
    with engine.begin() as connection:
        begin_sqlite(connection)
        if not has_table(connection, table_name, schema_name):
            return 0
        sa_table = reflect_table(connection, table_name, schema_name)
        kinds = {name: column_kind(sa_table.c[name].type, connection.dialect) for name in key_columns}
        keys = frame[list(key_columns)].dropna().drop_duplicates()
        values = [
            _python_values(_conform(keys[name].reset_index(drop=True), kinds[name], name), kinds[name], False, "")
            for name in key_columns
        ]
        rows = list(zip(*values))
        target = (
            sa_table.c[key_columns[0]]
            if len(key_columns) == 1
            else sa.tuple_(*(sa_table.c[name] for name in key_columns))
        )
        deleted = 0
        for start in range(0, len(rows), DELETE_KEYS_PER_STATEMENT):
            chunk = rows[start : start + DELETE_KEYS_PER_STATEMENT]
            wanted = [row[0] for row in chunk] if len(key_columns) == 1 else chunk
            deleted += connection.execute(sa_table.delete().where(target.in_(wanted))).rowcount or 0
    return deleted
