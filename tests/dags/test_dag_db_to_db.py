"""`hazy_db_to_db` end to end with `dag.test()`: the bundled SQLite sample, and PostgreSQL into MariaDB.

The target must hold exactly the rows the `prepare_target` task (the reference table `branches`) and the
mapped `generate` tasks report (no batch lost or doubled); `customers` (a table with no parent) holds
`magnitude` times its source rows, and every foreign key of the sample resolves in the target.
"""

from __future__ import annotations

import json
from collections import Counter

import pandas as pd
import pytest
import sqlalchemy as sa
from service_checks import POSTGRES_URL

from airflow_provider_hazy import sample_data
from airflow_provider_hazy.core.batching import rows_for_magnitude

pytestmark = pytest.mark.slow


def _run(dagbag, dag_id: str, **kwargs):
    run = dagbag.get_dag(dag_id).test(**kwargs)
    assert run.state == "success", {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}
    return run


def _reported_rows(run) -> Counter:
    """Rows per table, summed over the prepare task's and the mapped generate tasks' XComs."""
    rows: Counter = Counter(run.get_task_instance("prepare_target").xcom_pull(task_ids="prepare_target")["rows"])
    for ti in run.get_task_instances():
        if ti.task_id == "generate":
            rows.update(ti.xcom_pull(task_ids="generate", map_indexes=ti.map_index)["rows"])
    return rows


def _check_foreign_keys(engine: sa.Engine, tables) -> None:
    """Every foreign key of the sample schema resolves in the target (no dangling or empty relation)."""
    schema = {table["name"]: table for table in sample_data.training_config()["data_schema"]["tables"]}
    for name in tables:
        child = pd.read_sql_table(name, engine)
        for column in schema[name]["columns"]:
            if column["type"] != "foreign_key" or column["ref_table"] not in tables:
                continue
            parent = pd.read_sql_table(column["ref_table"], engine)[column["ref_column"]]
            values = child[column["name"]].dropna()
            assert len(values) > 0 and values.isin(parent).all(), f"{name}.{column['name']}"


def _check_target(run, engine: sa.Engine, tables) -> None:
    batches = run.get_task_instance("list_batches").xcom_pull(task_ids="list_batches")
    assert sorted(ti.map_index for ti in run.get_task_instances() if ti.task_id == "generate") == batches
    assert len(batches) > 1
    reported = _reported_rows(run)
    for name in tables:
        synthetic = pd.read_sql_table(name, engine)
        assert len(synthetic) == reported[name] > 0, name
        assert synthetic.iloc[:, 0].is_unique, name
    frames = sample_data.sample_frames()
    if "customers" in tables:
        assert reported["customers"] == rows_for_magnitude(len(frames["customers"]), 1.0)
    if "branches" in tables:  # a reference table: copied whole by the prepare step
        assert reported["branches"] == len(frames["branches"])
    _check_foreign_keys(engine, tables)


def test_db_to_db_on_the_bundled_sample(dagbag, expected_tables, monkeypatch, tmp_path):
    target = tmp_path / "synthetic.sqlite"
    monkeypatch.setenv("AIRFLOW_CONN_HAZY_SAMPLE_TARGET", json.dumps({"conn_type": "sqlite", "host": str(target)}))
    run = _run(dagbag, "hazy_db_to_db")
    engine = sa.create_engine(f"sqlite:///{target}")
    _check_target(run, engine, expected_tables)
    engine.dispose()
    scores = run.get_task_instance("evaluate").xcom_pull(task_ids="evaluate")["scores"]
    assert 0 < scores["histogram_similarity"] <= 1
    audit = run.get_task_instance("publish").xcom_pull(task_ids="publish")["validation"]
    batches = run.get_task_instance("list_batches").xcom_pull(task_ids="list_batches")
    assert audit["passed"] is True and audit["n_checks"] > 30
    # every mapped task checked its own batch; publish merged them and read back only the row counts
    assert audit["checked"] == f"in memory, batch by batch ({len(batches)} batches, each in its own task); " + (
        "row counts read back"
    )
    assert run.get_task_instance("validate").xcom_pull(task_ids="validate")["passed"] is True


def test_db_to_db_from_postgresql_into_mariadb(
    dagbag, expected_tables, postgres_sample_schema, mariadb_database, monkeypatch
):
    source = {
        "conn_type": "postgres",
        "host": "127.0.0.1",
        "port": 5432,
        "login": "postgres",
        "schema": sa.engine.make_url(POSTGRES_URL).database,  # the database the sample schema is in
        "extra": {"options": f"-csearch_path={postgres_sample_schema}"},
    }
    target = {"conn_type": "mysql", "host": "127.0.0.1", "port": 3306, "login": "root", "schema": mariadb_database}
    monkeypatch.setenv("AIRFLOW_CONN_HAZY_SAMPLE_SOURCE", json.dumps(source))
    monkeypatch.setenv("AIRFLOW_CONN_HAZY_SAMPLE_TARGET", json.dumps(target))
    run = _run(dagbag, "hazy_db_to_db", logical_date=pd.Timestamp("2024-03-01", tz="UTC").to_pydatetime())
    assert run.get_task_instance("validate").xcom_pull(task_ids="validate")["passed"] is True
    engine = sa.create_engine(f"mysql+pymysql://root@127.0.0.1:3306/{mariadb_database}")
    _check_target(run, engine, expected_tables)
    frames = sample_data.sample_frames()
    for name in expected_tables:
        assert set(pd.read_sql_table(name, engine).columns) == set(frames[name].columns)
    engine.dispose()
