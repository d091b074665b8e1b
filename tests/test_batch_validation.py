"""Validation as the rows are written (`pipeline.batch_validation`): each batch checked in memory, its checks
merged, key ranges across batches, only row counts read back; the report equals the read-back validation of
the same output, check for check. (PostgreSQL, S3 and mapped runs: tests/io/test_validation_as_written.py.)"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_hazy import api, sample_data
from airflow_provider_hazy.io.locations import count_output_rows, part_location
from airflow_provider_hazy.outcome import EXIT_VALIDATION, generation_outcome
from airflow_provider_hazy.pipeline import batch_validation
from airflow_provider_hazy.pipeline.batch_validation import BatchChecks, BatchValidation


def _summary(report):
    return [(c["check"], c["table"], c["column"], c["passed"], c["violations"]) for c in report["checks"]]


@pytest.fixture(scope="module")
def bank_model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bank_validation")
    config = sample_data.training_config(model_output=str(folder / "bank.hmf"))
    config["data_sources"] = [{"id": "source", "connection_url": f"sqlite:///{sample_data.sample_database(folder)}"}]
    return api.train(config)


def narrowed_model(model: Path, folder: Path, table: str, column: str, **bounds) -> Path:
    """A copy of `model` whose validation metadata of `table.column` is changed (`max=40`, `categories=[...]`):
    the same rows are generated, and the values outside the new bounds are what a broken batch would hold."""
    loaded = api.load_model(model)
    loaded.manifest["tables"][table]["validation_metadata"]["columns"][column].update(bounds)
    return api.save_model(loaded, folder / f"narrowed_{table}_{column}.hmf")


def _generation(model: Path, folder: Path, suffix: str = "csv") -> dict:
    config = sample_data.generation_config(model=str(model), batch_magnitude=0.25)
    for item in config["data_output"]:
        item["location"] = {"path": str(folder / f"{item['name']}.{suffix}"), "if_exists": "replace"}
    config["generation_state_path"] = str(folder / "state.json")
    return config


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_batch_report_equals_the_read_back_report(bank_model, tmp_path, suffix):
    config = _generation(bank_model, tmp_path, suffix)
    state = api.generate(config)
    assert len({b["index"] for t in state["tables"].values() for b in t["batches"]}) == 4
    in_memory = json.loads((tmp_path / "state.validation.json").read_text())
    assert in_memory["checked"] == "in memory, batch by batch (4 batches); row counts read back"
    assert state["published"] == {name: "created" for name in sample_data.TABLES}
    read_back = api.validate(config)  # the published output, read back whole
    assert read_back["checked"] == "read back whole"
    assert in_memory["passed"] and read_back["passed"]
    assert _summary(in_memory) == _summary(read_back)
    assert state["validation"]["n_checks"] == read_back["n_checks"] > 30


def test_violations_found_in_batches_are_summed_and_nothing_is_published(bank_model, tmp_path):
    good = api.generate(_generation(bank_model, tmp_path / "good"))
    written = pd.read_csv(tmp_path / "good" / "customers.csv")
    narrowed = narrowed_model(bank_model, tmp_path, "customers", "age", max=40)  # ages above 40 now break it
    state = api.generate(_generation(narrowed, tmp_path / "narrowed"))
    report = json.loads((tmp_path / "narrowed" / "state.validation.json").read_text())
    assert report["checked"].startswith("in memory, batch by batch")
    (age,) = [c for c in report["checks"] if c["check"] == "numeric_range" and c["column"] == "age"]
    assert age["violations"] == int((written["age"] > 40).sum()) > 0  # the same rows, summed over 4 batches
    assert len(age["examples"]) == 5 and all(example > 40 for example in age["examples"])
    assert good["validation"]["passed"] and state["validation"]["passed"] is False
    assert generation_outcome(state).exit_code == EXIT_VALIDATION == 4
    assert state["published"] is False and not any((tmp_path / "narrowed").glob("*.csv"))


def test_overlapping_key_ranges_of_two_batches_break_the_primary_key(bank_model, tmp_path):
    config = api.GenerationConfig.model_validate(_generation(bank_model, tmp_path))
    checker = batch_validation.BatchChecker(config, api.load_model(bank_model))
    validation = BatchValidation(checker)
    key = ("primary_key_unique", "customers", "customer_id")
    passed = {"check": key[0], "table": key[1], "column": key[2], "passed": True, "violations": 0, "examples": []}
    validation.add(BatchChecks([dict(passed)], {"customers": (1, 100, 100)}))
    validation.add(BatchChecks([dict(passed)], {"customers": (101, 200, 100)}))
    validation.add(BatchChecks.from_json(BatchChecks([dict(passed)], {"customers": (150, 170, 21)}).to_json()))
    report = validation.report({"customers": 221})
    (check,) = [c for c in report.checks if c["check"] == "primary_key_unique" and c["table"] == "customers"]
    assert check["violations"] == 21 and check["examples"] == [150] and not check["passed"]
    assert not report.passed


def test_the_sample_keys_are_unique_across_batches_by_construction(bank_model, tmp_path):
    config = api.GenerationConfig.model_validate(_generation(bank_model, tmp_path))
    assert batch_validation.BatchChecker(config, api.load_model(bank_model)).read_back_reason() is None


def test_a_key_rewritten_after_generation_is_read_back_and_its_duplicates_across_batches_found(bank_model, tmp_path):
    config = _generation(bank_model, tmp_path)
    rewrite = {"action": "sql_expression", "column": "customer_id", "expression": "(customer_id - 1) % 150 + 1"}
    config["generate_params"]["post_generation"] = {"tables": [{"table": "customers", "steps": [rewrite]}]}
    checker = batch_validation.BatchChecker(api.GenerationConfig.model_validate(config), api.load_model(bank_model))
    assert checker.read_back_reason() == (
        "table 'customers': a post-generation step rewrites its primary key ['customer_id']"
    )
    state = api.generate(config)  # 150 customers a batch: unique within each, repeated across batches
    report = json.loads((tmp_path / "state.validation.json").read_text())
    assert report["checked"] == "read back whole"
    (key,) = [c for c in report["checks"] if c["check"] == "primary_key_unique" and c["table"] == "customers"]
    assert key["violations"] == 450 and state["published"] is False


def test_row_counts_are_read_from_files_and_parts_without_holding_them(tmp_path):
    frame = pd.DataFrame({"a": range(1234), "b": ["x,\n y", None] * 617})
    frame.to_csv(tmp_path / "t.csv", index=False)
    with gzip.open(tmp_path / "t.csv.gz", "wt") as handle:  # two gzip members, as batches appended make
        handle.write(frame.iloc[:1000].to_csv(index=False))
    with gzip.open(tmp_path / "t.csv.gz", "at") as handle:
        handle.write(frame.iloc[1000:].to_csv(index=False, header=False))
    pq.write_table(pa.Table.from_pandas(frame), tmp_path / "t.parquet")
    (tmp_path / "p").mkdir()
    for index, rows in enumerate((frame.iloc[:1000], frame.iloc[1000:])):  # a mapped run's parts
        pq.write_table(pa.Table.from_pandas(rows), part_location(str(tmp_path / "p.parquet"), index).path)
    for name in ("t.csv", "t.csv.gz", "t.parquet", "p.parquet"):
        location = (
            api.GenerationConfig.model_validate(
                {"model": "m.hmf", "data_output": [{"name": "t", "location": str(tmp_path / name)}]}
            )
            .data_output[0]
            .location
        )
        assert count_output_rows("t", location) == 1234 == len(pd.read_csv(tmp_path / "t.csv")), name
    with pytest.raises(FileNotFoundError, match="table 't'"):
        count_output_rows("t", str(tmp_path / "missing.csv"))
