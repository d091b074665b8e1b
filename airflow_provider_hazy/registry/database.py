"""The registry's database: an engine for its URL, schema upgraded (Alembic) when it is opened.

PostgreSQL is the production database; SQLite (the default, a file under AIRFLOW_HOME) works for one
machine: every SQLite transaction starts with `BEGIN IMMEDIATE`, so writers queue instead of failing
half-way, and foreign keys are switched on. Two processes opening a fresh database at once are
serialised by a PostgreSQL advisory lock (SQLite: the write lock) around the upgrade.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "hazy_registry_alembic_version"
# pg_advisory_xact_lock key of the schema upgrade ("hazyreg" as a number).
UPGRADE_LOCK_KEY = 0x68617A79726567


def alembic_config() -> Config:
    """The Alembic configuration of the shipped migration scripts (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest migration shipped with this package."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: sa.Connection) -> Any:
    """The revision the database is at (None for an empty database)."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def _sqlite_events(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_registry_engine(url: Any) -> sa.Engine:
    """An engine for the registry's URL (a SQLite file's folder is created)."""
    url = sa.make_url(url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        _sqlite_events(engine)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def upgrade(engine: sa.Engine) -> str:
    """Bring the registry's tables to the newest revision (no-op when they are); returns the revision."""
    head = head_revision()
    with engine.connect() as connection:
        if current_revision(connection) == head:
            return head
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": UPGRADE_LOCK_KEY})
        if current_revision(connection) != head:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    return head


def open_engine(url: Any) -> sa.Engine:
    """An engine whose database holds the registry's tables at the newest revision."""
    engine = create_registry_engine(url)
    upgrade(engine)
    return engine
