"""Alembic environment of the registry: always runs on the connection `database.upgrade` hands over."""

from __future__ import annotations

from alembic import context

from airflow_provider_hazy.registry.tables import metadata

VERSION_TABLE = "hazy_registry_alembic_version"

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
