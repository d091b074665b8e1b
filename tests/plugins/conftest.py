"""The plugin tests' fixtures live in tests/registry_fixtures.py (shared with tests/registry)."""

from registry_fixtures import registry_url, sample_models  # noqa: F401
