"""Validation as the rows are written (`pipeline.batch_validation`): each batch checked in memory, then only row
counts read back; the report equals the read-back validation of the same output, check for check."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_hazy import api, sample_data
from airflow_provider_hazy.pipeline import batch_validation
from airflow_provider_hazy.pipeline.batch_validation import BatchChecks, BatchValidation, count_written_rows


def _summary(report):
    return [(c["check"], c["table"], c["column"], c["passed"], c["violations"]) for c in report["checks"]]


@pytest.fixture(scope="module")
def bank_model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bank_validation")
    config = sample_data.training_config(model_output=str(folder / "bank.hmf"))
    config["data_sources"] = [{"id": "source", "connection_url": f"sqlite:///{sample_data.sample_database(folder)}"}]
    return api.train(config)


def _generation(model: Path, folder: Path) -> dict:
    config = sample_data.generation_config(model=str(model), batch_magnitude=0.25)
    for item in config["data_output"]:
        item["location"] = {"path": str(folder / f"{item['name']}.csv"), "if_exists": "replace"}
    config["generation_state_path"] = str(folder / "state.json")
    return config


def test_batch_report_equals_the_read_back_report(bank_model, tmp_path):
    config = _generation(bank_model, tmp_path)
    state = api.generate(config)
    assert len({b["index"] for t in state["tables"].values() for b in t["batches"]}) == 4
    in_memory = json.loads((tmp_path / "state.validation.json").read_text())
    assert in_memory["checked"] == "in memory, batch by batch; row counts read back"
    read_back = api.validate(config)
    assert in_memory["passed"] and read_back["passed"]
    assert _summary(in_memory) == _summary(read_back)
    assert state["validation"]["n_checks"] == read_back["n_checks"]


def test_violations_found_in_batches_are_summed(bank_model, tmp_path, monkeypatch):
    original = batch_validation.BatchChecker.__init__

    def narrower(self, config, model):
        original(self, config, model)
        self.metadata["customers"]["columns"]["age"]["max"] = 40  # ages above 40 now break the range

    monkeypatch.setattr(batch_validation.BatchChecker, "__init__", narrower)
    monkeypatch.setenv("HAZY_WORKERS", "1")  # the patched checker lives in this process only
    state = api.generate(_generation(bank_model, tmp_path))
    written = pd.read_csv(tmp_path / "customers.csv")
    report = json.loads((tmp_path / "state.validation.json").read_text())
    (age,) = [c for c in report["checks"] if c["check"] == "numeric_range" and c["column"] == "age"]
    assert age["violations"] == int((written["age"] > 40).sum()) > 0
    assert len(age["examples"]) == 5 and all(example > 40 for example in age["examples"])
    assert state["validation"]["passed"] is False


def test_overlapping_key_ranges_of_two_batches_break_the_primary_key(bank_model, tmp_path):
    config = api.GenerationConfig.model_validate(_generation(bank_model, tmp_path))
    checker = batch_validation.BatchChecker(config, api.load_model(bank_model))
    validation = BatchValidation(checker)
    key = ("primary_key_unique", "customers", "customer_id")
    passed = {"check": key[0], "table": key[1], "column": key[2], "passed": True, "violations": 0, "examples": []}
    validation.add(BatchChecks([dict(passed)], {"customers": (1, 100, 100)}))
    validation.add(BatchChecks([dict(passed)], {"customers": (101, 200, 100)}))
    validation.add(BatchChecks([dict(passed)], {"customers": (150, 170, 21)}))
    report = validation.report({"customers": 221})
    (check,) = [c for c in report.checks if c["check"] == "primary_key_unique" and c["table"] == "customers"]
    assert check["violations"] == 21 and check["examples"] == [150] and not check["passed"]


def test_row_counts_are_read_from_files_without_holding_them(tmp_path):
    frame = pd.DataFrame({"a": range(1234), "b": ["x,\n y"] * 1234})
    frame.to_csv(tmp_path / "t.csv", index=False)
    pq.write_table(pa.Table.from_pandas(frame), tmp_path / "t.parquet")
    for suffix in ("csv", "parquet"):
        location = api.GenerationConfig.model_validate(
            {"model": "m.hmf", "data_output": [{"name": "t", "location": str(tmp_path / f"t.{suffix}")}]}
        ).data_output[0].location
        assert count_written_rows("t", location, None) == 1234
