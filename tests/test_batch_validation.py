"""Validation as the rows are written (`pipeline.batch_validation`): batches' checks merged, key ranges across
batches, row counts read back without holding the output. (Not yet wired into generation, which validates its
write-audit-publish staging by reading it back.)"""

from __future__ import annotations

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
