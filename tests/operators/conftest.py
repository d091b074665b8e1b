"""The operator tests share the Airflow environment and service fixtures of tests/dags/conftest.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("hazy_dag_fixtures", Path(__file__).parents[1] / "dags" / "conftest.py")
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)

airflow_db = _fixtures.airflow_db
postgres_sample_schema = _fixtures.postgres_sample_schema
s3_endpoint = _fixtures.s3_endpoint
