"""api.train and api.generate end to end on local files: the example table, batches, determinism."""

import json
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from airflow_provider_hazy import api
from airflow_provider_hazy.config import GenerationConfig, TrainingConfig

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A working directory holding the example table, as the README's command sees it."""
    (tmp_path / "examples").mkdir()
    shutil.copy(EXAMPLES / "customers.csv", tmp_path / "examples" / "customers.csv")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _training_config(**changes) -> TrainingConfig:
    config = TrainingConfig.from_file(EXAMPLES / "training.yaml")
    return config.model_copy(update=changes)


def _generation_config(**changes) -> GenerationConfig:
    config = GenerationConfig.from_file(EXAMPLES / "generation.yaml")
    return config.model_copy(update=changes)


def test_example_configs_train_and_generate(workdir):
    model_path = api.train(_training_config())
    assert model_path == Path("out/customers.hmf")
    state = api.generate(_generation_config())
    synthetic = pd.read_csv("out/synthetic_customers.csv")
    source = pd.read_csv("examples/customers.csv")
    assert len(synthetic) == 2 * len(source) == state["tables"]["customers"]["rows"]
    assert list(synthetic.columns) == list(source.columns)
    assert synthetic["customer_id"].is_unique
    assert [b["status"] for b in state["tables"]["customers"]["batches"]] == ["written"] * 4
    assert json.loads(Path("out/generation_state.json").read_text())["seed"] == 42


def test_ledger_total_is_the_configured_epsilon(workdir):
    api.train(_training_config())
    info = api.inspect_model("out/customers.hmf")
    assert info["privacy"]["total_epsilon"] == pytest.approx(1.0)
    assert info["privacy"]["processing_private"] is False


def test_processing_epsilon_is_added_to_the_ledger(workdir):
    config = _training_config()
    generator = config.model_parameters.generator.model_copy(update={"processing_epsilon": 0.5})
    config.model_parameters = config.model_parameters.model_copy(update={"generator": generator})
    api.train(config)
    info = api.inspect_model("out/customers.hmf")
    assert info["privacy"]["total_epsilon"] == pytest.approx(1.5)
    assert info["privacy"]["processing_private"] is True


def test_model_never_holds_a_source_name(workdir):
    api.train(_training_config())
    with zipfile.ZipFile("out/customers.hmf") as archive:
        text = archive.read("manifest.json").decode()
    assert "Customer 17" not in text


def test_same_random_state_gives_identical_model_and_output_bytes(workdir, reproducible_noise):
    first_model = api.train(_training_config()).read_bytes()
    api.generate(_generation_config())
    first_output = Path("out/synthetic_customers.csv").read_bytes()
    second_model = api.train(_training_config()).read_bytes()
    api.generate(_generation_config())
    assert second_model == first_model
    assert Path("out/synthetic_customers.csv").read_bytes() == first_output


def test_another_random_state_gives_other_data(workdir):
    api.train(_training_config())
    api.generate(_generation_config())
    first = Path("out/synthetic_customers.csv").read_bytes()
    api.generate(_generation_config(random_state=43))
    assert Path("out/synthetic_customers.csv").read_bytes() != first


def test_batched_output_equals_unbatched_rows_count_and_parquet_works(workdir):
    api.train(_training_config())
    config = _generation_config()
    output = config.data_output[0].model_copy(update={"location": "out/synthetic.parquet"})
    state = api.generate(config.model_copy(update={"data_output": [output]}))
    assert len(pd.read_parquet("out/synthetic.parquet")) == state["tables"]["customers"]["rows"] == 10000


def test_unknown_output_table_is_named(workdir):
    api.train(_training_config())
    config = _generation_config()
    output = config.data_output[0].model_copy(update={"name": "orders"})
    with pytest.raises(ValueError, match="table 'orders' is not in the model"):
        api.generate(config.model_copy(update={"data_output": [output]}))


def _unwritable_output(config: GenerationConfig, monkeypatch, **changes) -> GenerationConfig:
    """The config writing customers into a SQLite schema that does not exist: every batch fails to write."""
    from airflow_provider_hazy.config import DatabaseWriteTableConfig, SecretDataSource

    monkeypatch.setenv("HAZY_CONN_TARGET", f"sqlite:///{Path('out/target.sqlite').resolve()}")
    location = DatabaseWriteTableConfig(source_id="target", schema_name="missing", table_name="customers", **changes)
    output = config.data_output[0].model_copy(update={"location": location})
    sources = [*config.data_sources, SecretDataSource(id="target")]
    return config.model_copy(update={"data_output": [output], "data_sources": sources})


def test_failed_batch_goes_to_the_fail_safe_path_of_its_run(workdir, monkeypatch):
    api.train(_training_config())
    config = _unwritable_output(_generation_config(), monkeypatch, fail_safe_path="out/fail_safe")
    state = api.generate(config)
    batches = state["tables"]["customers"]["batches"]
    assert [b["status"] for b in batches] == ["fail_safe"] * 4
    assert all("unknown database missing" in b["error"] for b in batches)
    assert all(Path(b["destination"]).parent == Path("out/fail_safe") / state["run_id"] for b in batches)
    assert sum(len(pd.read_csv(b["destination"])) for b in batches) == 10000
    assert state["published"] is False
    again = api.generate(config)  # the next run's fail-safe files go to a folder of their own
    assert again["run_id"] != state["run_id"]
    assert sorted(p.name for p in Path("out/fail_safe").iterdir()) == sorted([state["run_id"], again["run_id"]])


def test_failed_batch_without_fail_safe_path_stops_the_run_and_says_what_was_written(workdir, monkeypatch):
    api.train(_training_config())
    config = _unwritable_output(_generation_config(), monkeypatch)
    with pytest.raises(api.GenerationError, match="batches written") as raised:
        api.generate(config)
    assert raised.value.state["tables"]["customers"]["batches"][0]["status"] == "failed"
