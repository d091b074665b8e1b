"""Services for the production-cluster test: PostgreSQL (metadata + target) and Redis (Celery broker).

A service that cannot be reached skips the test with the reason, except on CI (`CI=true`), where it
fails it. The target database can be pointed elsewhere with HAZY_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import importlib.metadata
import uuid
from typing import Callable, Iterator, List

import pytest
import sqlalchemy as sa
from airflow_cluster import POSTGRES_ADMIN_URL, REDIS_HOST, REDIS_PORT
from service_checks import POSTGRES_URL, service_unavailable


def _check_postgres(url: str) -> None:
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(sa.select(sa.literal(1)))
    except Exception as error:  # noqa: BLE001 - any failure to connect means the service is not there
        service_unavailable(f"PostgreSQL at {engine.url.render_as_string()} is unreachable: {type(error).__name__}")
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def cluster_services() -> None:
    """PostgreSQL (as a user that may CREATE DATABASE) and Redis are reachable, and Celery is installed."""
    _check_postgres(POSTGRES_ADMIN_URL)
    try:  # by distribution, not import: importing airflow here would configure it for this process
        for distribution in ("apache-airflow-providers-celery", "redis"):
            importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError as error:
        service_unavailable(f"{error} is not installed (pip install -e '.[test]')")
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as error:
        service_unavailable(f"Redis at {REDIS_HOST}:{REDIS_PORT} is unreachable: {type(error).__name__}")
    finally:
        client.close()


@pytest.fixture(scope="session")
def target_engine() -> Iterator[sa.Engine]:
    """The PostgreSQL database the DAGs write into (`test`)."""
    _check_postgres(POSTGRES_URL)
    engine = sa.create_engine(POSTGRES_URL)
    yield engine
    engine.dispose()


@pytest.fixture
def fresh_table(target_engine) -> Iterator[Callable[[str], str]]:
    """`fresh_table(prefix)` -> a new, unused table name in the target database, dropped after the test."""
    names: List[str] = []

    def make(prefix: str = "hz") -> str:
        names.append(f"{prefix}_{uuid.uuid4().hex[:12]}")
        return names[-1]

    yield make
    with target_engine.begin() as connection:
        for name in names:
            connection.execute(sa.text(f'DROP TABLE IF EXISTS "{name}"'))


@pytest.fixture
def fresh_database(cluster_services) -> Iterator[Callable[[str], sa.URL]]:
    """`fresh_database(prefix)` -> the URL of a new, empty PostgreSQL database, dropped after the test."""
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    names: List[str] = []

    def make(prefix: str = "hz") -> sa.URL:
        names.append(f"{prefix}_{uuid.uuid4().hex[:12]}")
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{names[-1]}"'))
        return sa.make_url(POSTGRES_ADMIN_URL).set(database=names[-1])

    yield make
    with admin.connect() as connection:
        for name in names:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
