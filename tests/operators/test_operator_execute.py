"""Each operator runs its one engine call against real databases and returns a small, secret-free XCom;
`HazyValidateOperator` fails the task, naming the failing checks, when the target breaks a check."""

from __future__ import annotations

import json
import logging

import pytest
import sqlalchemy as sa
from airflow.exceptions import AirflowException

from airflow_provider_hazy import sample_data
from airflow_provider_hazy.model_file import read_manifest
from airflow_provider_hazy.operators import (
    HazyEvaluateOperator,
    HazyGenerateOperator,
    HazyTrainOperator,
    HazyValidateOperator,
    list_generation_batches,
)

SECRET = "hazy-operator-secret-pw"


def _sqlite_conn(monkeypatch, conn_id, path):
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    return conn_id


@pytest.fixture
def trained(tmp_path, monkeypatch):
    """A customers model trained by the operator from the bundled sample (through an Airflow connection)."""
    source = _sqlite_conn(monkeypatch, "hazy_op_source", sample_data.sample_database(tmp_path))
    config = sample_data.training_config(["customers"], model_output=str(tmp_path / "model.hmf"), epsilon=0.8)
    xcom = HazyTrainOperator(task_id="train", config=config, source_conn_id=source).execute({})
    return config, xcom


def test_train_returns_model_epsilon_and_row_counts(trained, tmp_path):
    _, xcom = trained
    assert xcom == {"model": str(tmp_path / "model.hmf"), "epsilon": pytest.approx(0.8), "rows": {"customers": 600}}


def test_evaluate_returns_scores_and_writes_the_report(trained, tmp_path, monkeypatch):
    config, _ = trained
    report = tmp_path / "reports" / "evaluation.json"
    operator = HazyEvaluateOperator(
        task_id="evaluate", config=config, source_conn_id="hazy_op_source", report_path=str(report)
    )
    xcom = operator.execute({})
    assert xcom["report"] == str(report) and json.loads(report.read_text())["scores"] == xcom["scores"]
    assert 0 < xcom["scores"]["histogram_similarity"] <= 1


def test_generate_then_validate_passes_and_a_broken_target_fails_validation(trained, tmp_path, monkeypatch, caplog):
    target_path = tmp_path / "target.sqlite"
    target = _sqlite_conn(monkeypatch, "hazy_op_target", target_path)
    generation = sample_data.generation_config(["customers"], model=str(tmp_path / "model.hmf"), batch_magnitude=0.5)
    assert list_generation_batches(generation) == [0, 1]
    xcom = HazyGenerateOperator(task_id="generate", config=generation, target_conn_id=target).execute({})
    assert xcom["rows"] == {"customers": 600} and xcom["batches"] == [0, 1]
    validate = HazyValidateOperator(task_id="validate", config=generation, target_conn_id=target)
    assert validate.execute({})["passed"] is True

    engine = sa.create_engine(f"sqlite:///{target_path}")
    with engine.begin() as connection:  # a duplicated primary key and a missing row
        connection.execute(sa.text("DELETE FROM customers WHERE customer_id = 2"))
        connection.execute(sa.text("UPDATE customers SET customer_id = 1 WHERE customer_id = 3"))
    engine.dispose()
    with caplog.at_level(logging.ERROR), pytest.raises(AirflowException, match="validation failed") as failure:
        validate.execute({})
    assert "customers" in str(failure.value) and "customers" in caplog.text


@pytest.mark.slow
def test_no_password_in_xcom_log_or_model(postgres_sample_schema, tmp_path, monkeypatch, caplog, capsys):
    connection = {
        "conn_type": "postgres",
        "host": "127.0.0.1",
        "login": "postgres",
        "password": SECRET,  # trust auth accepts any password: the point is where it travels
        "schema": "test",
        "extra": {"options": f"-csearch_path={postgres_sample_schema}"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_HAZY_OP_PG", json.dumps(connection))
    config = sample_data.training_config(["customers"], model_output=str(tmp_path / "pg.hmf"))
    with caplog.at_level(logging.DEBUG):
        xcom = HazyTrainOperator(task_id="train", config=config, source_conn_id="hazy_op_pg").execute({})
    assert xcom["rows"] == {"customers": 600}
    assert SECRET not in json.dumps(xcom)
    assert SECRET not in caplog.text + capsys.readouterr().out
    assert SECRET not in json.dumps(read_manifest(tmp_path / "pg.hmf"))
