"""Bounded waits: the default connect and read timeouts of every database and S3 client.

A server that accepts a connection and never answers must end a run with an error, not hang it. Every
engine built by `io.sql.engine_from_url` (data sources, the Airflow hook, schema inference) and every S3
client of `io.s3.make_s3_client` gets these defaults; a data source overrides them (`connect_timeout`,
`read_timeout` in seconds on `SecretDataSource`), and so does the URL itself (its own query parameters,
such as `?connect_timeout=30`, win).

What each driver does with them:

- PostgreSQL (psycopg2, psycopg 3: libpq): `connect_timeout` bounds the whole connection set-up, login
  included (libpq's minimum is 2 s); `read_timeout` sets TCP keepalives (idle, interval, count) and
  `tcp_user_timeout`, so a connection whose peer stops acknowledging is closed (a long query on a live
  server is not cut).
- MariaDB/MySQL (PyMySQL, mysqlclient): `connect_timeout`, and `read_timeout`/`write_timeout` per socket
  operation; with PyMySQL the server's greeting is awaited for the connect timeout
  (`io.sql.bound_pymysql_handshake`), not the read timeout.
- S3 (botocore): `connect_timeout`, `read_timeout` (default 60 s), 3 retries in standard mode.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 600.0  # databases: a long write or a slow query on a live server is not a hang
DEFAULT_S3_READ_TIMEOUT = 60.0  # S3: botocore's own default, now explicit
S3_MAX_ATTEMPTS = 3


def _seconds(value: Optional[float], default: float) -> float:
    return float(default if value is None else value)


def sql_connect_args(
    dialect: str,
    driver: str,
    query: Dict[str, Any],
    connect_timeout: Optional[float] = None,
    read_timeout: Optional[float] = None,
) -> Dict[str, Any]:
    """The DBAPI `connect()` arguments that bound a connection's waits, for `dialect`+`driver`.

    Keys already in the URL's `query` are left to the URL. Dialects without known timeout arguments get
    none (an empty dict).
    """
    connect = _seconds(connect_timeout, DEFAULT_CONNECT_TIMEOUT)
    read = _seconds(read_timeout, DEFAULT_READ_TIMEOUT)
    args: Dict[str, Any] = {}
    if dialect == "postgresql" and driver in ("psycopg2", "psycopg", "psycopg2cffi", ""):
        args = {
            "connect_timeout": max(2, int(round(connect))),
            "keepalives": 1,
            "keepalives_idle": max(1, int(min(30.0, read))),
            "keepalives_interval": max(1, int(min(10.0, read))),
            "keepalives_count": 3,
            "tcp_user_timeout": int(read * 1000),
        }
    elif dialect in ("mysql", "mariadb") and driver in ("pymysql", "mysqldb", ""):
        args = {"connect_timeout": max(1, int(round(connect))), "read_timeout": read, "write_timeout": read}
        if driver != "pymysql":  # mysqlclient takes whole seconds
            args = {key: max(1, int(round(value))) for key, value in args.items()}
    return {key: value for key, value in args.items() if key not in query}


def s3_timeouts(connect_timeout: Optional[float] = None, read_timeout: Optional[float] = None) -> Dict[str, Any]:
    """botocore `Config` arguments: connect and read timeouts, standard retries."""
    return {
        "connect_timeout": _seconds(connect_timeout, DEFAULT_CONNECT_TIMEOUT),
        "read_timeout": _seconds(read_timeout, DEFAULT_S3_READ_TIMEOUT),
        "retries": {"max_attempts": S3_MAX_ATTEMPTS, "mode": "standard"},
    }
