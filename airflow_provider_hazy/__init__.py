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
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_hazy.hooks.sql.HazySqlHook",
                "hook-name": "Hazy SQL (SQLAlchemy)",
                "connection-type": "hazy_sql",
                "conn-fields": {
                    "sqlalchemy_scheme": {
                        "label": "SQLAlchemy dialect+driver",
                        "description": "e.g. postgresql+psycopg2, mysql+pymysql, mssql+pymssql, oracle+oracledb",
                        "schema": {"type": ["string", "null"]},
                    },
                    "sqlalchemy_url": {
                        "label": "SQLAlchemy URL",
                        "description": "Overrides the fields above; login and password fill in what it leaves out",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": [],
                    "relabeling": {"schema": "Database"},
                    "placeholders": {"host": "db.example.com", "port": "5432", "schema": "analytics"},
                },
            },
            {
                "hook-class-name": "airflow_provider_hazy.hooks.s3.HazyS3Hook",
                "hook-name": "Hazy S3 (boto3)",
                "connection-type": "hazy_s3",
                "conn-fields": {
                    "region_name": {"label": "Region", "schema": {"type": ["string", "null"]}},
                    "endpoint_url": {
                        "label": "Endpoint URL",
                        "description": "For S3-compatible stores, e.g. http://minio:9000; empty for AWS",
                        "schema": {"type": ["string", "null"]},
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["host", "port", "schema"],
                    "relabeling": {"login": "AWS Access Key ID", "password": "AWS Secret Access Key"},
                    "placeholders": {},
                },
            },
        ],
    }
