"""The registry: generators, teams, versions (draft/active, one active per generator), blobs, models.

Revision ID: 0001_registry
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_registry"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hazy_generators",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=True),
    )
    op.create_table(
        "hazy_generator_teams",
        sa.Column(
            "generator_id", sa.Integer, sa.ForeignKey("hazy_generators.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("team", sa.String(200), primary_key=True),
    )
    op.create_table(
        "hazy_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "generator_id", sa.Integer, sa.ForeignKey("hazy_generators.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="draft"),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("generator_id", "number", name="uq_hazy_versions_number"),
        sa.CheckConstraint("status IN ('draft', 'active')", name="ck_hazy_versions_status"),
    )
    op.create_index(
        "uq_hazy_versions_one_active",
        "hazy_versions",
        ["generator_id"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
        sqlite_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "hazy_blobs",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "hazy_models",
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
    op.create_index("ix_hazy_models_sha256", "hazy_models", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_hazy_models_sha256", table_name="hazy_models")
    op.drop_table("hazy_models")
    op.drop_table("hazy_blobs")
    op.drop_index("uq_hazy_versions_one_active", table_name="hazy_versions")
    op.drop_table("hazy_versions")
    op.drop_table("hazy_generator_teams")
    op.drop_table("hazy_generators")
