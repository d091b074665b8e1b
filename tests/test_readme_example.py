"""The training config shown in README.md is a valid TrainingConfig."""

import re
from pathlib import Path

import pytest
import yaml

from airflow_provider_hazy.config import TrainingConfig

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
