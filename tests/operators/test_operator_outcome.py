"""`HazyGenerateOperator` fails its task when rows went to the fail-safe path (naming the files) and when
validation failed (naming the checks), as `hazy generate` exits 3 and 4."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from airflow.exceptions import AirflowException

from airflow_provider_hazy import sample_data
from airflow_provider_hazy.operators import HazyGenerateOperator, HazyTrainOperator


def _sqlite_conn(monkeypatch, conn_id, path):
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    return conn_id


@pytest.fixture
def generated(tmp_path, monkeypatch):
    """A customers model and a SQLite target that already holds one run's rows."""
    source = _sqlite_conn(monkeypatch, "hazy_out_source", sample_data.sample_database(tmp_path))
    config = sample_data.training_config(["customers"], model_output=str(tmp_path / "model.hmf"), epsilon=0.8)
    HazyTrainOperator(task_id="train", config=config, source_conn_id=source).execute({})
    target = _sqlite_conn(monkeypatch, "hazy_out_target", tmp_path / "target.db")
    generation = sample_data.generation_config(["customers"], model=str(tmp_path / "model.hmf"), random_state=3)
    HazyGenerateOperator(task_id="generate", config=generation, target_conn_id=target).execute({})
    return generation, target


def test_rows_in_the_fail_safe_path_fail_the_task_naming_the_files(generated, tmp_path):
    generation, target = generated
    failed = tmp_path / "failed"
    # a schema the database does not have: every batch goes to the fail-safe path
    generation["data_output"][0]["location"].update(schema_name="missing", fail_safe_path=str(failed))
    operator = HazyGenerateOperator(task_id="generate", config=generation, target_conn_id=target)
    with pytest.raises(AirflowException, match=r"exit code 3\): 4 batch\(es\), 600 rows") as caught:
        operator.execute({})
    written = sorted(failed.rglob("*.csv"))
    assert len(written) == 4 and all(str(path) in str(caught.value) for path in written)
    assert "unknown database missing" in str(caught.value)


def test_failed_validation_fails_the_task_naming_the_checks(generated, tmp_path, monkeypatch):
    from airflow_provider_hazy.pipeline import evaluation

    generation, _ = generated
    output = tmp_path / "synthetic.csv"
    generation["data_output"][0]["location"] = {"path": str(output), "if_exists": "append"}
    HazyGenerateOperator(task_id="generate", config=generation).execute({})
    assert Path(output).exists()
    published = output.read_bytes()
    metadata = evaluation.generation_metadata
    monkeypatch.setattr(  # a model expecting twice the rows: the staging's row count fails validation
        evaluation, "generation_metadata", lambda *args: {**metadata(*args), "rows": 1200}
    )
    with pytest.raises(AirflowException, match=r"exit code 4\): validation failed, 1 check\(s\)") as caught:
        HazyGenerateOperator(task_id="generate", config=generation).execute({})
    assert "row_count failed" in str(caught.value)
    assert output.read_bytes() == published  # nothing published
