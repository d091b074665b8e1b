"""Write-audit-publish for S3 outputs on a moto server (loopback): a run writes under a staging prefix of its
own, publishes by copying the staged objects onto their keys, and a killed run leaves the previous objects
untouched and its staging for the next run to remove."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List

import pandas as pd
import pytest

from airflow_provider_hazy import api
from airflow_provider_hazy.config import GenerationConfig, TrainingConfig

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def customers_model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    config = TrainingConfig.from_file(EXAMPLES / "training.yaml").model_dump(mode="json")
    config["data_input"][0]["location"] = str(EXAMPLES / "customers.csv")
    config["model_output"] = str(folder / "customers.hmf")
    config["evaluation"] = None
    return api.train(config)


def _config(
    model: Path,
    folder: Path,
    path: str,
    *,
    random_state: int,
    magnitude: float = 1.0,
    if_exists: str = "replace",
    state: str = "state.json",
) -> Dict[str, Any]:
    config = GenerationConfig.from_file(EXAMPLES / "generation.yaml").model_dump(mode="json")
    config.update(model=str(model), random_state=random_state, generation_state_path=str(folder / state))
    config["generate_params"].update(magnitude=magnitude, batch_magnitude=0.25)
    config["data_sources"] = [{"id": "lake"}]
    config["data_output"] = [
        {"name": "customers", "location": {"source_id": "lake", "path": path, "if_exists": if_exists}}
    ]
    return config


def _keys(client, bucket: str) -> List[str]:
    return sorted(item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", []))


def _uploads(client, bucket: str) -> List[str]:
    return [upload["Key"] for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def _body(client, bucket: str, key: str) -> bytes:
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def _start(config: Dict[str, Any], folder: Path, url: str) -> subprocess.Popen:
    path = folder / f"run-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(config))
    env = {**os.environ, "HAZY_CONN_LAKE": url, "PYTHONPATH": str(REPO)}
    code = f"from airflow_provider_hazy import api; api.generate({str(path)!r})"
    return subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE, text=True)


def _wait_for_batches(process: subprocess.Popen, state: Path, count: int, timeout: float = 120) -> Dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else process.returncode
        try:
            found = json.loads(state.read_text())
        except (OSError, ValueError):
            found = None
        if found and sum(len(t["batches"]) for t in found["tables"].values()) >= count:
            return found
        time.sleep(0.02)
    raise AssertionError(f"no {count} batches written within {timeout} s")


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_sigkill_during_an_s3_write_leaves_the_previous_object_and_the_next_run_cleans_the_staging(
    customers_model, tmp_path, monkeypatch, s3_url, s3_client, s3_bucket, suffix
):
    monkeypatch.setenv("HAZY_CONN_LAKE", s3_url)
    key = f"out/customers.{suffix}"
    path = f"s3://{s3_bucket}/{key}"
    first = api.generate(_config(customers_model, tmp_path, path, random_state=1))
    assert first["published"] == {"customers": "created"}
    assert _keys(s3_client, s3_bucket) == [key] and not _uploads(s3_client, s3_bucket)
    before = _body(s3_client, s3_bucket, key)

    killed = _start(
        _config(customers_model, tmp_path, path, random_state=2, magnitude=8.0, state="killed.json"), tmp_path, s3_url
    )
    state = _wait_for_batches(killed, tmp_path / "killed.json", 2)
    killed.send_signal(signal.SIGKILL)
    killed.wait(30)
    staging = f"out/.hzs_{state['run_id']}_customers.{suffix}/"
    assert f"{staging}_hazy_run" in _keys(s3_client, s3_bucket)
    assert _body(s3_client, s3_bucket, key) == before  # the target is untouched

    after = api.generate(_config(customers_model, tmp_path, path, random_state=3, state="after.json"))
    assert after["published"] == {"customers": "replaced"}
    assert _keys(s3_client, s3_bucket) == [key] and not _uploads(s3_client, s3_bucket)  # staging cleaned
    assert _body(s3_client, s3_bucket, key) != before
    if suffix == "csv":
        assert len(pd.read_csv(io.BytesIO(_body(s3_client, s3_bucket, key)))) == 5000


def test_a_failed_s3_run_publishes_nothing_and_drops_its_staging(
    customers_model, tmp_path, monkeypatch, s3_url, s3_client, s3_bucket
):
    monkeypatch.setenv("HAZY_CONN_LAKE", s3_url)
    key = "out/customers.csv"
    path = f"s3://{s3_bucket}/{key}"
    api.generate(_config(customers_model, tmp_path, path, random_state=1))
    before = _body(s3_client, s3_bucket, key)
    from airflow_provider_hazy.pipeline import evaluation
    from airflow_provider_hazy.pipeline.publication import GenerationError

    metadata = evaluation.generation_metadata
    monkeypatch.setattr(  # a model expecting twice the rows: the staging's row count fails validation
        evaluation, "generation_metadata", lambda *args: {**metadata(*args), "rows": 2 * 5000}
    )
    failing = _config(customers_model, tmp_path, path, random_state=2, state="failing.json")
    try:
        assert api.generate(failing)["published"] is False
    except GenerationError as error:
        assert "validation" in str(error)
    assert _body(s3_client, s3_bucket, key) == before
    assert _keys(s3_client, s3_bucket) == [key] and not _uploads(s3_client, s3_bucket)


def test_s3_append_publishes_the_appended_object_and_fail_refuses_before_generating(
    customers_model, tmp_path, monkeypatch, s3_url, s3_client, s3_bucket
):
    monkeypatch.setenv("HAZY_CONN_LAKE", s3_url)
    for suffix in ("csv", "csv.gz"):
        key = f"out/customers.{suffix}"
        path = f"s3://{s3_bucket}/{key}"
        api.generate(_config(customers_model, tmp_path, path, random_state=1))
        appended = api.generate(_config(customers_model, tmp_path, path, random_state=2, if_exists="append"))
        assert appended["published"] == {"customers": "appended"}
        frame = pd.read_csv(
            io.BytesIO(_body(s3_client, s3_bucket, key)), compression="gzip" if suffix.endswith("gz") else None
        )
        assert len(frame) == 2 * 5000 and frame["customer_id"].notna().all()
        with pytest.raises(FileExistsError, match=f"table 'customers': {path} already exists and if_exists is 'fail'"):
            api.generate(_config(customers_model, tmp_path, path, random_state=3, if_exists="fail"))
    assert _keys(s3_client, s3_bucket) == ["out/customers.csv", "out/customers.csv.gz"]
    assert not _uploads(s3_client, s3_bucket)
