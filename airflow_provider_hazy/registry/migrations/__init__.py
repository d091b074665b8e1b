"""Alembic migrations of the registry's tables (run by `registry.database.open_engine`, upgrade on open)."""
