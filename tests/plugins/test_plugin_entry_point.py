"""The `airflow.plugins` entry point of setup.cfg names the registry plugin Airflow loads (what an installed
package registers: CI installs it with `pip install -e .`)."""

from __future__ import annotations

import configparser
from importlib.metadata import EntryPoint
from pathlib import Path

SETUP_CFG = Path(__file__).resolve().parents[2] / "setup.cfg"


def test_the_airflow_plugins_entry_point_loads_the_registry_plugin():
    config = configparser.ConfigParser()
    config.read(SETUP_CFG)
    lines = [line.strip() for line in config["options.entry_points"]["airflow.plugins"].splitlines() if line.strip()]
    name, value = (part.strip() for part in lines[0].split("="))
    plugin = EntryPoint(name=name, value=value, group="airflow.plugins").load()
    assert plugin.name == name == "hazy_registry"
    assert plugin.fastapi_apps[0]["url_prefix"] == "/hazy-registry"
    view = plugin.external_views[0]
    assert (view["name"], view["href"], view["destination"]) == (
        "Synthetic generators",
        "/hazy-registry/generators",
        "nav",
    )
