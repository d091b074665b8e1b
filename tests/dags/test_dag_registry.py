"""`hazy_db_to_db` registers its model in the generator registry and activates it; `hazy_generate_from_registry`
then generates from the generator's name alone, and stops generating once the version is made draft."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import sqlalchemy as sa

from airflow_provider_hazy.registry import Registry
from airflow_provider_hazy.sample_data.defaults import SAMPLE_GENERATOR

pytestmark = pytest.mark.slow


def _sqlite_target(monkeypatch, path) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_HAZY_SAMPLE_TARGET", json.dumps({"conn_type": "sqlite", "host": str(path)}))


def _states(run) -> dict:
    return {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}


def test_db_to_db_registers_and_generate_from_registry_uses_the_name(dagbag, expected_tables, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_CONN_HAZY_REGISTRY", f"sqlite:///{tmp_path / 'registry.sqlite'}")
    monkeypatch.setenv("HAZY_REGISTRY_STORE", str(tmp_path / "models"))
    first_target = tmp_path / "first.sqlite"
    _sqlite_target(monkeypatch, first_target)
    run = dagbag.get_dag("hazy_db_to_db").test()
    assert run.state == "success", _states(run)
    registered = run.get_task_instance("train").xcom_pull(task_ids="train")["registry"]
    assert registered["generator"] == SAMPLE_GENERATOR and registered["activated"] is True, registered

    with Registry() as registry:  # the same registry the tasks used: AIRFLOW_CONN_HAZY_REGISTRY
        active = registry.active_version(SAMPLE_GENERATOR)
        assert active is not None and active.number == registered["version"]
        assert registry.resolve(SAMPLE_GENERATOR).sha256 == registered["sha256"]

    second_target = tmp_path / "second.sqlite"
    _sqlite_target(monkeypatch, second_target)
    run = dagbag.get_dag("hazy_generate_from_registry").test()
    assert run.state == "success", _states(run)
    # The same model and random_state as the first DAG's generation: the same rows.
    for name in expected_tables:
        query = f"SELECT * FROM {name} ORDER BY 1"
        first = pd.read_sql(query, sa.create_engine(f"sqlite:///{first_target}"))
        second = pd.read_sql(query, sa.create_engine(f"sqlite:///{second_target}"))
        assert len(second) > 0, name
        pd.testing.assert_frame_equal(first, second)

    with Registry() as registry:  # "make draft" withdraws the model: the next run has nothing to generate from
        registry.draft(SAMPLE_GENERATOR, registered["version"])
    run = dagbag.get_dag("hazy_generate_from_registry").test()
    assert run.state == "failed"
