"""airflow-provider-hazy: differentially private synthetic copies of production data, on a schedule."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

PACKAGE_NAME = "airflow-provider-hazy"
DESCRIPTION = (
    "Replace production data with a statistically faithful, differentially private synthetic copy "
    "(PrivBayes), database to database, on a schedule."
)


def get_provider_info() -> dict[str, Any]:
    """Provider metadata read by Airflow's providers manager (`apache_airflow_provider` entry point)."""
    return {
        "package-name": PACKAGE_NAME,
        "name": "Hazy",
        "description": DESCRIPTION,
        "versions": [__version__],
    }
