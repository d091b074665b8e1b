"""Each operator runs its one engine call against real databases and returns a small, secret-free XCom;
`HazyValidateOperator` fails the task, naming the failing checks, when the target breaks a check."""

from __future__ import annotations

import json
import logging

import pytest
import sqlalchemy as sa
from airflow.exceptions import AirflowException
from service_checks import POSTGRES_URL

from airflow_provider_hazy import sample_data
from airflow_provider_hazy.model_file import read_manifest
from airflow_provider_hazy.operators import (
    HazyEvaluateOperator,
    HazyGenerateOperator,
    HazyTrainOperator,
    HazyValidateOperator,
    list_generation_batches,
)
from airflow_provider_hazy.pipeline.evaluation_file import read_detail

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


def test_evaluate_reports_the_evaluation_stored_in_the_model(trained, tmp_path):
    config, xcom = trained
    report = tmp_path / "reports" / "evaluation.json"
    operator = HazyEvaluateOperator(task_id="evaluate", config=config, report_path=str(report))
    result = operator.execute({})
    stored = read_manifest(xcom["model"])["evaluation"]
    assert result["source"] == "model" and result["model"] == xcom["model"]
    assert result["scores"] == {key: entry["score"] for key, entry in stored.items() if isinstance(entry, dict)
                                and "metric_type" in entry}
    assert 0 < result["scores"]["histogram_similarity"] <= 1
    body = json.loads(report.read_text())
    # the report holds the full evaluation: the detail file beside the model, never the model itself
    assert result["report"] == str(report) and body["scores"] == result["scores"]
    assert body["evaluation"] == read_detail(xcom["model"]) and "columns" not in json.dumps(stored)


def test_evaluate_with_an_evaluate_config_scores_the_given_tables(trained, tmp_path, monkeypatch):
    config, xcom = trained
    frames = sample_data.sample_frames()
    real = tmp_path / "real.parquet"
    frames["customers"].to_parquet(real, index=False)
    # the "synthetic" table is the real one with every income halved: its histogram score drops below 1
    shifted = frames["customers"].assign(income=frames["customers"]["income"] * 0.5)
    synthetic = tmp_path / "synthetic.parquet"
    shifted.to_parquet(synthetic, index=False)
    evaluate = {
        "model": xcom["model"],
        "real": [{"name": "customers", "location": str(real)}],
        "synthetic": [{"name": "customers", "location": str(synthetic)}],
        "evaluation": {"metrics": [{"metric_type": "histogram_similarity"}]},
    }
    same = dict(evaluate, synthetic=evaluate["real"])
    scored = HazyEvaluateOperator(task_id="evaluate", config=evaluate).execute({})
    identical = HazyEvaluateOperator(task_id="evaluate", config=same).execute({})
    assert scored["source"] == "evaluate" and list(scored["scores"]) == ["histogram_similarity"]
    assert identical["scores"]["histogram_similarity"] == pytest.approx(1.0)
    assert scored["scores"]["histogram_similarity"] < 0.99


def test_evaluate_fails_naming_the_model_when_training_stored_no_evaluation(tmp_path, monkeypatch):
    source = _sqlite_conn(monkeypatch, "hazy_op_source", sample_data.sample_database(tmp_path))
    config = sample_data.training_config(["customers"], model_output=str(tmp_path / "bare.hmf"))
    config["evaluation"] = None
    HazyTrainOperator(task_id="train", config=config, source_conn_id=source).execute({})
    with pytest.raises(ValueError, match="bare.hmf.*holds no evaluation"):
        HazyEvaluateOperator(task_id="evaluate", config=config).execute({})


def test_generate_then_validate_passes_and_a_broken_target_fails_validation(
    trained, tmp_path, monkeypatch, caplog, capsys
):
    target_path = tmp_path / "target.sqlite"
    target = _sqlite_conn(monkeypatch, "hazy_op_target", target_path)
    generation = sample_data.generation_config(["customers"], model=str(tmp_path / "model.hmf"), batch_magnitude=0.5)
    assert list_generation_batches(generation) == [0, 1]
    xcom = HazyGenerateOperator(task_id="generate", config=generation, target_conn_id=target).execute({})
    assert xcom["rows"] == {"customers": 600} and xcom["batches"] == [0, 1]
    validate = HazyValidateOperator(task_id="validate", config=generation, target_conn_id=target)
    assert validate.execute({})["passed"] is True

    engine = sa.create_engine(f"sqlite:///{target_path}")
    with engine.begin() as connection:  # a category the model cannot produce and a missing row
        connection.execute(sa.text("DELETE FROM customers WHERE customer_id = 2"))
        connection.execute(sa.text("UPDATE customers SET segment = 'not-a-segment' WHERE customer_id = 3"))
    engine.dispose()
    with caplog.at_level(logging.ERROR), pytest.raises(AirflowException, match="validation failed") as failure:
        validate.execute({})
    logged = caplog.text + capsys.readouterr().out  # the task logger writes through structlog
    assert "customers" in str(failure.value) and "check category_domain failed" in logged
    assert "table 'customers', column 'segment'" in logged and "segment: category_domain" in str(failure.value)


@pytest.mark.slow
def test_no_password_in_xcom_log_or_model(postgres_sample_schema, tmp_path, monkeypatch, caplog, capsys):
    connection = {
        "conn_type": "postgres",
        "host": "127.0.0.1",
        "login": "postgres",
        "password": SECRET,  # trust auth accepts any password: the point is where it travels
        "schema": sa.engine.make_url(POSTGRES_URL).database,  # the database the sample schema is in
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
