"""Bounded waits: a server that accepts the connection and never answers (a black-hole listener on
127.0.0.1) fails a PostgreSQL or MariaDB connection within the data source's timeout, with an error that
names the source; every engine and S3 client gets default timeouts; a source's settings override them."""

from __future__ import annotations

import socket
import threading
import time
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from airflow_provider_hazy.config import SecretDataSource
from airflow_provider_hazy.io.s3 import make_s3_client
from airflow_provider_hazy.io.sources import DataSources
from airflow_provider_hazy.io.sql_tables import bound_pymysql_handshake, engine_from_url
from airflow_provider_hazy.io.timeouts import DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT, sql_connect_args


@pytest.fixture
def black_hole():
    """A TCP listener on 127.0.0.1 that accepts every connection and never sends a byte; yields its port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    held, stop = [], threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    for connection in held:
        connection.close()
    listener.close()


def _connect_through_source(monkeypatch, url: str, **timeouts) -> tuple:
    monkeypatch.setenv("HAZY_CONN_SILENT", url)
    started = time.monotonic()
    with DataSources([SecretDataSource(id="silent", **timeouts)]) as sources:
        with pytest.raises(sa.exc.OperationalError) as caught:
            with sources.engine("silent").connect():
                pass
    return time.monotonic() - started, caught.value


def test_postgresql_black_hole_fails_within_the_connect_timeout(black_hole, monkeypatch):
    url = f"postgresql://hazy:pw@127.0.0.1:{black_hole}/db"
    elapsed, error = _connect_through_source(monkeypatch, url, connect_timeout=2, read_timeout=30)
    assert 1.5 <= elapsed < 8, elapsed
    assert "timeout expired" in str(error.orig)


def test_mariadb_black_hole_fails_within_the_connect_timeout_not_the_read_timeout(black_hole, monkeypatch):
    url = f"mysql+pymysql://hazy:pw@127.0.0.1:{black_hole}/db"
    elapsed, error = _connect_through_source(monkeypatch, url, connect_timeout=2, read_timeout=60)
    assert 1.5 <= elapsed < 8, elapsed
    assert "Lost connection" in str(error.orig) or "timed out" in str(error.orig)


def test_postgresql_black_hole_fails_within_the_default_timeout(black_hole):
    started = time.monotonic()
    engine = engine_from_url(f"postgres://hazy:pw@127.0.0.1:{black_hole}/db")
    with pytest.raises(sa.exc.OperationalError):
        engine.connect()
    engine.dispose()
    assert time.monotonic() - started < DEFAULT_CONNECT_TIMEOUT + 5


def test_defaults_for_every_database_driver():
    postgres = sql_connect_args("postgresql", "psycopg2", {})
    assert postgres["connect_timeout"] == DEFAULT_CONNECT_TIMEOUT
    assert postgres["keepalives"] == 1 and postgres["tcp_user_timeout"] == DEFAULT_READ_TIMEOUT * 1000
    assert sql_connect_args("postgresql", "psycopg", {})["connect_timeout"] == DEFAULT_CONNECT_TIMEOUT
    mariadb = sql_connect_args("mysql", "pymysql", {})
    assert mariadb == {
        "connect_timeout": DEFAULT_CONNECT_TIMEOUT,
        "read_timeout": DEFAULT_READ_TIMEOUT,
        "write_timeout": DEFAULT_READ_TIMEOUT,
    }
    assert set(sql_connect_args("mariadb", "mysqldb", {})) == {"connect_timeout", "read_timeout", "write_timeout"}
    assert sql_connect_args("sqlite", "pysqlite", {}) == {}


def test_the_url_query_wins_over_the_defaults():
    assert "connect_timeout" not in sql_connect_args("postgresql", "psycopg2", {"connect_timeout": "30"})


class _Captured(Exception):
    pass


def test_a_source_overrides_the_defaults(monkeypatch):
    import pymysql

    monkeypatch.setenv("HAZY_CONN_SLOW", "mysql+pymysql://u:p@127.0.0.1:1/db")
    captured = {}

    def connect(*args, **kwargs):  # what the driver is called with
        captured.update(kwargs)
        raise _Captured

    monkeypatch.setattr(pymysql, "connect", connect)
    with DataSources([SecretDataSource(id="slow", connect_timeout=5, read_timeout=900)]) as sources:
        with pytest.raises(_Captured):
            sources.engine("slow").connect()
    # the handshake waits for the connect timeout; reads after it for the read timeout
    assert captured["connect_timeout"] == 5 and captured["read_timeout"] == 5 and captured["write_timeout"] == 900


def test_after_the_pymysql_handshake_reads_wait_for_the_read_timeout():
    connection = SimpleNamespace(_read_timeout=5)
    dialect = SimpleNamespace(loaded_dbapi=SimpleNamespace(connect=lambda **kwargs: connection))
    assert bound_pymysql_handshake(dialect, None, (), {"connect_timeout": 5, "read_timeout": 900}) is connection
    assert connection._read_timeout == 900


@pytest.mark.parametrize(("field", "value"), [("connect_timeout", 0), ("read_timeout", -1), ("read_timeout", 1e9)])
def test_a_timeout_out_of_range_is_a_config_error_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        SecretDataSource(id="db", **{field: value})


def test_s3_clients_have_connect_and_read_timeouts():
    client = make_s3_client(endpoint_url="http://127.0.0.1:1", access_key="k", secret_key="s")
    assert client.meta.config.connect_timeout == DEFAULT_CONNECT_TIMEOUT
    assert client.meta.config.read_timeout == 60
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 4}  # 3 retries
    tuned = make_s3_client(endpoint_url="http://127.0.0.1:1", connect_timeout=3, read_timeout=7)
    assert (tuned.meta.config.connect_timeout, tuned.meta.config.read_timeout) == (3, 7)
