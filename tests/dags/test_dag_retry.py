"""A mapped generate batch that fails after its rows were committed is retried by Airflow, and the target
(the whole sample bank, foreign keys enforced by the created tables) ends with exactly the rows of one
unmapped run once `publish` has swapped the run's staging in: the retry deleted its own rows of the staging,
children first, and wrote them again instead of adding them."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
import sqlalchemy as sa

from airflow_provider_hazy import api, sample_data

pytestmark = pytest.mark.slow


def test_retried_batch_leaves_exactly_the_rows_of_an_unmapped_run(serialized, tmp_path, monkeypatch):
    from airflow.sdk import DAG

    from airflow_provider_hazy.operators import (
        HazyGenerateOperator,
        HazyPublishOperator,
        list_generation_batches_task,
    )

    class WorkerLostAfterCommit(HazyGenerateOperator):
        """Batch 1's first attempt writes its rows, then dies (as a worker killed after the commit would)."""

        def execute(self, context):
            result = super().execute(context)
            if self.batch_index == 1 and context["ti"].try_number == 1:
                raise RuntimeError("worker lost after commit")
            return result

    source = sample_data.sample_database(tmp_path)
    target = tmp_path / "target.sqlite"
    monkeypatch.setenv("HAZY_CONN_SOURCE", f"sqlite:///{source}")
    model = api.train(sample_data.training_config(model_output=str(tmp_path / "m.hmf")))
    monkeypatch.setenv("AIRFLOW_CONN_HAZY_RETRY_TARGET", json.dumps({"conn_type": "sqlite", "host": str(target)}))
    config = sample_data.generation_config(model=str(model), batch_magnitude=0.25)
    with DAG("hazy_test_retry", schedule=None, start_date=dt.datetime(2024, 1, 1)) as dag:
        prepare = HazyGenerateOperator(
            task_id="prepare", config=config, target_conn_id="hazy_retry_target", prepare=True
        )
        generate = WorkerLostAfterCommit.partial(
            task_id="generate",
            config=config,
            target_conn_id="hazy_retry_target",
            retries=1,
            retry_delay=dt.timedelta(0),
        ).expand(batch_index=list_generation_batches_task(config))
        publish = HazyPublishOperator(task_id="publish", config=config, target_conn_id="hazy_retry_target")
        prepare >> generate >> publish
    run = serialized(dag).test()
    tries = {ti.map_index: (ti.state, ti.try_number) for ti in run.get_task_instances() if ti.task_id == "generate"}
    assert run.state == "success", tries
    assert tries[1] == ("success", 2) and tries[0] == ("success", 1)
    published = run.get_task_instance("publish").xcom_pull(task_ids="publish")
    assert published["published"] == {name: "created" for name in sample_data.TABLES}

    monkeypatch.setenv("HAZY_CONN_TARGET", f"sqlite:///{tmp_path / 'unmapped.sqlite'}")
    api.generate(config)
    engine = sa.create_engine(f"sqlite:///{target}")
    unmapped_engine = sa.create_engine(f"sqlite:///{tmp_path / 'unmapped.sqlite'}")
    for name in sample_data.TABLES:
        order = f"SELECT * FROM {name} ORDER BY 1"
        mapped, unmapped = pd.read_sql(order, engine), pd.read_sql(order, unmapped_engine)
        assert len(mapped) > 0, name
        pd.testing.assert_frame_equal(mapped, unmapped, obj=name)
    assert len(pd.read_sql("SELECT customer_id FROM customers", engine)) == 600
