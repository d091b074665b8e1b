"""The configs shown in README.md are valid: the minimal training config and the data-location examples."""

import re
from pathlib import Path

import pytest
import yaml

from airflow_provider_hazy.config import (
    DatabaseReadTableConfig,
    DatabaseWriteTableConfig,
    GenerationConfig,
    PathReadTableConfig,
    TrainingConfig,
)
from airflow_provider_hazy.io.locations import location_kind

README = Path(__file__).resolve().parents[1] / "README.md"
MARKER = "<!-- example: training-config -->"


def readme_yaml_block_after(marker: str) -> str:
    """The fenced ```yaml block that directly follows the line holding `marker` (test fails if absent)."""
    text = README.read_text(encoding="utf-8") if README.is_file() else ""
    if marker not in text:
        pytest.fail(f"{README} has no line with {marker!r} followed by a ```yaml block")
    after = text.split(marker, 1)[1]
    match = re.match(r"[^\n]*\n\s*```ya?ml[^\n]*\n(.*?)\n```", after, re.DOTALL)
    if match is None:
        pytest.fail(f"{README}: the line with {marker!r} is not directly followed by a ```yaml block")
    return match.group(1)


def test_the_readme_training_config_example_is_a_valid_training_config():
    config = TrainingConfig.model_validate(yaml.safe_load(readme_yaml_block_after(MARKER)))
    assert config.data_schema.table_names


def test_the_readme_data_locations_example_names_each_kind_of_location():
    config = TrainingConfig.model_validate(yaml.safe_load(readme_yaml_block_after("<!-- example: data-locations -->")))
    locations = {item.name: item.location for item in config.data_input}
    assert {name: location_kind(location) for name, location in locations.items()} == {
        "customers": "sql",
        "products": "s3",
        "stores": "file",
    }
    assert isinstance(locations["customers"], DatabaseReadTableConfig)
    assert isinstance(locations["products"], PathReadTableConfig)
    sources = {source.id: source for source in config.data_sources}
    assert sources["warehouse"].connection_id == "prod_postgres"
    assert sources["warehouse"].env_var == "HAZY_CONN_WAREHOUSE"
    assert sources["lake"].env_var == "HAZY_CONN_LAKE"


def test_the_readme_data_output_example_is_a_valid_generation_config():
    config = GenerationConfig.model_validate(yaml.safe_load(readme_yaml_block_after("<!-- example: data-output -->")))
    locations = {item.name: item.location for item in config.data_output}
    assert isinstance(locations["customers"], DatabaseWriteTableConfig)
    assert locations["customers"].if_exists.value == "replace"
    assert locations["customers"].fail_safe_path == "out/failed"
    assert [location_kind(locations[name]) for name in ("customers", "products", "stores")] == ["sql", "s3", "file"]
