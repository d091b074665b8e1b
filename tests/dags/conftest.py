"""Airflow for the DAG tests: a temporary AIRFLOW_HOME with a SQLite metadata DB, the repo's dags/ folder.

The environment is set when this conftest is imported, before any test module imports Airflow (an earlier
conftest may have imported it already: then its temporary home is used, which is as good). The metadata
DB is created once per session with `airflow.utils.db.resetdb()`.

`HAZY_SAMPLE_TABLES=customers`: on this branch only single tabular tables train. After the multi-table
merge, delete that line and every DAG test runs on the whole sample bank (see `expected_tables`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, List

import pytest

REPO = Path(__file__).resolve().parents[2]
_HOME = os.environ.setdefault("HAZY_TEST_DAGS_HOME", tempfile.mkdtemp(prefix="hazy-dag-tests-"))
os.environ.setdefault("AIRFLOW_HOME", _HOME)
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME}/airflow.db"
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["HAZY_WORK_DIR"] = f"{_HOME}/work"
os.environ["HAZY_SAMPLE_TABLES"] = "customers"  # multi-table merge: delete this line


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
