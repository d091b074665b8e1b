"""Fixtures for the Airflow hooks: a temporary AIRFLOW_HOME, connections from AIRFLOW_CONN_<ID>, services.

AIRFLOW_HOME is set before Airflow is first imported (this conftest runs before the test modules), so
nothing touches a real Airflow installation. A service that cannot be reached skips its tests with the
reason, except on CI (`CI=true`), where it fails them.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Callable, Iterator

import pytest
import sqlalchemy as sa
from service_checks import MARIADB_URL, POSTGRES_URL, service_unavailable

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="hazy-airflow-home-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")



@pytest.fixture(scope="session", autouse=True)
def _remove_airflow_home() -> Iterator[None]:
    yield
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(autouse=True)
def airflow_home(monkeypatch) -> str:
    """Every test runs against the temporary AIRFLOW_HOME."""
    monkeypatch.setenv("AIRFLOW_HOME", _AIRFLOW_HOME)
    return _AIRFLOW_HOME


@pytest.fixture
def airflow_connection(monkeypatch) -> Callable[..., str]:
    """`airflow_connection(conn_id, uri_or_dict)` defines an Airflow connection through AIRFLOW_CONN_<ID>."""

    def define(conn_id: str, value) -> str:
        text = value if isinstance(value, str) else json.dumps(value)
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", text)
        return conn_id

    return define


def _reachable(url: str, label: str) -> sa.URL:
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(sa.select(sa.literal(1)))
    except Exception as error:  # noqa: BLE001 - any failure to connect means the service is not there
        service_unavailable(f"{label} at {engine.url.render_as_string()} is unreachable: {type(error).__name__}")
    finally:
        engine.dispose()
    return engine.url


@pytest.fixture(scope="session")
def postgres_url() -> sa.URL:
    return _reachable(POSTGRES_URL, "PostgreSQL")


@pytest.fixture(scope="session")
def mariadb_url() -> sa.URL:
    return _reachable(MARIADB_URL, "MariaDB")


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 (a free port); yields its endpoint URL."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as error:
        service_unavailable(f"moto[server] is not installed: {error}")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
