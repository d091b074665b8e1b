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

Identifiers (schema, table and column names) always go through SQLAlchemy's quoting (`sqlalchemy.Table`
objects and the dialect's identifier preparer), never through string formatting of user text; a name the
dialect cannot quote (a NUL byte, longer than the dialect allows, ...) is refused with `InvalidIdentifierError`.

Time zones: PostgreSQL keeps them (`timestamp with time zone`); MySQL/MariaDB have no such type, so
time-zone-aware values are stored in UTC in `DATETIME(6)` and read back naive (UTC); SQLite stores
ISO-8601 text with a `+00:00` suffix for aware values, read back aware (UTC).
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import queue
import threading
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection, Engine

from ..config import IfExists
from ..config.enums import IdFormat
from ..config.schema import (
    ID_PATTERN_PLACEHOLDER,
    AgeColumn,
    BaseTable,
    BoolColumn,
    CategoryColumn,
    ConstantColumn,
    DataSchema,
    DateColumn,
    DatetimeColumn,
    FloatColumn,
    ForeignKeyColumn,
    IdColumn,
    IntegerColumn,
)
from .masking import mask_url, scrub

log = logging.getLogger(__name__)

DEFAULT_READ_CHUNK_ROWS = 100_000
DEFAULT_EXECUTEMANY_ROWS = 10_000
COPY_SLICE_ROWS = 20_000
# Where several data sources write tables with foreign keys between them: schema table -> (schema, table).
ForeignKeyTargets = Mapping[str, Tuple[Optional[str], str]]
Bind = Union[Engine, Connection]

# Dialects whose DDL is transactional (a failed first batch also undoes its CREATE/DROP).
_TRANSACTIONAL_DDL = {"postgresql", "sqlite", "mssql"}
# Identifier limits SQLAlchemy does not state exactly: PostgreSQL counts bytes (NAMEDATALEN - 1).
_MAX_IDENTIFIER_BYTES = {"postgresql": 63}
_MAX_IDENTIFIER_CHARS = {"mysql": 64, "mariadb": 64}
_STRING_KEY_LENGTH = 255  # a text key column of unknown length (MySQL cannot index TEXT)


class InvalidIdentifierError(ValueError):
    """A schema, table or column name the target database cannot quote safely."""


class TableExistsError(FileExistsError):
    """The target table exists and `if_exists` is 'fail'."""


class SqlWriteError(RuntimeError):
    """A batch could not be written; its transaction was rolled back (nothing of it was written)."""


# --------------------------------------------------------------------------------------------------
# Engines and identifiers


def engine_from_url(url: Union[str, sa.URL], **engine_kwargs: Any) -> Engine:
    """A SQLAlchemy engine for `url`.

    `postgres://` is read as `postgresql://`, and `mysql://`/`mariadb://` without a driver use PyMySQL
    when mysqlclient is not installed. Errors never carry the URL's password.
    """
    parsed = sa.make_url(url) if isinstance(url, str) else url
    drivername = parsed.drivername
    if drivername.split("+")[0] == "postgres":
        drivername = "postgresql" + drivername[len("postgres") :]
    if drivername in ("mysql", "mariadb") and not _importable("MySQLdb") and _importable("pymysql"):
        drivername += "+pymysql"
    parsed = parsed.set(drivername=drivername)
    engine_kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(parsed, **engine_kwargs)


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def display_name(name: str, schema_name: Optional[str] = None) -> str:
    """A table name for messages: `'schema.table'` (repr-escaped when it holds unprintable characters)."""
    text = f"{schema_name}.{name}" if schema_name else name
    return f"'{text}'" if text.isprintable() else repr(text)


def check_identifier(dialect: sa.Dialect, name: object, what: str = "table") -> str:
    """`name` if `dialect` can quote it safely; InvalidIdentifierError naming it otherwise."""
    if not isinstance(name, str) or name == "":
        raise InvalidIdentifierError(f"{what} name {name!r}: must be a non-empty string")
    shown = f"'{name[:80]}'" if name.isprintable() else repr(name[:80])
    shown += "..." if len(name) > 80 else ""
    if "\x00" in name:
        raise InvalidIdentifierError(f"{what} name {shown}: contains a NUL byte, which {dialect.name} cannot quote")
    max_bytes = _MAX_IDENTIFIER_BYTES.get(dialect.name)
    if max_bytes is not None and len(name.encode("utf-8")) > max_bytes:
        raise InvalidIdentifierError(
            f"{what} name {shown}: {len(name.encode('utf-8'))} bytes, longer than the {max_bytes} {dialect.name} allows"
        )
    max_chars = _MAX_IDENTIFIER_CHARS.get(dialect.name) or getattr(dialect, "max_identifier_length", None)
    if max_chars and len(name) > max_chars:
        raise InvalidIdentifierError(
            f"{what} name {shown}: {len(name)} characters, longer than the {max_chars} {dialect.name} allows"
        )
    if dialect.name in ("mysql", "mariadb"):
        if name.endswith(" "):
            raise InvalidIdentifierError(f"{what} name {shown}: {dialect.name} names cannot end with a space")
        if "`" in name:
            # SQLAlchemy's MySQL reflection reads names from SHOW CREATE TABLE without un-doubling backticks.
            raise InvalidIdentifierError(
                f"{what} name {shown}: {dialect.name} names with a backtick cannot be read back reliably"
            )
        if any(ord(char) > 0xFFFF for char in name):
            raise InvalidIdentifierError(
                f"{what} name {shown}: {dialect.name} names cannot hold characters outside the BMP"
            )
    return name


def _check_names(dialect: sa.Dialect, table_name: str, schema_name: Optional[str], columns: Iterable[str]) -> None:
    check_identifier(dialect, table_name, "table")
    if schema_name is not None:
        check_identifier(dialect, schema_name, "schema")
    for column in columns:
        check_identifier(dialect, column, "column")


def quote_identifier(dialect: sa.Dialect, name: str) -> str:
    """`name` quoted by the dialect's identifier preparer, for raw SQL without bound parameters (COPY)."""
    preparer = dialect.identifier_preparer
    quoted = preparer.quote(check_identifier(dialect, name, "identifier"))
    # The preparer doubles '%' for drivers with %-style parameters; COPY text is not %-formatted.
    return quoted.replace("%%", "%") if getattr(preparer, "_double_percents", False) else quoted


def qualified_name(dialect: sa.Dialect, name: str, schema_name: Optional[str] = None) -> str:
    """`"schema"."table"` quoted by the dialect (for raw SQL without bound parameters)."""
    table = quote_identifier(dialect, name)
    return f"{quote_identifier(dialect, schema_name)}.{table}" if schema_name else table


def _dialect(bind: Bind) -> sa.Dialect:
    return bind.dialect


# --------------------------------------------------------------------------------------------------
# Reading


def _column_kind(column_type: sa.types.TypeEngine, dialect: sa.Dialect) -> str:
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
    dialect = _dialect(bind)
    _check_names(dialect, table_name, schema_name, [])
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
    kinds = [_column_kind(column.type, dialect) for column in selected]
    names = [column.name for column in selected]
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
# Column types and table creation


def _pattern_length(pattern: str) -> int:
    literal = ID_PATTERN_PLACEHOLDER.sub("", pattern)
    return len(literal) + sum(int(m.group(2)) for m in ID_PATTERN_PLACEHOLDER.finditer(pattern))


def _datetime_type(timezone: bool) -> sa.types.TypeEngine:
    return sa.DateTime(timezone=timezone).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def _string_type(length: Optional[int], is_key: bool) -> sa.types.TypeEngine:
    if length:
        return sa.String(int(length))
    return sa.String(_STRING_KEY_LENGTH) if is_key else sa.Text()


def _dtype_type(series: Optional[pd.Series], length: Optional[int], is_key: bool) -> sa.types.TypeEngine:
    """A column type from a batch's values (for columns whose schema type does not fix it)."""
    if series is None:
        return _string_type(length, is_key)
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return sa.Boolean()
    if pd.api.types.is_integer_dtype(dtype):
        return sa.BigInteger()
    if pd.api.types.is_float_dtype(dtype):
        return sa.Double()
    if isinstance(dtype, pd.DatetimeTZDtype):
        return _datetime_type(True)
    if pd.api.types.is_datetime64_dtype(dtype):
        return _datetime_type(False)
    if pd.api.types.is_object_dtype(dtype):
        sample = series.dropna()
        first = sample.iloc[0] if len(sample) else None
        if isinstance(first, dt.datetime):
            return _datetime_type(first.tzinfo is not None)
        if isinstance(first, dt.date):
            return sa.Date()
        if isinstance(first, (bool, np.bool_)):
            return sa.Boolean()
        if isinstance(first, (int, np.integer)):
            return sa.BigInteger()
        if isinstance(first, (float, np.floating)):
            return sa.Double()
    return _string_type(length, is_key)


def _is_text_series(series: Optional[pd.Series]) -> bool:
    if series is None:
        return False
    return isinstance(next(iter(series.dropna()), None), str)


def schema_column_type(
    column: Any,
    table: BaseTable,
    *,
    frame: Optional[pd.DataFrame] = None,
    data_schema: Optional[DataSchema] = None,
    string_lengths: Optional[Mapping[str, int]] = None,
    _depth: int = 0,
) -> sa.types.TypeEngine:
    """The SQL type of a `DataSchema` column; the first batch (`frame`) refines what the schema leaves open.

    integer -> BIGINT, age -> INTEGER, float -> DOUBLE, bool -> BOOLEAN, datetime -> TIMESTAMP (with time
    zone when the batch's values carry one), date -> DATE, numerical id -> BIGINT, uuid id -> VARCHAR(36),
    pattern id -> VARCHAR(length of the pattern), foreign key -> the referenced column's type, category
    and constant -> from the values, person/location/other text -> VARCHAR(n) when `string_lengths`
    knows n, else TEXT.
    """
    series = frame[column.name] if frame is not None and column.name in frame.columns else None
    length = (string_lengths or {}).get(column.name)
    is_key = column.name in table.key_columns or isinstance(column, ForeignKeyColumn)
    if isinstance(column, IdColumn):
        if column.format == IdFormat.NUMERICAL:
            return sa.BigInteger()
        if column.format == IdFormat.UUID:
            return sa.String(36)
        return sa.String(_pattern_length(column.pattern or ""))
    if isinstance(column, ForeignKeyColumn):
        parent = None
        if column.ref_table == table.name:
            parent = table
        elif data_schema is not None and column.ref_table in data_schema.table_names:
            parent = data_schema.table(column.ref_table)
        if parent is not None and _depth < 16:
            ref = parent.column(column.ref_column)
            if ref is not column:
                return schema_column_type(ref, parent, data_schema=data_schema, string_lengths=None, _depth=_depth + 1)
        return _dtype_type(series, length, is_key=True)
    if isinstance(column, IntegerColumn):
        return sa.BigInteger()
    if isinstance(column, AgeColumn):
        return sa.Integer()
    if isinstance(column, FloatColumn):
        return sa.Double()
    if isinstance(column, BoolColumn):
        return sa.Boolean()
    if isinstance(column, DatetimeColumn):
        if column.format and _is_text_series(series):
            return _string_type(length, is_key)
        aware = series is not None and isinstance(series.dtype, pd.DatetimeTZDtype)
        if series is not None and pd.api.types.is_object_dtype(series.dtype):
            first = next(iter(series.dropna()), None)
            aware = getattr(first, "tzinfo", None) is not None
        return _datetime_type(aware)
    if isinstance(column, DateColumn):
        if column.format and _is_text_series(series):
            return _string_type(length, is_key)
        return sa.Date()
    if isinstance(column, ConstantColumn):
        value = column.value
        if isinstance(value, bool):
            return sa.Boolean()
        if isinstance(value, int):
            return sa.BigInteger()
        if isinstance(value, float):
            return sa.Double()
        if isinstance(value, str):
            return _string_type(length or max(len(value), 1), is_key)
        return _dtype_type(series, length, is_key)
    if isinstance(column, CategoryColumn):
        return _dtype_type(series, length, is_key)
    return _string_type(length, is_key)


def _frame_table(frame: pd.DataFrame) -> List[sa.Column]:
    return [sa.Column(str(c), _dtype_type(frame[c], None, False)) for c in frame.columns]


def build_table(
    dialect: sa.Dialect,
    name: str,
    schema_name: Optional[str],
    table: Optional[BaseTable],
    *,
    frame: Optional[pd.DataFrame] = None,
    data_schema: Optional[DataSchema] = None,
    foreign_key_targets: Optional[ForeignKeyTargets] = None,
    string_lengths: Optional[Mapping[str, int]] = None,
    existing_tables: Optional[Iterable[Tuple[Optional[str], str]]] = None,
) -> sa.Table:
    """The `sqlalchemy.Table` to create for a schema table (or, without one, for a batch's columns).

    Primary key from `table.key_columns`; a foreign key becomes a constraint when its parent is written
    to the same database (`foreign_key_targets` maps schema table -> (schema_name, table_name); a
    self-reference always qualifies) and the parent exists (`existing_tables`, when given).
    """
    metadata = sa.MetaData()
    kwargs = {"mysql_charset": "utf8mb4", "mysql_engine": "InnoDB"} if dialect.name in ("mysql", "mariadb") else {}
    if table is None:
        if frame is None:
            raise ValueError(f"table {display_name(name, schema_name)}: needs a schema table or a first batch")
        columns = _frame_table(frame)
        _check_names(dialect, name, schema_name, [c.name for c in columns])
        return sa.Table(name, metadata, *columns, schema=schema_name, **kwargs)
    _check_names(dialect, name, schema_name, [c.name for c in table.columns])
    key = table.key_columns
    columns = [
        sa.Column(
            column.name,
            schema_column_type(column, table, frame=frame, data_schema=data_schema, string_lengths=string_lengths),
            primary_key=column.name in key,
            autoincrement=False,
            nullable=column.name not in key,
        )
        for column in table.columns
    ]
    sa_table = sa.Table(name, metadata, *columns, schema=schema_name, **kwargs)
    existing = set(existing_tables) if existing_tables is not None else None
    for parent_name, fks in _foreign_keys_by_parent(table).items():
        if parent_name == table.name:
            target: Optional[Tuple[Optional[str], str]] = (schema_name, name)
        else:
            target = (foreign_key_targets or {}).get(parent_name)
        if target is None:
            log.info("table %s: foreign key to '%s' not enforced (parent not in this database)", name, parent_name)
            continue
        if existing is not None and target != (schema_name, name) and target not in existing:
            log.warning(
                "table %s: foreign key to %s not created (parent table missing)", name, display_name(*target[::-1])
            )
            continue
        parent_schema_table = (
            table
            if parent_name == table.name
            else (
                data_schema.table(parent_name)
                if data_schema is not None and parent_name in data_schema.table_names
                else None
            )
        )
        parent_key = parent_schema_table.key_columns if parent_schema_table is not None else None
        for group in _constraint_groups(fks, parent_key):
            check_identifier(dialect, target[1], "table")
            if target == (schema_name, name):
                parent_table = sa_table
            else:
                parent_table = _stub_table(metadata, target, group, sa_table)
            sa_table.append_constraint(
                sa.ForeignKeyConstraint([fk.name for fk in group], [parent_table.c[fk.ref_column] for fk in group])
            )
    return sa_table


def _foreign_keys_by_parent(table: BaseTable) -> Dict[str, List[ForeignKeyColumn]]:
    grouped: Dict[str, List[ForeignKeyColumn]] = {}
    for fk in table.foreign_keys:
        grouped.setdefault(fk.ref_table, []).append(fk)
    return grouped


def _constraint_groups(fks: List[ForeignKeyColumn], parent_key: Optional[List[str]]) -> List[List[ForeignKeyColumn]]:
    """Foreign-key columns to one parent grouped into constraints the database can enforce."""
    if parent_key is None:
        return [[fk] for fk in fks]
    refs = [fk.ref_column for fk in fks]
    if len(parent_key) > 1:
        if sorted(refs) == sorted(parent_key):
            return [sorted(fks, key=lambda fk: parent_key.index(fk.ref_column))]
        log.info("foreign key columns %s do not cover the composite key %s: not enforced", refs, parent_key)
        return []
    return [[fk] for fk in fks if [fk.ref_column] == parent_key]


def _stub_table(
    metadata: sa.MetaData, target: Tuple[Optional[str], str], group: List[ForeignKeyColumn], child: sa.Table
) -> sa.Table:
    schema_name, name = target
    key = f"{schema_name}.{name}" if schema_name else name
    parent = metadata.tables.get(key)
    if parent is None:
        parent = sa.Table(name, metadata, schema=schema_name)
    for fk in group:
        if fk.ref_column not in parent.c:
            parent.append_column(sa.Column(fk.ref_column, child.c[fk.name].type))
    return parent


def _has_table(connection: Connection, name: str, schema_name: Optional[str]) -> bool:
    return sa.inspect(connection).has_table(name, schema=schema_name)


def _drop_table(connection: Connection, name: str, schema_name: Optional[str]) -> None:
    """Drop a table, first dropping the foreign keys of other tables (in its schema) that reference it.

    So that a multi-table run with `if_exists='replace'` can replace parents before children; a child
    that is not replaced keeps its rows but loses that constraint (logged).
    """
    if connection.dialect.name != "sqlite":
        inspector = sa.inspect(connection)
        default = inspector.default_schema_name
        for (child_schema, child_name), foreign_keys in inspector.get_multi_foreign_keys(schema=schema_name).items():
            for foreign_key in foreign_keys:
                referred_schema = foreign_key.get("referred_schema") or default
                if (
                    child_name == name
                    or foreign_key["referred_table"] != name
                    or referred_schema != (schema_name or default)
                    or not foreign_key.get("name")
                ):
                    continue
                metadata = sa.MetaData()
                parent = sa.Table(name, metadata, *map(sa.Column, foreign_key["referred_columns"]), schema=schema_name)
                child = sa.Table(
                    child_name, metadata, *map(sa.Column, foreign_key["constrained_columns"]), schema=child_schema
                )
                constraint = sa.ForeignKeyConstraint(
                    foreign_key["constrained_columns"],
                    [parent.c[column] for column in foreign_key["referred_columns"]],
                    name=foreign_key["name"],
                )
                child.append_constraint(constraint)
                connection.execute(sa.schema.DropConstraint(constraint))
                log.warning(
                    "table %s: dropped foreign key %s of table %s to replace it",
                    display_name(name, schema_name),
                    foreign_key["name"],
                    display_name(child_name, child_schema),
                )
    sa.Table(name, sa.MetaData(), schema=schema_name).drop(connection)


def create_table(
    engine: Bind,
    name: str,
    schema_name: Optional[str],
    table: Optional[BaseTable],
    if_exists: Union[IfExists, str] = IfExists.FAIL,
    *,
    frame: Optional[pd.DataFrame] = None,
    data_schema: Optional[DataSchema] = None,
    foreign_key_targets: Optional[ForeignKeyTargets] = None,
    string_lengths: Optional[Mapping[str, int]] = None,
) -> sa.Table:
    """Create the target table (types, primary key, foreign keys) honouring `if_exists`; returns it.

    fail: TableExistsError when it exists; replace: drop it and create it anew; append: keep an existing
    table (returned reflected) or create it. `engine` may be an Engine (own transaction) or a Connection
    (its current transaction).
    """
    if isinstance(engine, Connection):
        return _create_table(
            engine,
            name,
            schema_name,
            table,
            IfExists(if_exists),
            frame,
            data_schema,
            foreign_key_targets,
            string_lengths,
        )
    with engine.begin() as connection:
        _begin_sqlite(connection)
        return _create_table(
            connection,
            name,
            schema_name,
            table,
            IfExists(if_exists),
            frame,
            data_schema,
            foreign_key_targets,
            string_lengths,
        )


def _create_table(
    connection: Connection,
    name: str,
    schema_name: Optional[str],
    table: Optional[BaseTable],
    if_exists: IfExists,
    frame: Optional[pd.DataFrame],
    data_schema: Optional[DataSchema],
    foreign_key_targets: Optional[ForeignKeyTargets],
    string_lengths: Optional[Mapping[str, int]],
) -> sa.Table:
    dialect = connection.dialect
    _check_names(dialect, name, schema_name, [])
    exists = _has_table(connection, name, schema_name)
    if exists and if_exists == IfExists.FAIL:
        raise TableExistsError(f"table {display_name(name, schema_name)}: already exists and if_exists is 'fail'")
    if exists and if_exists == IfExists.APPEND:
        return sa.Table(name, sa.MetaData(), schema=schema_name, autoload_with=connection)
    existing = None
    if foreign_key_targets:
        existing = {target for target in foreign_key_targets.values() if _has_table(connection, target[1], target[0])}
    sa_table = build_table(
        dialect,
        name,
        schema_name,
        table,
        frame=frame,
        data_schema=data_schema,
        foreign_key_targets=foreign_key_targets,
        string_lengths=string_lengths,
        existing_tables=existing,
    )
    if exists:
        log.info("table %s: replacing the existing table", display_name(name, schema_name))
        _drop_table(connection, name, schema_name)
    sa_table.create(connection)
    log.info("table %s: created", display_name(name, schema_name))
    return sa_table


def _begin_sqlite(connection: Connection) -> None:
    """pysqlite starts transactions only before DML; begin explicitly so DDL is transactional too."""
    if connection.dialect.name == "sqlite" and not connection.connection.dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN")


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
        return series.dt.date.astype(object).where(series.notna(), None)
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
    elif kind == "date" and text_datetimes:
        values = [v.isoformat() if hasattr(v, "isoformat") else v for v in series.astype(object).tolist()]
    else:
        values = series.astype(object).tolist()
    if missing.any():
        values = [None if gone else value for value, gone in zip(values, missing.tolist())]
    return values


def _arrow_for_csv(frame: pd.DataFrame) -> pa.Table:
    arrays = []
    for name in frame.columns:
        try:
            arrays.append(pa.array(frame[name], from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            raise ValueError(f"column '{name}': values cannot be written ({error})") from None
    return pa.Table.from_arrays(arrays, names=[f"c{i}" for i in range(len(arrays))])


class _CsvStream:
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


# --------------------------------------------------------------------------------------------------
# PostgreSQL binary COPY

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


class _NotBinary(Exception):
    """A column the binary COPY encoder does not handle: the batch goes through CSV COPY."""


class _Field:
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


def _mask(series: pd.Series) -> np.ndarray:
    return series.isna().to_numpy(dtype=bool)


def _fixed_field(values: np.ndarray, missing: np.ndarray, dtype: str) -> _Field:
    width = np.dtype(dtype).itemsize
    payload = np.ascontiguousarray(values.astype(dtype, copy=False)).view(np.uint8).reshape(len(values), width)
    lengths = np.where(missing, -1, width)
    return _Field(lengths, fixed=payload)


def _int_field(series: pd.Series, typname: str, name: str) -> _Field:
    if not pd.api.types.is_integer_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        raise _NotBinary(name)
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


def _float_field(series: pd.Series, typname: str, name: str) -> _Field:
    if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        raise _NotBinary(name)
    missing = _mask(series)  # NaN is NULL, as in the CSV path
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    if typname == "float4":
        finite = values[np.isfinite(values)]
        if len(finite) and np.abs(finite).max() > np.finfo(np.float32).max:
            raise ValueError(f"column '{name}': value {finite[np.abs(finite).argmax()]} is out of range for type real")
    return _fixed_field(values, missing, _FIXED_TYPES[typname])


def _bool_field(series: pd.Series, name: str) -> _Field:
    if not pd.api.types.is_bool_dtype(series.dtype):
        raise _NotBinary(name)
    missing = _mask(series)
    return _fixed_field(series.to_numpy(dtype=bool, na_value=False).astype(np.uint8), missing, "u1")


def _arrow_array(series: pd.Series, name: str) -> pa.Array:
    try:
        array = pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        raise _NotBinary(name) from None
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return array


def _text_field(series: pd.Series, name: str) -> _Field:
    array = _arrow_array(series, name)
    if pa.types.is_string(array.type):
        offset_type: Any = np.int32
    elif pa.types.is_large_string(array.type):
        offset_type = np.int64
    else:
        raise _NotBinary(name)  # numbers in a text column: CSV renders them as today
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[array.offset : array.offset + len(array) + 1]
    offsets = offsets.astype(np.int64)
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.empty(0, np.uint8)
    missing = array.is_null().to_numpy(zero_copy_only=False)
    lengths = np.where(missing, -1, np.diff(offsets))
    return _Field(lengths, data=data, offsets=offsets)


def _date_field(series: pd.Series, name: str) -> _Field:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        raise _NotBinary(name)
    array = _arrow_array(series, name)
    if not pa.types.is_date32(array.type):
        raise _NotBinary(name)
    missing = array.is_null().to_numpy(zero_copy_only=False)
    days = array.fill_null(0).to_numpy(zero_copy_only=False).astype("datetime64[D]").astype(np.int64)
    return _fixed_field(days - _PG_EPOCH_DAYS, missing, ">i4")


def _timestamp_field(series: pd.Series, name: str) -> _Field:
    dtype = series.dtype
    if not pd.api.types.is_datetime64_any_dtype(dtype):
        raise _NotBinary(name)
    if isinstance(dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)  # timestamptz: UTC microseconds
    missing = _mask(series)
    raw = series.to_numpy()
    unit, _ = np.datetime_data(raw.dtype)
    ticks = raw.view(np.int64)
    scale = {"s": -1_000_000, "ms": -1_000, "us": 1, "ns": 1_000}.get(unit)
    if scale is None:
        raise _NotBinary(name)
    if scale < 0:
        present = ticks[~missing]
        if len(present) and np.abs(present).max() > np.iinfo(np.int64).max // -scale // 2:
            raise _NotBinary(name)  # beyond any timestamp PostgreSQL holds: CSV gives the server's error
        micros = ticks * -scale
    elif scale > 1:
        # PostgreSQL rounds to the microsecond, half to even (rint)
        micros, rest = np.divmod(ticks, scale)
        micros = micros + ((rest > scale // 2) | ((rest == scale // 2) & (micros % 2 == 1)))
    else:
        micros = ticks
    return _fixed_field(np.where(missing, 0, micros - _PG_EPOCH_MICROS), missing, ">i8")


def binary_fields(frame: pd.DataFrame, types: Mapping[str, str]) -> List[_Field]:
    """The batch's columns encoded for binary COPY into columns of PostgreSQL types `types`.

    `_NotBinary` when a column's type or values are not handled (the caller uses CSV); ValueError naming
    the column for an integer out of the target column's range.
    """
    fields = []
    for position, name in enumerate(frame.columns):
        series = frame.iloc[:, position]
        typname = types.get(name)
        if typname in BINARY_TYPES and series.isna().all():
            fields.append(_Field(np.full(len(series), -1), fixed=np.empty((len(series), 0), dtype=np.uint8)))
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
            raise _NotBinary(name)
    return fields


def render_binary_rows(fields: Sequence[_Field], start: int, stop: int) -> bytes:
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


class _BinaryStream(_CsvStream):
    """A file-like of a batch in binary COPY format, rendered in slices by a thread (as `_CsvStream`)."""

    def __init__(self, fields: Sequence[_Field], rows: int, slice_rows: int = 0, depth: int = 4) -> None:
        self._rows = rows
        super().__init__(fields, slice_rows, depth)  # type: ignore[arg-type]

    def _render(self, fields: Sequence[_Field], slice_rows: int) -> None:  # type: ignore[override]
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
        _check_names(dialect, table_name, schema_name, [c.name for c in table.columns] if table is not None else [])
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
        return _create_table(
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
            if self._sa_table is None and self.engine.dialect.name not in _TRANSACTIONAL_DDL:
                # DDL commits implicitly here: create (or replace) the table on its own first.
                with self.engine.begin() as connection:
                    self._sa_table = self._prepare(connection, frame)
            with self.engine.begin() as connection:
                _begin_sqlite(connection)
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
        kinds = {column.name: _column_kind(column.type, connection.dialect) for column in sa_table.columns}
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
            except _NotBinary as unsupported:
                log.debug("table %s: column '%s' goes through CSV COPY", self.name, unsupported)
            else:
                self._copy_binary(connection, frame, fields)
                self.binary_batches += 1
                return
        self._copy_csv(connection, frame)

    def _copy_binary(self, connection: Connection, frame: pd.DataFrame, fields: Sequence[_Field]) -> None:
        self._copy_from_stream(connection, frame, "FORMAT binary", _BinaryStream(fields, len(frame)))

    def _copy_csv(self, connection: Connection, frame: pd.DataFrame) -> None:
        self._copy_from_stream(connection, frame, "FORMAT csv, ENCODING 'UTF8'", _CsvStream(_arrow_for_csv(frame)))

    def _copy_from_stream(self, connection: Connection, frame: pd.DataFrame, options: str, stream: Any) -> None:
        """`COPY table (columns) FROM STDIN WITH (options)` fed from `stream`, a file-like rendered by a
        background thread (`_BinaryStream` or `_CsvStream`), in the batch's transaction."""
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
        _begin_sqlite(connection)
        if not _has_table(connection, table_name, schema_name):
            return 0
        sa_table = reflect_table(connection, table_name, schema_name)
        kinds = {name: _column_kind(sa_table.c[name].type, connection.dialect) for name in key_columns}
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
