"""What every test that needs a service or the sample data uses: the servers' URLs, the Northwind path
(tests/data/northwind.sqlite, in the repository with its MIT licence), and the one rule for an absent
service (skip with the reason; on CI, where everything must be up, fail). Test modules import it as
`service_checks` (tests/conftest.py puts tests/ on sys.path)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from airflow_provider_hazy.io.sql import engine_from_url

POSTGRES_URL = os.environ.get("HAZY_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("HAZY_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
NORTHWIND = Path(__file__).resolve().parent / "data" / "northwind.sqlite"


def service_unavailable(reason: str) -> None:
    """Skip the test, or fail it on CI, where every service must be up."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"service unavailable on CI: {reason}")
    pytest.skip(reason)


def server_engine(url: str, label: str) -> sa.Engine:
    """An engine on a database server that answers a query, or the test skipped (failed on CI)."""
    engine = engine_from_url(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(sa.select(sa.literal(1)))
    except Exception as error:  # noqa: BLE001 - any failure to connect means the service is not there
        engine.dispose()
        service_unavailable(f"{label} at {engine.url.render_as_string()} is unreachable: {type(error).__name__}")
    return engine


def northwind_path() -> Path:
    """The Northwind sample database in the repository's test data (tests/data/northwind.sqlite).

    It is part of the repository, so a missing file is a broken checkout: the test fails, never skips."""
    if not NORTHWIND.exists():
        pytest.fail(f"{NORTHWIND} is missing: it is part of the repository (tests/data, MIT licence)")
    return NORTHWIND.resolve()
