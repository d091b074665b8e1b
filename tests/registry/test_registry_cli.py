"""`hazy registry ...` end to end in one fresh Python process where importing Airflow is impossible."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
# Runs each argv of a JSON list through `hazy` in this one process, with `import airflow` made to fail:
# prints [[exit code, stdout, stderr], ...].
RUNNER = """
import contextlib, io, json, sys
sys.modules['airflow'] = None
from airflow_provider_hazy.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    results.append([code, out.getvalue(), err.getvalue()])
print(json.dumps(results))
"""


def hazy_session(url: str, store: Path, commands: List[List[str]]) -> List[Tuple[int, str, str]]:
    """Each command's (exit code, stdout, stderr), run as `hazy registry --url URL --store STORE ...`."""
    argvs = [["registry", "--url", url, "--store", str(store), *command] for command in commands]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, json.dumps(argvs)], capture_output=True, text=True, env=env, timeout=180
    )
    assert done.returncode == 0, done.stderr
    return [tuple(result) for result in json.loads(done.stdout.splitlines()[-1])]


def test_registry_cli_without_airflow(registry_url, sample_models, tmp_path):
    out = tmp_path / "downloaded.hmf"
    results = hazy_session(
        registry_url,
        tmp_path / "store",
        [
            ["create", "bank", "--description", "Sample bank", "--team", "analytics"],
            ["upload", "bank", str(sample_models[0.5]), str(sample_models[2.0])],
            ["show", "bank"],
            ["download", "bank", "-o", str(tmp_path / "x.hmf")],
            ["activate", "bank", "1"],
            ["list", "--json"],
            ["versions", "bank", "--json"],
            ["download", "bank", "-o", str(out), "--epsilon", "2"],
            ["upload", "bank", str(REPO / "README.md")],
            ["draft", "bank", "1"],
            ["list"],
        ],
    )
    created, uploaded, shown, missing, activated, listed, versions, downloaded, refused, drafted, final = results
    assert created[0] == 0 and "created generator bank (teams: analytics)" in created[1]
    assert uploaded[0] == 0, uploaded[2]
    assert uploaded[1].count("to bank v1 (draft)") == 2 and "epsilon 0.5, delta 0" in uploaded[1]
    assert "preprocessing NOT private" in uploaded[1]
    assert "active none" in shown[1] and "no active version" in shown[1]
    assert missing[0] == 2 and "no active version" in missing[2]
    assert activated[1].strip() == "bank v1 is active"
    generators = json.loads(listed[1])
    assert [(g["name"], g["active_version"], g["teams"]) for g in generators] == [("bank", 1, ["analytics"])]
    assert [m["epsilon"] for m in json.loads(versions[1])[0]["models"]] == [0.5, 2.0]
    assert downloaded[0] == 0, downloaded[2]
    assert out.read_bytes() == sample_models[2.0].read_bytes()
    assert refused[0] == 2 and "README.md: not a model file" in refused[2]
    assert drafted[1].strip() == "bank v1 is draft"
    assert "active none" in final[1]
