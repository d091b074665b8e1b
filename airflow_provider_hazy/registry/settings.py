"""Where the registry lives: its database URL and its model store, resolved without importing Airflow.

Database (connection id `hazy_registry`), first found wins:
1. the URL given to `Registry(url=...)` / `hazy registry --url`;
2. the data source `hazy_registry` through the active resolver: inside an Airflow task or the
   api-server plugin that is the Airflow connection `hazy_registry`; elsewhere the environment variable
   `HAZY_CONN_HAZY_REGISTRY`;
3. `AIRFLOW_CONN_HAZY_REGISTRY` (a URI, or Airflow's JSON form), so the CLI sees Airflow's registry;
4. a SQLite file `$AIRFLOW_HOME/hazy_registry/registry.sqlite` (AIRFLOW_HOME defaults to ~/airflow).

Model store: `Registry(store=...)`, else `HAZY_REGISTRY_STORE` (a folder or `s3://bucket/prefix`), else
`$AIRFLOW_HOME/hazy_registry/models`. An S3 store's client comes from the data source
`hazy_registry_store` (Airflow connection or `HAZY_CONN_HAZY_REGISTRY_STORE`), else boto3's default chain.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

from ..config import SecretDataSource
from ..io.sources import DataSourceError, resolve_source_url

CONN_ID = "hazy_registry"
STORE_CONN_ID = "hazy_registry_store"
STORE_ENV = "HAZY_REGISTRY_STORE"


def airflow_home() -> Path:
    """AIRFLOW_HOME (Airflow's default ~/airflow when unset)."""
    return Path(os.environ.get("AIRFLOW_HOME") or "~/airflow").expanduser()


def default_database_url() -> str:
    """The SQLite file used when no `hazy_registry` connection is defined."""
    return f"sqlite:///{airflow_home() / 'hazy_registry' / 'registry.sqlite'}"


def default_store_location() -> str:
    """The folder used when no store is configured."""
    return str(airflow_home() / "hazy_registry" / "models")


_JSON_DIALECTS = {"postgres": "postgresql+psycopg2", "postgresql": "postgresql+psycopg2", "mysql": "mysql+pymysql"}


def _json_connection_url(value: str) -> Optional[str]:
    """The SQLAlchemy URL of an Airflow connection in its JSON form (conn_type, host, login, ...)."""
    import json

    import sqlalchemy as sa

    try:
        data = json.loads(value)
    except ValueError:
        return None
    extra = data.get("extra") or {}
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except ValueError:
            extra = {}
    if extra.get("sqlalchemy_url"):
        return str(extra["sqlalchemy_url"])
    conn_type = str(data.get("conn_type") or "").lower()
    if conn_type == "sqlite":
        return f"sqlite:///{data.get('host') or data.get('schema')}"
    if conn_type not in _JSON_DIALECTS:
        return None
    url = sa.URL.create(
        _JSON_DIALECTS[conn_type],
        username=data.get("login") or None,
        password=data.get("password") or None,
        host=data.get("host") or None,
        port=int(data["port"]) if data.get("port") else None,
        database=data.get("schema") or None,
    )
    return url.render_as_string(hide_password=False)


def _airflow_conn_uri() -> Optional[str]:
    value = os.environ.get("AIRFLOW_CONN_HAZY_REGISTRY", "").strip()
    if value.startswith("{"):
        return _json_connection_url(value)
    if "://" not in value:
        return None
    if value.startswith("postgres://"):
        value = "postgresql+psycopg2://" + value[len("postgres://") :]
    return value


def _resolved(source_id: str) -> Optional[str]:
    try:
        return resolve_source_url(SecretDataSource(id=source_id))
    except DataSourceError:
        return None


def database_url(url: Optional[Any] = None) -> Any:
    """The registry database's URL (see the module docstring)."""
    return url or _resolved(CONN_ID) or _airflow_conn_uri() or default_database_url()


def store_location(store: Optional[str] = None) -> str:
    """The model store's folder or S3 prefix."""
    return str(store or os.environ.get(STORE_ENV) or default_store_location())


def store_s3_client() -> Any:
    """A boto3 client for an S3 store: the `hazy_registry_store` data source's, else the default chain."""
    from ..io.s3 import s3_client_from_url

    return s3_client_from_url(_resolved(STORE_CONN_ID))
