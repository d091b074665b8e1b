"""`hazy_db_to_db` end to end with `dag.test()`: the bundled SQLite sample, and PostgreSQL into MariaDB."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest
import sqlalchemy as sa

from airflow_provider_hazy import sample_data
from airflow_provider_hazy.core.batching import rows_for_magnitude

pytestmark = pytest.mark.slow


def _states(run) -> dict:
    return {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}


def _run(dagbag, dag_id: str, **kwargs):
    run = dagbag.get_dag(dag_id).test(**kwargs)
    assert run.state == "success", _states(run)
    return run


def test_db_to_db_on_the_bundled_sample(dagbag, expected_tables):
    run = _run(dagbag, "hazy_db_to_db")
    states = _states(run)
    mapped = [index for (task, index) in states if task == "generate"]
    assert len(mapped) == 4 and all(state == "success" for state in states.values())
    target = sa.create_engine(
        json.loads(os.environ["AIRFLOW_CONN_HAZY_SAMPLE_TARGET"])["host"].join(["sqlite:///", ""])
    )
    source = sample_data.sample_frames()
    for name in expected_tables:
        synthetic = pd.read_sql_table(name, target)
        assert len(synthetic) == rows_for_magnitude(len(source[name]), 1.0)
        assert synthetic.iloc[:, 0].is_unique
    target.dispose()
    ti = next(t for t in run.get_task_instances() if t.task_id == "evaluate")
    scores = ti.xcom_pull(task_ids="evaluate")["scores"]
    assert 0 < scores["histogram_similarity"] <= 1


def test_db_to_db_from_postgresql_into_mariadb(
    dagbag, expected_tables, postgres_sample_schema, mariadb_database, monkeypatch
):
    source = {
        "conn_type": "postgres",
        "host": "127.0.0.1",
        "port": 5432,
        "login": "postgres",
        "schema": "test",
        "extra": {"options": f"-csearch_path={postgres_sample_schema}"},
    }
    target = {"conn_type": "mysql", "host": "127.0.0.1", "port": 3306, "login": "root", "schema": mariadb_database}
    monkeypatch.setenv("AIRFLOW_CONN_HAZY_SAMPLE_SOURCE", json.dumps(source))
    monkeypatch.setenv("AIRFLOW_CONN_HAZY_SAMPLE_TARGET", json.dumps(target))
    run = _run(dagbag, "hazy_db_to_db", logical_date=pd.Timestamp("2024-03-01", tz="UTC").to_pydatetime())
    assert run.get_task_instance("validate").xcom_pull(task_ids="validate")["passed"] is True
    engine = sa.create_engine(f"mysql+pymysql://root@127.0.0.1:3306/{mariadb_database}")
    frames = sample_data.sample_frames()
    for name in expected_tables:
        synthetic = pd.read_sql_table(name, engine)
        assert len(synthetic) == rows_for_magnitude(len(frames[name]), 1.0)
        assert set(synthetic.columns) == set(frames[name].columns)
    engine.dispose()
