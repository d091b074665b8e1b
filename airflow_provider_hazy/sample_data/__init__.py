"""The bundled sample: a small multi-table bank database built from code, and the configs that model it.

`sample_database()` builds (once) and returns the SQLite file; `training_config()` / `generation_config()`
return the bundled YAML configs as dicts, narrowed to the chosen tables and with the paths and knobs the
example DAGs set.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from ..config import read_config_file
from .build import FILE_NAME, default_directory, sample_database, sample_frames, write_sample

HERE = Path(__file__).parent
TABLES = ("branches", "customers", "accounts", "transactions")  # parents first

__all__ = [
    "FILE_NAME",
    "TABLES",
    "default_directory",
    "generation_config",
    "sample_database",
    "sample_frames",
    "training_config",
    "write_sample",
]


def _tables(tables: Optional[Sequence[str]]) -> list:
    chosen = list(TABLES if tables is None else tables)
    unknown = [name for name in chosen if name not in TABLES]
    if unknown:
        raise ValueError(f"tables: {unknown} are not in the sample (tables: {list(TABLES)})")
    return chosen


def training_config(
    tables: Optional[Sequence[str]] = None,
    *,
    model_output: Any = None,
    epsilon: Any = None,
    random_state: Any = None,
) -> Dict[str, Any]:
    """The sample training config (dict) for `tables` (default: all); values may be Jinja templates."""
    config = copy.deepcopy(read_config_file(HERE / "training.yaml"))
    chosen = _tables(tables)
    config["data_schema"]["tables"] = [t for t in config["data_schema"]["tables"] if t["name"] in chosen]
    config["data_input"] = [item for item in config["data_input"] if item["name"] in chosen]
    if model_output is not None:
        config["model_output"] = model_output
    if epsilon is not None:
        config["model_parameters"]["generator"]["epsilon"] = epsilon
    if random_state is not None:
        config["random_state"] = random_state
    return config


def generation_config(
    tables: Optional[Sequence[str]] = None,
    *,
    model: Any = None,
    magnitude: Any = None,
    batch_magnitude: Any = None,
    random_state: Any = None,
    if_exists: str = "replace",
) -> Dict[str, Any]:
    """The sample generation config (dict) writing `tables` (default: all) to the data source `target`."""
    config = copy.deepcopy(read_config_file(HERE / "generation.yaml"))
    chosen = _tables(tables)
    config["data_output"] = [item for item in config["data_output"] if item["name"] in chosen]
    for item in config["data_output"]:
        item["location"]["if_exists"] = if_exists
    for key, value in (("model", model), ("random_state", random_state)):
        if value is not None:
            config[key] = value
    if magnitude is not None:
        config["generate_params"]["magnitude"] = magnitude
    if batch_magnitude is not None:
        config["generate_params"]["batch_magnitude"] = batch_magnitude
    return config
