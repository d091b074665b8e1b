"""Mapped generation into files: each batch writes its own part (a rerun replaces it), `prepare` empties a
replaced part folder, and the parts together hold the rows of one unmapped run."""

from __future__ import annotations

import pandas as pd

from airflow_provider_hazy import api, sample_data
from airflow_provider_hazy.operators import HazyGenerateOperator, list_generation_batches


def _generation(tmp_path, model, path):
    config = sample_data.generation_config(["customers"], model=str(model), batch_magnitude=0.3)
    config["data_sources"] = []
    config["data_output"] = [{"name": "customers", "location": {"path": str(path), "if_exists": "replace"}}]
    return config


def test_parts_of_a_mapped_run_equal_one_unmapped_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HAZY_CONN_SOURCE", f"sqlite:///{sample_data.sample_database(tmp_path)}")
    model = api.train(sample_data.training_config(["customers"], model_output=str(tmp_path / "m.hmf")))
    whole = tmp_path / "whole" / "customers.parquet"
    api.generate(_generation(tmp_path, model, whole))

    mapped = _generation(tmp_path, model, tmp_path / "mapped" / "customers.parquet")
    stale = tmp_path / "mapped" / "customers" / "part-00099.parquet"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"left by an earlier run")
    HazyGenerateOperator(task_id="prepare", config=mapped, prepare=True).execute({})
    assert not stale.exists()
    batches = list_generation_batches(mapped)
    assert batches == [0, 1, 2, 3]
    for index in [*batches, 2]:  # batch 2 runs twice, as a retry would
        HazyGenerateOperator(task_id="generate", config=mapped, batch_index=index).execute({})
    parts = sorted((tmp_path / "mapped" / "customers").glob("part-*.parquet"))
    assert [part.name for part in parts] == [f"part-{i:05d}.parquet" for i in batches]
    union = pd.concat([pd.read_parquet(part) for part in parts], ignore_index=True)
    pd.testing.assert_frame_equal(union, pd.read_parquet(whole))
    assert api.validate(mapped)["passed"] is True
