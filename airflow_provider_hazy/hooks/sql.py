"""`HazySqlHook`: an Airflow connection -> a SQLAlchemy URL and engine, for any connection type with a dialect."""

from __future__ import annotations

import importlib.util
from typing import Any, Dict, Mapping, Optional, Tuple

import sqlalchemy as sa
from airflow.sdk import BaseHook
from sqlalchemy.engine import Engine

from ..io.sources import mask_url, scrub, url_secrets
from ..io.sql import engine_from_url


def _mysql_driver(dialect: str) -> str:
    if importlib.util.find_spec("MySQLdb") is None and importlib.util.find_spec("pymysql") is not None:
        return f"{dialect}+pymysql"
    return f"{dialect}+mysqldb"


# Airflow connection type -> SQLAlchemy dialect+driver. `extra.sqlalchemy_scheme` overrides; any other type
# works with `extra.sqlalchemy_url`.
DIALECTS: Dict[str, str] = {
    "postgres": "postgresql+psycopg2",
    "postgresql": "postgresql+psycopg2",
    "mysql": "mysql",  # driver chosen at run time: mysqlclient, else PyMySQL
    "mariadb": "mariadb",
    "sqlite": "sqlite",
    "mssql": "mssql+pymssql",
    "oracle": "oracle+oracledb",
    "snowflake": "snowflake",
    "redshift": "redshift+psycopg2",
    "trino": "trino",
    "presto": "presto",
    "vertica": "vertica+vertica_python",
    "databricks": "databricks",
    "teradata": "teradatasql",
    "exasol": "exa+pyodbc",
}
# Extras passed on as URL query parameters, per dialect (everything else in `extra` is ignored unless
# listed in `extra.sqlalchemy_query`).
_QUERY_EXTRAS: Dict[str, Tuple[str, ...]] = {
    "postgresql": (
        "sslmode",
        "sslcert",
        "sslkey",
        "sslrootcert",
        "sslcrl",
        "connect_timeout",
        "application_name",
        "options",
        "target_session_attrs",
        "keepalives",
        "keepalives_idle",
    ),
    "mysql": ("charset", "unix_socket"),
    "mariadb": ("charset", "unix_socket"),
    "snowflake": ("warehouse", "role", "authenticator"),
}
SQL_CONN_TYPE = "hazy_sql"


def _extra(extra: Mapping[str, Any], conn_type: str, name: str) -> Any:
    """An extra field, stored plain (`name`) or as the UI prefixes it (`extra__<type>__<name>`)."""
    value = extra.get(name)
    if value in (None, ""):
        value = extra.get(f"extra__{conn_type}__{name}")
    return None if value == "" else value


def connection_sqlalchemy_url(connection: Any) -> sa.URL:
    """The SQLAlchemy URL of an Airflow connection (a secret: render it with `mask_url` for any message).

    `extra.sqlalchemy_url` wins (the connection's login and password fill in what it leaves out);
    otherwise `extra.sqlalchemy_scheme` or the connection type's dialect, with host, port, login,
    password and schema (the database) from the connection's fields.
    """
    conn_id = connection.conn_id
    conn_type = (connection.conn_type or "").lower()
    extra = connection.extra_dejson or {}
    override = _extra(extra, conn_type, "sqlalchemy_url")
    if override:
        try:
            url = sa.make_url(str(override))
        except Exception:  # noqa: BLE001 - the URL may hold a password: never echo it
            raise ValueError(f"connection '{conn_id}': extra sqlalchemy_url is not a valid SQLAlchemy URL") from None
        if url.username is None and connection.login:
            url = url.set(username=connection.login)
        if url.password is None and connection.password:
            url = url.set(password=connection.password)
        return url
    scheme = _extra(extra, conn_type, "sqlalchemy_scheme") or DIALECTS.get(conn_type)
    if not scheme:
        raise ValueError(
            f"connection '{conn_id}': connection type '{conn_type}' has no SQLAlchemy dialect; set extra "
            "'sqlalchemy_scheme' (e.g. postgresql+psycopg2) or 'sqlalchemy_url'"
        )
    if scheme in ("mysql", "mariadb"):
        scheme = _mysql_driver(scheme)
    dialect = scheme.split("+")[0]
    query: Dict[str, Any] = {}
    for key in _QUERY_EXTRAS.get(dialect, ()):
        value = _extra(extra, conn_type, key)
        if value not in (None, ""):
            query[key] = str(value)
    for key, value in dict(_extra(extra, conn_type, "sqlalchemy_query") or {}).items():
        query[str(key)] = str(value)
    if dialect == "sqlite":
        return sa.URL.create("sqlite", database=connection.host or connection.schema or None)
    if dialect == "snowflake":
        account = _extra(extra, conn_type, "account") or connection.host
        region = _extra(extra, conn_type, "region")
        database = _extra(extra, conn_type, "database")
        path = "/".join(part for part in (database, connection.schema) if part) or None
        return sa.URL.create(
            scheme,
            username=connection.login,
            password=connection.password,
            host=f"{account}.{region}" if account and region else account,
            database=path,
            query=query,
        )
    database = connection.schema or None
    if dialect == "oracle":
        service_name = _extra(extra, conn_type, "service_name")
        sid = _extra(extra, conn_type, "sid")
        if service_name:
            query["service_name"] = str(service_name)
            database = None
        elif sid:
            database = str(sid)
    return sa.URL.create(
        scheme,
        username=connection.login or None,
        password=connection.password or None,
        host=connection.host or None,
        port=int(connection.port) if connection.port else None,
        database=database,
        query=query,
    )


class HazySqlHook(BaseHook):
    """A SQLAlchemy engine for an Airflow connection whose type maps to a dialect (or that names one).

    Works with `postgres`, `mysql`, `sqlite`, `mssql`, `oracle`, `snowflake`, ... connections (see
    `DIALECTS`) and with its own type `hazy_sql` (extra `sqlalchemy_scheme` or `sqlalchemy_url`).
    `extra.sqlalchemy_url` overrides every field; `extra.engine_kwargs` (a dict) goes to `create_engine`.
    """

    conn_name_attr = "hazy_sql_conn_id"
    default_conn_name = "hazy_sql_default"
    conn_type = SQL_CONN_TYPE
    hook_name = "Hazy SQL (SQLAlchemy)"

    def __init__(self, conn_id: str = default_conn_name, *, engine_kwargs: Optional[Dict[str, Any]] = None) -> None:
        super().__init__()
        self.hazy_sql_conn_id = conn_id
        self.engine_kwargs = dict(engine_kwargs or {})
        self._connection: Any = None
        self._engine: Optional[Engine] = None

    @property
    def connection(self) -> Any:
        """The Airflow connection (fetched once)."""
        if self._connection is None:
            self._connection = self.get_connection(self.hazy_sql_conn_id)
        return self._connection

    def get_url(self) -> sa.URL:
        """The connection's SQLAlchemy URL (`str()` of it hides the password)."""
        return connection_sqlalchemy_url(self.connection)

    def get_engine(self) -> Engine:
        """A SQLAlchemy engine for the connection (built once per hook)."""
        if self._engine is None:
            url = self.get_url()
            extra = self.connection.extra_dejson or {}
            kwargs = dict(_extra(extra, (self.connection.conn_type or "").lower(), "engine_kwargs") or {})
            kwargs.update(self.engine_kwargs)
            try:
                self._engine = engine_from_url(url, **kwargs)
            except Exception as error:  # noqa: BLE001 - the message must not carry the password
                secrets = url_secrets(url)
                raise ValueError(
                    f"connection '{self.hazy_sql_conn_id}': cannot build an engine for {mask_url(url)} "
                    f"({type(error).__name__}: {scrub(str(error), secrets)})"
                ) from None
            self.log.info("connection '%s': SQLAlchemy engine for %s", self.hazy_sql_conn_id, mask_url(url))
        return self._engine

    def get_conn(self) -> Engine:
        """The engine (Airflow's generic accessor)."""
        return self.get_engine()

    def test_connection(self) -> Tuple[bool, str]:
        """Run `SELECT 1` (Airflow's "Test" button); the message never holds the password."""
        try:
            with self.get_engine().connect() as connection:
                connection.execute(sa.select(sa.literal(1)))
        except Exception as error:  # noqa: BLE001 - reported, not raised
            return False, scrub(f"{type(error).__name__}: {error}", url_secrets(self.get_url()))
        return True, "Connection successfully tested"
