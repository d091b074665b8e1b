"""What the example DAGs run against by default: the sample database and two SQLite connections.

The connections are defined through Airflow's environment-variable secrets backend, and only when the
variable is absent, so an `AIRFLOW_CONN_HAZY_SAMPLE_SOURCE` (or a connection of that id in a real
secrets backend, which takes precedence over none: set the variable to point elsewhere) wins.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import List

from . import TABLES
from .build import default_directory, sample_database

SOURCE_CONN_ID = "hazy_sample_source"
TARGET_CONN_ID = "hazy_sample_target"
TARGET_FILE = "synthetic_bank.sqlite"
# The registry generator `hazy_db_to_db` registers its model under, and `hazy_generate_from_registry` reads.
SAMPLE_GENERATOR = "sample_bank"
# `hazy_db_to_db` activates its new version when the model's stored scores reach these.
SAMPLE_ACTIVATE_WHEN = {"histogram_similarity": 0.5}


def work_directory() -> Path:
    """Where the example DAGs put models, subsets and reports: `$HAZY_WORK_DIR`, else the sample's folder."""
    return Path(os.environ.get("HAZY_WORK_DIR") or default_directory())


def sample_tables() -> List[str]:
    """The tables the example DAGs model: `$HAZY_SAMPLE_TABLES` (comma-separated), else all four."""
    chosen = os.environ.get("HAZY_SAMPLE_TABLES", "")
    return [name.strip() for name in chosen.split(",") if name.strip()] or list(TABLES)


def ensure_sample_connections() -> None:
    """Build the sample (once) and define `hazy_sample_source` / `hazy_sample_target` unless already set."""
    database = sample_database()
    target = work_directory() / TARGET_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault(
        f"AIRFLOW_CONN_{SOURCE_CONN_ID.upper()}", json.dumps({"conn_type": "sqlite", "host": str(database)})
    )
    os.environ.setdefault(
        f"AIRFLOW_CONN_{TARGET_CONN_ID.upper()}", json.dumps({"conn_type": "sqlite", "host": str(target)})
    )
