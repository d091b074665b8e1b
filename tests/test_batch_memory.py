"""The default batch size from HAZY_BATCH_MEMORY (`pipeline.batch_memory`): parsing, the per-row estimate, and
a run with no batch_magnitude cut into batches that fit the budget, the rows those of the configured size."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from airflow_provider_hazy import api
from airflow_provider_hazy.config import GenerationConfig, TrainingConfig
from airflow_provider_hazy.pipeline import batch_memory
from airflow_provider_hazy.pipeline.model import load_model

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", 512 * 1024**2), ("512MB", 512 * 1024**2), ("2gb", 2 * 1024**3), ("300M", 300 * 1024**2), ("4096", 4096)],
)
def test_batch_memory_reads_sizes(monkeypatch, text, expected):
    monkeypatch.setenv("HAZY_BATCH_MEMORY", text)
    assert batch_memory.batch_memory() == expected


@pytest.mark.parametrize("text", ["lots", "-5MB", "0", "12 parsecs"])
def test_a_bad_batch_memory_is_named(monkeypatch, text):
    monkeypatch.setenv("HAZY_BATCH_MEMORY", text)
    with pytest.raises(ValueError, match="HAZY_BATCH_MEMORY"):
        batch_memory.batch_memory()


def test_default_batch_rows_divide_the_budget_over_every_table():
    sizes = {"parent": 100, "child": 50}
    assert batch_memory.default_batch_rows(sizes, {"parent": 1.0, "child": 4.0}, 30_000) == 100
    assert batch_memory.default_batch_rows(sizes, {"parent": 1.0, "child": 4.0}, 10) == 1


@pytest.fixture(scope="module")
def customers_model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("batch_memory")
    config = TrainingConfig.from_file(EXAMPLES / "training.yaml").model_dump(mode="json")
    config.update(model_output=str(folder / "customers.hmf"), evaluation=None)
    config["data_input"] = [{"name": "customers", "location": str(EXAMPLES / "customers.csv")}]
    return api.train(TrainingConfig.model_validate(config))


def _generation(model: Path, path: Path) -> GenerationConfig:
    return GenerationConfig.model_validate(
        {
            "model": str(model),
            "random_state": 3,
            "generate_params": {"magnitude": 2.0},
            "data_output": [{"name": "customers", "location": {"path": str(path)}}],
            "validation": None,
        }
    )


def test_a_run_without_batch_magnitude_is_cut_to_fit_the_budget(customers_model, tmp_path, monkeypatch):
    model = load_model(customers_model)
    table = model.tables["customers"]
    per_row = batch_memory.row_bytes(
        table.encoding.table, len(table.encoding.domain_sizes), table.encoding.max_string_lengths
    )
    monkeypatch.setenv("HAZY_BATCH_MEMORY", str(per_row * 1500))
    state = api.generate(_generation(customers_model, tmp_path / "small.csv"))
    batches = state["tables"]["customers"]["batches"]
    assert len(batches) == 7  # 10,000 rows in batches of 1,500
    assert max(batch["rows"] for batch in batches) * per_row <= per_row * 1500
    assert len(pd.read_csv(tmp_path / "small.csv")) == 10_000

    monkeypatch.delenv("HAZY_BATCH_MEMORY")
    state = api.generate(_generation(customers_model, tmp_path / "default.csv"))
    assert len(state["tables"]["customers"]["batches"]) == 1  # 10,000 rows fit in 512 MB
