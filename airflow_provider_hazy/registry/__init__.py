"""The generator registry (the Hub): generators, versions (draft or active), model files and their metrics.

    from airflow_provider_hazy.registry import Registry
    registry = Registry()                      # connection `hazy_registry`, or a SQLite file under AIRFLOW_HOME
    registry.create_generator("customers", "Retail customers", teams=["analytics"])
    model = registry.upload("customers", "model.hmf")          # a new draft version
    registry.activate("customers", model.version)
    path = registry.fetch("customers", min_scores={"histogram_similarity": 0.8})

See docs/registry.md. Nothing here imports Airflow. Names are imported on first use, so `hazy --help`
does not load SQLAlchemy and Alembic.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AccessDenied": "registry",
    "Caller": "registry",
    "GeneratorInfo": "registry",
    "ModelInfo": "registry",
    "NotFound": "registry",
    "Registry": "registry",
    "RegistryError": "registry",
    "VersionInfo": "registry",
    "ModelRejected": "introspect",
    "introspect": "introspect",
    "FolderStore": "store",
    "S3Store": "store",
    "StoreError": "store",
    "open_store": "store",
    "resolve_model_file": "resolve",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
