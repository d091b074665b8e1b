"""Airflow for the DAG tests: a temporary AIRFLOW_HOME with a SQLite metadata DB, the repo's dags/ folder.

The environment is set when this conftest is imported, before any test module imports Airflow (an earlier
conftest may have imported it already: then its temporary home is used, which is as good). The metadata
DB is created once per session with `airflow.utils.db.resetdb()`.

Every DAG test runs on the whole sample bank (branches, customers, accounts, transactions; see
`expected_tables`): `HAZY_SAMPLE_TABLES` is cleared, so a value in the caller's environment cannot narrow it.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Iterator, List

import pytest
from service_checks import MARIADB_URL, POSTGRES_URL, server_engine, service_unavailable

REPO = Path(__file__).resolve().parents[2]
_HOME = os.environ.setdefault("HAZY_TEST_DAGS_HOME", tempfile.mkdtemp(prefix="hazy-dag-tests-"))
if "airflow" not in sys.modules:  # never a real AIRFLOW_HOME: Airflow writes airflow.cfg there
    os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME}/airflow.db"
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["HAZY_WORK_DIR"] = f"{_HOME}/work"
os.environ.pop("HAZY_SAMPLE_TABLES", None)


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[None]:
    """A fresh metadata database for the session."""
    from airflow.utils import db

    db.resetdb()
    yield
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def expected_tables() -> List[str]:
    """The sample tables the example DAGs model in these tests."""
    from airflow_provider_hazy.sample_data.defaults import sample_tables

    return sample_tables()


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    """The repository's dags/ folder, parsed."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


@pytest.fixture
def serialized(airflow_db):
    """`serialized(dag)`: store a DAG defined in a test in the metadata DB, so `dag.test()` can run it."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    def store(dag):
        DagBundlesManager().sync_bundles_to_db()
        bag = DagBag(dag_folder=str(REPO / "dags"), collect_dags=False)
        bag.bag_dag(dag)
        sync_bag_to_db(bag, "dags-folder", None)
        return dag

    return store


@pytest.fixture
def postgres_sample_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema holding the sample bank, dropped after the test."""
    import sqlalchemy as sa

    from airflow_provider_hazy.sample_data import write_sample

    engine = server_engine(POSTGRES_URL, "PostgreSQL")
    name = f"hzdag_{uuid.uuid4().hex[:10]}"
    with engine.begin() as connection:
        connection.execute(sa.schema.CreateSchema(name))
    scoped = sa.create_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={name}"})
    write_sample(scoped)
    scoped.dispose()
    yield name
    with engine.begin() as connection:
        connection.execute(sa.schema.DropSchema(name, cascade=True))
    engine.dispose()


@pytest.fixture
def mariadb_database() -> Iterator[str]:
    """A fresh, empty MariaDB database, dropped after the test."""
    import sqlalchemy as sa

    engine = server_engine(MARIADB_URL, "MariaDB")
    name = f"hzdag_{uuid.uuid4().hex[:10]}"
    with engine.begin() as connection:
        connection.execute(sa.text(f"CREATE DATABASE `{name}`"))
    yield name
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
    engine.dispose()


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
