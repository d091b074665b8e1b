"""A sequential table in a mapped Airflow run (`dag.test()`): owners and their whole histories are made per
batch, a batch whose worker dies after its commit is retried, and the target ends with exactly the rows of
one unmapped run, every history in order."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
import sqlalchemy as sa
from sequential_data import event_histories, event_schema

from airflow_provider_hazy import api

pytestmark = pytest.mark.slow


def test_mapped_batches_of_histories_with_a_retry_equal_an_unmapped_run(serialized, tmp_path, monkeypatch):
    from airflow.sdk import DAG

    from airflow_provider_hazy.operators import (
        HazyGenerateOperator,
        HazyPublishOperator,
        list_generation_batches_task,
    )

    class WorkerLostAfterCommit(HazyGenerateOperator):
        def execute(self, context):
            result = super().execute(context)
            if self.batch_index == 1 and context["ti"].try_number == 1:
                raise RuntimeError("worker lost after commit")
            return result

    owners, events = event_histories(400)
    paths = {"owners": tmp_path / "owners.csv", "events": tmp_path / "events.csv"}
    owners.to_csv(paths["owners"], index=False)
    events.to_csv(paths["events"], index=False)
    model = api.train(
        {
            "data_schema": event_schema(),
            "data_input": [{"name": name, "location": str(path)} for name, path in paths.items()],
            "model_output": str(tmp_path / "events.hmf"),
            "random_state": 3,
            "evaluation": None,
        }
    )
    config = {
        "model": str(model),
        "random_state": 9,
        "data_sources": [{"id": "target"}],
        "generate_params": {"magnitude": 1.0, "batch_magnitude": 0.25},
        "data_output": [
            {"name": name, "location": {"source_id": "target", "table_name": name, "if_exists": "replace"}}
            for name in ("owners", "events")
        ],
    }
    target = tmp_path / "target.sqlite"
    monkeypatch.setenv("AIRFLOW_CONN_HAZY_SEQ_TARGET", json.dumps({"conn_type": "sqlite", "host": str(target)}))
    with DAG("hazy_test_sequential", schedule=None, start_date=dt.datetime(2024, 1, 1)) as dag:
        prepare = HazyGenerateOperator(task_id="prepare", config=config, target_conn_id="hazy_seq_target", prepare=True)
        generate = WorkerLostAfterCommit.partial(
            task_id="generate",
            config=config,
            target_conn_id="hazy_seq_target",
            retries=1,
            retry_delay=dt.timedelta(0),
        ).expand(batch_index=list_generation_batches_task(config))
        publish = HazyPublishOperator(task_id="publish", config=config, target_conn_id="hazy_seq_target")
        prepare >> generate >> publish
    run = serialized(dag).test()
    tries = {ti.map_index: (ti.state, ti.try_number) for ti in run.get_task_instances() if ti.task_id == "generate"}
    assert run.state == "success", tries
    assert len(tries) == 4 and tries[1] == ("success", 2)

    monkeypatch.setenv("HAZY_CONN_TARGET", f"sqlite:///{tmp_path / 'unmapped.sqlite'}")
    api.generate(config)
    mapped_engine = sa.create_engine(f"sqlite:///{target}")
    unmapped_engine = sa.create_engine(f"sqlite:///{tmp_path / 'unmapped.sqlite'}")
    for name in ("owners", "events"):
        query = f"SELECT * FROM {name} ORDER BY 1"
        mapped, unmapped = pd.read_sql(query, mapped_engine), pd.read_sql(query, unmapped_engine)
        assert len(mapped) > 0
        pd.testing.assert_frame_equal(mapped, unmapped, obj=name)
    written = pd.read_sql("SELECT owner_id, at FROM events ORDER BY event_id", mapped_engine, parse_dates=["at"])
    assert written.groupby("owner_id")["at"].apply(lambda at: at.is_monotonic_increasing).all()
    owner_ids = set(pd.read_sql("SELECT owner_id FROM owners", mapped_engine)["owner_id"])
    assert set(written["owner_id"]) <= owner_ids
