"""Mapped generation of the whole sample bank into Parquet files: `prepare` makes the run's staging and writes
the reference table into it, each batch writes its own part of every generated table (a rerun replaces it),
`publish` replaces the earlier output (its part folder and single file) with the staged parts, and the parts
together hold the rows of one unmapped run."""

from __future__ import annotations

import pandas as pd

from airflow_provider_hazy import api, sample_data
from airflow_provider_hazy.io.staging import new_run_id
from airflow_provider_hazy.operators import HazyGenerateOperator, HazyPublishOperator, list_generation_batches


def _generation(model, folder):
    config = sample_data.generation_config(model=str(model), batch_magnitude=0.3)
    config["data_sources"] = []
    config["data_output"] = [
        {"name": name, "location": {"path": str(folder / f"{name}.parquet"), "if_exists": "replace"}}
        for name in sample_data.TABLES
    ]
    return config


def test_parts_of_a_mapped_run_equal_one_unmapped_run(tmp_path, monkeypatch):
    monkeypatch.setenv("HAZY_CONN_SOURCE", f"sqlite:///{sample_data.sample_database(tmp_path)}")
    model = api.train(sample_data.training_config(model_output=str(tmp_path / "m.hmf")))
    api.generate(_generation(model, tmp_path / "whole"))

    mapped = _generation(model, tmp_path / "mapped")
    stale = tmp_path / "mapped" / "customers" / "part-00099.parquet"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"left by an earlier run")
    (tmp_path / "mapped" / "accounts.parquet").write_bytes(b"an earlier unmapped run")
    run_id = new_run_id()
    prepared = HazyGenerateOperator(task_id="prepare", config=mapped, prepare=True, run_id=run_id).execute({})
    n_branches = len(sample_data.sample_frames()["branches"])
    assert prepared["rows"] == {"branches": n_branches, "customers": 0, "accounts": 0, "transactions": 0}
    batches = list_generation_batches(mapped)
    assert batches == [0, 1, 2, 3]
    for index in [*batches, 2]:  # batch 2 runs twice, as a retry would
        xcom = HazyGenerateOperator(task_id="generate", config=mapped, batch_index=index, run_id=run_id).execute({})
        assert xcom["rows"]["branches"] == 0 and xcom["rows"]["customers"] > 0 and xcom["batches"] == [index]
    assert stale.exists()  # until the publish, the earlier output is untouched
    published = HazyPublishOperator(task_id="publish", config=mapped, run_id=run_id).execute({})
    assert published["published"] == {
        name: "replaced" if name in ("customers", "accounts") else "created" for name in sample_data.TABLES
    }
    assert not stale.exists() and not (tmp_path / "mapped" / "accounts.parquet").exists()
    assert [p.name for p in (tmp_path / "mapped" / "branches").iterdir()] == ["part-00000.parquet"]
    for name in sample_data.TABLES:
        parts = sorted((tmp_path / "mapped" / name).glob("part-*.parquet"))
        expected = [0] if name == "branches" else batches
        assert [part.name for part in parts] == [f"part-{i:05d}.parquet" for i in expected], name
        union = pd.concat([pd.read_parquet(part) for part in parts], ignore_index=True)
        pd.testing.assert_frame_equal(union, pd.read_parquet(tmp_path / "whole" / f"{name}.parquet"), obj=name)
    report = api.validate(mapped)
    assert report["passed"] is True, report["failures"]
    assert {check["table"] for check in report["checks"]} == set(sample_data.TABLES)
