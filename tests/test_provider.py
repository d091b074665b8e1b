"""Provider registration: `get_provider_info` satisfies Airflow's schema and is found through the
`apache_airflow_provider` entry point, so `airflow providers list` shows the package."""

import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

import airflow_provider_hazy
from airflow_provider_hazy import get_provider_info

DISTRIBUTION = "airflow-provider-hazy"


def airflow_provider_info_schema() -> dict:
    """Airflow's `provider_info.schema.json`, found in the installed package without importing Airflow."""
    spec = importlib.util.find_spec("airflow")
    assert spec is not None and spec.origin is not None, "apache-airflow is not installed"
    path = Path(spec.origin).parent / "provider_info.schema.json"
    return json.loads(path.read_text(encoding="utf-8"))


def test_provider_info_names_the_package():
    assert get_provider_info()["package-name"] == DISTRIBUTION


@pytest.mark.parametrize("key", ["name", "description"])
def test_provider_info_has_a_non_empty(key):
    value = get_provider_info()[key]
    assert isinstance(value, str) and value.strip()


def test_provider_info_lists_the_package_version():
    assert get_provider_info()["versions"] == [airflow_provider_hazy.__version__]


def test_provider_info_validates_against_airflows_schema():
    schema = airflow_provider_info_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class(schema).validate(get_provider_info())


def test_the_installed_distribution_has_the_package_version():
    assert importlib.metadata.version(DISTRIBUTION) == airflow_provider_hazy.__version__


def test_the_apache_airflow_provider_entry_point_resolves_to_get_provider_info():
    entry_points = importlib.metadata.distribution(DISTRIBUTION).entry_points
    (entry_point,) = entry_points.select(group="apache_airflow_provider")
    assert entry_point.load() is get_provider_info


def test_the_hazy_console_script_entry_point_resolves_to_the_cli():
    from airflow_provider_hazy.cli import main

    entry_points = importlib.metadata.distribution(DISTRIBUTION).entry_points
    (entry_point,) = entry_points.select(group="console_scripts", name="hazy")
    assert entry_point.load() is main


@pytest.mark.slow
def test_airflow_providers_list_shows_the_package_and_its_version(tmp_path):
    airflow = Path(sys.executable).parent / "airflow"
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    result = subprocess.run(
        [str(airflow), "providers", "list", "--output", "plain"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    line = next((line for line in result.stdout.splitlines() if DISTRIBUTION in line), None)
    assert line is not None, result.stdout
    assert airflow_provider_hazy.__version__ in line.split()
