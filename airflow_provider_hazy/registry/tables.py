"""The registry's tables (SQLAlchemy 2 Core): generators, their teams, versions, model files and stored blobs.

Every table is prefixed `hazy_` so the registry can share a database (even Airflow's metadata database)
without clashing. The migration scripts in `migrations/versions/` create exactly these tables; a change here
needs a new migration (`alembic revision` against `migrations/`).
"""

from __future__ import annotations

import sqlalchemy as sa

DRAFT = "draft"
ACTIVE = "active"
STATUSES = (DRAFT, ACTIVE)

metadata = sa.MetaData()

generators = sa.Table(
    "hazy_generators",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=True),
)

generator_teams = sa.Table(
    "hazy_generator_teams",
    metadata,
    sa.Column("generator_id", sa.Integer, sa.ForeignKey("hazy_generators.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("team", sa.String(200), primary_key=True),
)

versions = sa.Table(
    "hazy_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("generator_id", sa.Integer, sa.ForeignKey("hazy_generators.id", ondelete="CASCADE"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default=DRAFT),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=True),
    sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("generator_id", "number", name="uq_hazy_versions_number"),
    sa.CheckConstraint("status IN ('draft', 'active')", name="ck_hazy_versions_status"),
)
# At most one active version per generator, enforced by the database itself (a partial unique index).
sa.Index(
    "uq_hazy_versions_one_active",
    versions.c.generator_id,
    unique=True,
    postgresql_where=versions.c.status == ACTIVE,
    sqlite_where=versions.c.status == ACTIVE,
)

blobs = sa.Table(
    "hazy_blobs",
    metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

models = sa.Table(
    "hazy_models",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("version_id", sa.Integer, sa.ForeignKey("hazy_versions.id", ondelete="CASCADE"), nullable=False),
    sa.Column("sha256", sa.String(64), sa.ForeignKey("hazy_blobs.sha256"), nullable=False),
    sa.Column("filename", sa.String(500), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("synthesiser", sa.String(100), nullable=False),
    sa.Column("epsilon", sa.Float, nullable=False),
    sa.Column("delta", sa.Float, nullable=False, server_default="0"),
    sa.Column("processing_private", sa.Boolean, nullable=False),
    sa.Column("summary", sa.JSON, nullable=False),
    sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("uploaded_by", sa.String(200), nullable=True),
    sa.UniqueConstraint("version_id", "synthesiser", "epsilon", name="uq_hazy_models_address"),
)
sa.Index("ix_hazy_models_sha256", models.c.sha256)
