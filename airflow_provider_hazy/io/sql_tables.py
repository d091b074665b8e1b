"""SQL table definitions: engines, identifiers, column types and `CREATE`/`DROP`.

- `engine_from_url`: a SQLAlchemy 2 engine for a URL (driver defaults; errors never carry the password);
- identifiers: schema, table and column names always go through SQLAlchemy's quoting (`sqlalchemy.Table`
  objects and the dialect's identifier preparer), never through string formatting of user text; a name the
  dialect cannot quote (a NUL byte, longer than the dialect allows, ...) is refused with
  `InvalidIdentifierError` (`check_identifier`, `check_names`, `quote_identifier`, `qualified_name`);
- column types from the `DataSchema` (`schema_column_type`) or a frame's dtypes, keys and foreign keys
  (`build_table`), and the table created or replaced per `if_exists` (`create_table`, `create_table_in`
  inside a caller's transaction).

`io/sql.py` reads and writes rows in tables defined here; it re-exports the public names.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

import numpy as np
import pandas as pd
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
from .timeouts import sql_connect_args

log = logging.getLogger(__name__)

# Where several data sources write tables with foreign keys between them: schema table -> (schema, table).
ForeignKeyTargets = Mapping[str, Tuple[Optional[str], str]]
Bind = Union[Engine, Connection]

# Identifier limits SQLAlchemy does not state exactly: PostgreSQL counts bytes (NAMEDATALEN - 1).
_MAX_IDENTIFIER_BYTES = {"postgresql": 63}
_MAX_IDENTIFIER_CHARS = {"mysql": 64, "mariadb": 64}
_STRING_KEY_LENGTH = 255  # a text key column of unknown length (MySQL cannot index TEXT)


class InvalidIdentifierError(ValueError):
    """A schema, table or column name the target database cannot quote safely."""


class TableExistsError(FileExistsError):
    """The target table exists and `if_exists` is 'fail'."""


# --------------------------------------------------------------------------------------------------
# Engines and identifiers


def engine_from_url(
    url: Union[str, sa.URL],
    *,
    connect_timeout: Optional[float] = None,
    read_timeout: Optional[float] = None,
    **engine_kwargs: Any,
) -> Engine:
    """A SQLAlchemy engine for `url`, with bounded connect and read waits (`io.timeouts`).

    `postgres://` is read as `postgresql://`, and `mysql://`/`mariadb://` without a driver use PyMySQL
    when mysqlclient is not installed. `connect_timeout`/`read_timeout` (seconds; default
    `io.timeouts.DEFAULT_*`) become the driver's arguments, unless the URL's query or `connect_args`
    already sets them. Errors never carry the URL's password.
    """
    parsed = normalise_url(sa.make_url(url) if isinstance(url, str) else url)
    engine_kwargs.setdefault("pool_pre_ping", True)
    timeouts = sql_connect_args(
        parsed.get_backend_name(), _driver_name(parsed), dict(parsed.query), connect_timeout, read_timeout
    )
    engine_kwargs["connect_args"] = {**timeouts, **(engine_kwargs.get("connect_args") or {})}
    engine = sa.create_engine(parsed, **engine_kwargs)
    if _driver_name(parsed) == "pymysql":
        sa.event.listen(engine, "do_connect", bound_pymysql_handshake)
    return engine


def bound_pymysql_handshake(dialect: sa.Dialect, record: Any, cargs: Any, cparams: Dict[str, Any]) -> Any:
    """Connect with PyMySQL so that the server's greeting is awaited for `connect_timeout`, not `read_timeout`.

    PyMySQL bounds the TCP connect by `connect_timeout` but then waits for the greeting with `read_timeout`
    (or forever without one): a server that accepts and never answers would hold the run for the whole
    read timeout. The handshake runs with the connect timeout; the read timeout applies from then on.
    """
    read_timeout = cparams.get("read_timeout")
    connect_timeout = cparams.get("connect_timeout")
    if connect_timeout is not None:
        cparams = {**cparams, "read_timeout": connect_timeout}
    connection = dialect.loaded_dbapi.connect(*cargs, **cparams)
    connection._read_timeout = read_timeout  # PyMySQL reads it before every socket read
    return connection


def normalise_url(parsed: sa.URL) -> sa.URL:
    """`postgres` read as `postgresql`; a PostgreSQL URL without a driver uses psycopg2 (a dependency of the
    package, and the driver of the COPY fast path), else psycopg 3 when only that is installed (SQLAlchemy
    2.1 maps bare `postgresql://` to psycopg 3, 2.0 to psycopg2); `mysql`/`mariadb` without a driver use
    PyMySQL when mysqlclient is not installed."""
    drivername = parsed.drivername
    if drivername.split("+")[0] == "postgres":
        drivername = "postgresql" + drivername[len("postgres") :]
    if drivername == "postgresql":
        if _importable("psycopg2"):
            drivername += "+psycopg2"
        elif _importable("psycopg"):
            drivername += "+psycopg"
    if drivername in ("mysql", "mariadb") and not _importable("MySQLdb") and _importable("pymysql"):
        drivername += "+pymysql"
    return parsed.set(drivername=drivername)


def _driver_name(parsed: sa.URL) -> str:
    if "+" in parsed.drivername:
        return parsed.drivername.split("+", 1)[1]
    try:
        return parsed.get_driver_name()
    except Exception:  # noqa: BLE001 - an unknown dialect gets no timeout arguments
        return ""


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


def check_names(dialect: sa.Dialect, table_name: str, schema_name: Optional[str], columns: Iterable[str]) -> None:
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


def dialect_of(bind: Bind) -> sa.Dialect:
    return bind.dialect


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
        check_names(dialect, name, schema_name, [c.name for c in columns])
        return sa.Table(name, metadata, *columns, schema=schema_name, **kwargs)
    check_names(dialect, name, schema_name, [c.name for c in table.columns])
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


def has_table(connection: Connection, name: str, schema_name: Optional[str]) -> bool:
    return sa.inspect(connection).has_table(name, schema=schema_name)


def count_rows(bind: Bind, name: str, schema_name: Optional[str] = None) -> int:
    """The rows of a table, counted by the database (`SELECT count(*)`): no row is read."""
    statement = sa.select(sa.func.count()).select_from(sa.table(name, schema=schema_name))
    if isinstance(bind, Connection):
        return int(bind.execute(statement).scalar_one())
    with bind.connect() as connection:
        return int(connection.execute(statement).scalar_one())


def drop_table(connection: Connection, name: str, schema_name: Optional[str]) -> None:
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
        return create_table_in(
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
        begin_sqlite(connection)
        return create_table_in(
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


def create_table_in(
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
    check_names(dialect, name, schema_name, [])
    exists = has_table(connection, name, schema_name)
    if exists and if_exists == IfExists.FAIL:
        raise TableExistsError(f"table {display_name(name, schema_name)}: already exists and if_exists is 'fail'")
    if exists and if_exists == IfExists.APPEND:
        return sa.Table(name, sa.MetaData(), schema=schema_name, autoload_with=connection)
    existing = None
    if foreign_key_targets:
        existing = {target for target in foreign_key_targets.values() if has_table(connection, target[1], target[0])}
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
        drop_table(connection, name, schema_name)
    sa_table.create(connection)
    log.info("table %s: created", display_name(name, schema_name))
    return sa_table


def begin_sqlite(connection: Connection) -> None:
    """pysqlite starts transactions only before DML; begin explicitly so DDL is transactional too."""
    if connection.dialect.name == "sqlite" and not connection.connection.dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN")
