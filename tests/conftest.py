"""The test suite's root. pytest puts this folder on sys.path when it imports this file, so every test
module, in any subfolder, imports the shared helpers `service_checks` and `multitable_data` by name."""

import pytest

from airflow_provider_hazy.core.noise import REPRODUCIBLE_NOISE_ENV


@pytest.fixture
def reproducible_noise(monkeypatch):
    """The test-only switch (docs/privacy.md): training draws the mechanisms' noise from `random_state`, so a
    test can compare model bytes. Such a model is recorded as `noise: reproducible (not private)`."""
    monkeypatch.setenv(REPRODUCIBLE_NOISE_ENV, "1")


@pytest.fixture(autouse=True)
def _fresh_noise_unless_asked(monkeypatch):
    """Every test starts with the private default, whatever the shell running pytest has set."""
    monkeypatch.delenv(REPRODUCIBLE_NOISE_ENV, raising=False)
