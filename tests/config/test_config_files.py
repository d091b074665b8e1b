"""Configs round-trip through JSON and YAML files (format from the extension) to equal objects."""

import json
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from airflow_provider_hazy.config import GenerationConfig, SecretDataSourceIO, TrainingConfig, read_config_file

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".yml"])
def test_training_config_round_trips_through_a_file(tmp_path, rich_training_config, suffix):
    path = rich_training_config.to_file(tmp_path / f"training{suffix}")
    assert TrainingConfig.from_file(path) == rich_training_config


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".yml"])
def test_generation_config_round_trips_through_a_file(tmp_path, rich_generation_config, suffix):
    path = rich_generation_config.to_file(tmp_path / f"generation{suffix}")
    assert GenerationConfig.from_file(path) == rich_generation_config


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".yml"])
def test_a_round_trip_keeps_the_created_at_datetime(tmp_path, rich_training_config, suffix):
    path = rich_training_config.to_file(tmp_path / f"training{suffix}")
    assert TrainingConfig.from_file(path).created_at == rich_training_config.created_at


def test_to_file_returns_the_path_it_wrote(tmp_path, rich_generation_config):
    path = tmp_path / "generation.json"
    assert rich_generation_config.to_file(path) == path
    assert path.is_file()


def test_a_json_file_holds_json(tmp_path, rich_training_config):
    text = rich_training_config.to_file(tmp_path / "training.json").read_text(encoding="utf-8")
    assert json.loads(text)["data_schema"]["tables"][0]["name"] == "countries"


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".YAML"])
def test_a_yaml_file_holds_block_yaml_in_field_order(tmp_path, rich_training_config, suffix):
    text = rich_training_config.to_file(tmp_path / f"training{suffix}").read_text(encoding="utf-8")
    assert not text.lstrip().startswith("{")
    assert list(yaml.safe_load(text)) == list(TrainingConfig.model_fields)


def test_a_file_holds_enum_values_as_plain_strings(tmp_path, rich_training_config):
    data = json.loads(rich_training_config.to_file(tmp_path / "training.json").read_text(encoding="utf-8"))
    generator = data["model_parameters"]["generator"]
    assert generator["bin_strategy_default"] == "quantile"
    assert generator["default_strategy"] == "marginal"
    assert data["evaluation"]["metrics"][0]["metric_type"] == "histogram_similarity"


def test_a_hand_written_yaml_file_with_unquoted_dates_loads(tmp_path):
    path = tmp_path / "training.yml"
    path.write_text(
        "created_at: 2024-03-01 09:30:00\n"
        "data_schema:\n"
        "  tables:\n"
        "    - name: people\n"
        "      type: tabular\n"
        "      columns:\n"
        "        - {name: dob, type: date}\n"
        "        - {name: age, type: age, dob_column: dob, reference_date: 2024-01-01}\n"
        "data_input:\n"
        "  - {name: people, location: people.csv}\n",
        encoding="utf-8",
    )
    config = TrainingConfig.from_file(path)
    assert config.created_at.isoformat() == "2024-03-01T09:30:00"
    assert config.data_schema.table("people").column("age").reference_date.isoformat() == "2024-01-01"


def test_from_file_reports_an_invalid_config_as_a_validation_error(tmp_path):
    path = tmp_path / "generation.json"
    path.write_text(json.dumps({"data_output": [], "random_seed": 1}), encoding="utf-8")
    with pytest.raises(ValidationError) as caught:
        GenerationConfig.from_file(path)
    assert caught.value.errors()[0]["loc"] == ("random_seed",)


@pytest.mark.parametrize(("name", "text"), [("c.yaml", "- a\n- b\n"), ("c.json", "[1, 2]"), ("c.yml", "just text")])
def test_a_file_that_is_not_an_object_is_rejected_naming_the_file(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=f"{name}: a configuration file must hold an object"):
        read_config_file(path)


@pytest.mark.parametrize(("name", "text"), [("c.yaml", "a: [unclosed\n"), ("c.json", "{'a': 1}")])
def test_a_file_that_does_not_parse_is_rejected_naming_the_file(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=f"{name}: not valid {'YAML' if name.endswith('.yaml') else 'JSON'}"):
        read_config_file(path)


def test_to_file_never_writes_an_inline_secret(tmp_path, rich_generation_config):
    secret = SecretDataSourceIO(id="inline", connection_url="postgresql://app:hunter2@db/prod")
    config = rich_generation_config.model_copy(update={"data_sources": [*rich_generation_config.data_sources, secret]})
    for suffix in (".json", ".yaml"):
        assert "hunter2" not in config.to_file(tmp_path / f"generation{suffix}").read_text(encoding="utf-8")


@pytest.mark.parametrize(("name", "cls"), [("training.yaml", TrainingConfig), ("generation.yaml", GenerationConfig)])
def test_the_bundled_example_configs_are_valid(name, cls):
    assert isinstance(cls.from_file(EXAMPLES / name), cls)
