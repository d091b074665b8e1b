"""`hazy_ui_trigger` from a trigger `conf`: the params reach the model, the mapped batches run as separate
task instances and write the rows of one unmapped run; a bad value fails the task that validates it."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import sqlalchemy as sa

from airflow_provider_hazy import api

pytestmark = pytest.mark.slow


def _target(monkeypatch, tmp_path, conn_id: str):
    path = tmp_path / f"{conn_id}.sqlite"
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    return path


def test_trigger_conf_drives_the_run(dagbag, expected_tables, tmp_path, monkeypatch):
    target = _target(monkeypatch, tmp_path, "hazy_ui_target")
    conf = {"epsilon": 0.5, "batch_magnitude": 0.5, "random_state": 7, "target_conn_id": "hazy_ui_target"}
    run = dagbag.get_dag("hazy_ui_trigger").test(run_conf={**conf, "tables": expected_tables})
    instances = run.get_task_instances()
    assert run.state == "success", {(ti.task_id, ti.map_index): ti.state for ti in instances}
    assert sorted(ti.map_index for ti in instances if ti.task_id == "generate") == [0, 1]
    trained = run.get_task_instance("train").xcom_pull(task_ids="train")
    assert trained["epsilon"] == pytest.approx(0.5)

    generation = run.get_task_instance("configs").xcom_pull(task_ids="configs", key="generation")
    unmapped = tmp_path / "unmapped.sqlite"
    monkeypatch.setenv("HAZY_CONN_TARGET", f"sqlite:///{unmapped}")
    api.generate(generation)
    for name in expected_tables:
        order = f"SELECT * FROM {name} ORDER BY 1"
        mapped_rows = pd.read_sql(order, sa.create_engine(f"sqlite:///{target}"))
        unmapped_rows = pd.read_sql(order, sa.create_engine(f"sqlite:///{unmapped}"))
        pd.testing.assert_frame_equal(mapped_rows, unmapped_rows)


def test_bad_conf_fails_the_task_that_reads_it_with_the_config_message(dagbag, tmp_path, monkeypatch, capsys):
    _target(monkeypatch, tmp_path, "hazy_ui_bad_target")
    conf = {"tables": ["customers"], "magnitude": 0.5, "batch_magnitude": 2.0, "target_conn_id": "hazy_ui_bad_target"}
    run = dagbag.get_dag("hazy_ui_trigger").test(run_conf=conf)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "failed"
    assert states["train"] == "success"
    assert states["prepare_target"] == "failed" and states["list_batches"] == "failed"
    assert "batch_magnitude (2.0) must be <= magnitude (0.5)" in capsys.readouterr().out
