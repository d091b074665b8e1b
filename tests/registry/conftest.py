"""The registry tests' fixtures live in tests/registry_fixtures.py (shared with tests/plugins)."""

from registry_fixtures import registry, registry_url, s3_endpoint, s3_store_client, sample_models  # noqa: F401
