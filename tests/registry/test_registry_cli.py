"""`hazy registry ...` end to end in a fresh Python process where importing Airflow is impossible."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
# `import airflow` raises ImportError in this process: the registry CLI must not need it.
NO_AIRFLOW = "import sys; sys.modules['airflow'] = None; from airflow_provider_hazy.cli import main; sys.exit(main())"


def hazy(url: str, store: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-c", NO_AIRFLOW, "registry", "--url", url, "--store", str(store), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def test_registry_cli_without_airflow(registry_url, sample_models, tmp_path):
    store = tmp_path / "store"
    run = hazy(registry_url, store, "create", "bank", "--description", "Sample bank", "--team", "analytics")
    assert run.returncode == 0, run.stderr
    assert "created generator bank (teams: analytics)" in run.stdout
    run = hazy(registry_url, store, "upload", "bank", str(sample_models[0.5]), str(sample_models[2.0]))
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("to bank v1 (draft)") == 2 and "epsilon 0.5, delta 0" in run.stdout
    assert "preprocessing NOT private" in run.stdout
    shown = hazy(registry_url, store, "show", "bank")
    assert "active none" in shown.stdout and "no active version" in shown.stdout
    missing = hazy(registry_url, store, "download", "bank", "-o", str(tmp_path / "x.hmf"))
    assert missing.returncode == 2 and "no active version" in missing.stderr
    assert hazy(registry_url, store, "activate", "bank", "1").stdout.strip() == "bank v1 is active"
    listed = json.loads(hazy(registry_url, store, "list", "--json").stdout)
    assert [(g["name"], g["active_version"], g["teams"]) for g in listed] == [("bank", 1, ["analytics"])]
    versions = json.loads(hazy(registry_url, store, "versions", "bank", "--json").stdout)
    assert [m["epsilon"] for m in versions[0]["models"]] == [0.5, 2.0]
    out = tmp_path / "downloaded.hmf"
    run = hazy(registry_url, store, "download", "bank", "-o", str(out), "--epsilon", "2")
    assert run.returncode == 0, run.stderr
    assert out.read_bytes() == sample_models[2.0].read_bytes()
    refused = hazy(registry_url, store, "upload", "bank", str(REPO / "README.md"))
    assert refused.returncode == 2 and "README.md: not a model file" in refused.stderr
    assert hazy(registry_url, store, "draft", "bank", "1").stdout.strip() == "bank v1 is draft"
    assert "active none" in hazy(registry_url, store, "list").stdout
