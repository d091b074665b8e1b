"""Airflow side of the data connectors: connections -> SQLAlchemy engines and boto3 clients.

`airflow_source_resolver` resolves a `SecretDataSource` through the Airflow connection it names
(`source.connection_id`), so operators pass `DataSources(config.data_sources, resolver=airflow_source_resolver)`
to the engine and no secret ever appears in a config, a log line or an XCom.
"""

from __future__ import annotations

from ..config import SecretDataSource
from .s3 import S3_CONN_TYPES, HazyS3Hook, connection_s3_settings
from .sql import DIALECTS, HazySqlHook, connection_sqlalchemy_url

__all__ = [
    "DIALECTS",
    "HazyS3Hook",
    "HazySqlHook",
    "airflow_source_resolver",
    "connection_s3_settings",
    "connection_sqlalchemy_url",
]


def airflow_source_resolver(source: SecretDataSource) -> str:
    """The URL of a data source from its Airflow connection: an S3 endpoint URL for `aws`-type
    connections, a SQLAlchemy URL for every other type (a secret: mask it before any message)."""
    connection = HazySqlHook.get_connection(source.connection_id)
    if (connection.conn_type or "").lower() in S3_CONN_TYPES:
        hook = HazyS3Hook(source.connection_id)
        hook._connection = connection
        return hook.get_url()
    return connection_sqlalchemy_url(connection).render_as_string(hide_password=False)
