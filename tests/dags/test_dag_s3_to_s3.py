"""`hazy_s3_to_s3` against a moto S3 server: sample staged, model trained from S3, mapped parts written back."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from airflow_provider_hazy import sample_data
from airflow_provider_hazy.core.batching import rows_for_magnitude
from airflow_provider_hazy.io.s3 import make_s3_client

pytestmark = pytest.mark.slow
KEY, SECRET = "AKIDHAZYDAG", "hazy-dag-secret-value"


def test_s3_to_s3_writes_one_part_per_batch(dagbag, expected_tables, s3_endpoint, monkeypatch):
    extra = {"endpoint_url": s3_endpoint, "region_name": "eu-west-1"}
    connection = {"conn_type": "aws", "login": KEY, "password": SECRET, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_HAZY_S3", json.dumps(connection))
    run = dagbag.get_dag("hazy_s3_to_s3").test()
    instances = run.get_task_instances()
    assert run.state == "success", {(ti.task_id, ti.map_index): ti.state for ti in instances}
    assert sorted(ti.map_index for ti in instances if ti.task_id == "generate") == [0, 1]
    for ti in instances:
        assert SECRET not in json.dumps(ti.xcom_pull(task_ids=ti.task_id, map_indexes=ti.map_index), default=str)

    client = make_s3_client(access_key=KEY, secret_key=SECRET, region_name="eu-west-1", endpoint_url=s3_endpoint)
    frames = sample_data.sample_frames()
    synthetic = {}
    for name in expected_tables:
        listed = client.list_objects_v2(Bucket="hazy-sample", Prefix="synthetic/")["Contents"]
        parts = sorted(item["Key"] for item in listed if f"/{name}/part-" in item["Key"])
        mapped = sum(1 for ti in instances if ti.task_id == "generate")
        expected = [0] if name == "branches" else range(mapped)  # a reference table: the prepare step's part
        assert [key.rsplit("/", 1)[1] for key in parts] == [f"part-{i:05d}.parquet" for i in expected]
        bodies = [client.get_object(Bucket="hazy-sample", Key=key)["Body"].read() for key in parts]
        synthetic[name] = pd.concat([pd.read_parquet(io.BytesIO(body)) for body in bodies], ignore_index=True)
        reported = sum(
            ti.xcom_pull(task_ids=ti.task_id, map_indexes=ti.map_index)["rows"][name]
            for ti in instances
            if ti.task_id in ("generate", "prepare_target")
        )
        assert len(synthetic[name]) == reported > 0
        if name == "customers":  # no parent: magnitude times the source rows
            assert reported == rows_for_magnitude(len(frames[name]), 1.0)
        assert synthetic[name].iloc[:, 0].is_unique
    if {"accounts", "customers"} <= set(synthetic):  # the parts together are referentially complete
        assert synthetic["accounts"]["customer_id"].dropna().isin(synthetic["customers"]["customer_id"]).all()
    assert run.get_task_instance("validate").xcom_pull(task_ids="validate")["passed"] is True
