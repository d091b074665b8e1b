"""The registry plugin on a real Airflow api-server, driven in headless Chromium.

alice (team analytics) logs in through Airflow's own login page, creates the generator `bank` for her team,
adds a version, uploads two real models (epsilon 0.5 and 2.0), activates the version and sees the privacy
against utility plot drawn with one point per model and metric. Without a token every endpoint answers 401;
mallory (team marketing) gets 403 on every page and action of `bank`, and her refused requests change
nothing. Screenshots go to $HAZY_SCREENSHOT_DIR (docs/images when refreshing the docs) or the test's folder.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa
from api_server import RegistryApiServer
from cdp import CHROMIUM, Browser

from airflow_provider_hazy.registry import Registry

pytestmark = pytest.mark.slow

USERS = {"alice": ("analytics", "alice-password"), "mallory": ("marketing", "mallory-password")}


def _require_chromium() -> None:
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed (CI=true): .ci/run installs Debian's chromium")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")


def _request(server, path: str, token=None, method: str = "GET", data: bytes = None, headers=None):
    """(status, body) of a request to the api-server."""
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(server.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _registry_state(registry_url: str) -> dict:
    engine = sa.create_engine(registry_url)
    with engine.connect() as connection:
        state = {
            "versions": connection.execute(sa.text("SELECT number, status FROM hazy_versions ORDER BY 1")).all(),
            "models": connection.execute(sa.text("SELECT sha256 FROM hazy_models ORDER BY 1")).all(),
            "generators": connection.execute(sa.text("SELECT name FROM hazy_generators ORDER BY 1")).all(),
        }
    engine.dispose()
    return state


def test_generators_pages_in_chromium_with_airflow_authentication(registry_url, sample_models, tmp_path):
    _require_chromium()
    shots = Path(os.environ.get("HAZY_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    store = tmp_path / "store"
    with RegistryApiServer(users=USERS, registry_url=registry_url, store=str(store)) as server, Browser() as browser:
        # The plugin is loaded by the api-server and brings its navigation entry.
        status, body = _request(server, "/api/v2/plugins", server.token("alice"))
        plugin = next(p for p in json.loads(body)["plugins"] if p["name"] == "hazy_registry")
        assert plugin["external_views"][0]["name"] == "Synthetic generators"

        # Not logged in: 401 with a link to Airflow's login page, which brings alice back.
        browser.goto(server.url + "/hazy-registry/generators")
        assert browser.text("h1") == "Log in first"
        browser.click("#login")
        browser.wait_until("document.querySelector('input[name=username]')")
        browser.type("input[name=username]", "alice")
        browser.type("input[name=password]", "alice-password")
        browser.wait_until("!document.querySelector('button[type=submit]').disabled")
        browser.click("button[type=submit]")
        browser.wait_until("location.pathname === '/hazy-registry/generators' && document.readyState === 'complete'")
        assert browser.text("h1") == "Synthetic generators"
        assert "alice" in browser.text("header")

        # Add new generator (teams default to the user's).
        browser.type("#create-generator input[name=name]", "bank")
        browser.type("#create-generator input[name=description]", "Synthetic copy of the sample bank")
        browser.click("#create-generator button")
        assert "bank" in browser.text("#generators")
        browser.screenshot(shots / "registry-generators.png")

        # Versions: add one, upload two models into it, activate it.
        browser.goto(server.url + "/hazy-registry/generators/bank/versions")
        browser.click("#add-version button")
        assert browser.evaluate("document.querySelector('#version-1').dataset.status") == "draft"
        browser.set_files("#version-1 form.upload input[type=file]", [str(sample_models[0.5]), str(sample_models[2.0])])
        browser.click("#version-1 form.upload button")
        assert browser.evaluate("document.querySelectorAll('#version-1 table tr').length") == 3  # header + 2 models
        browser.click("#version-1 button.activate")
        assert browser.evaluate("document.querySelector('#version-1').dataset.status") == "active"
        browser.screenshot(shots / "registry-versions.png")

        # Overview: active version, privacy line, schema, sample rows, DAG snippet.
        browser.goto(server.url + "/hazy-registry/generators/bank")
        assert browser.text("#active-version") == "v1"
        assert "epsilon 0.5, delta 0" in browser.text("#privacy-line")
        assert 'generator="bank"' in browser.text("#dag-snippet")
        assert browser.evaluate("document.querySelectorAll('table.sample tr').length") > 3
        browser.screenshot(shots / "registry-overview.png")

        # Inside Airflow's own UI: the navigation entry "Synthetic generators" embeds the generators page.
        browser.goto(server.url + "/plugin/synthetic-generators")
        frame = "Array.from(document.querySelectorAll('iframe')).find(f => f.src.endsWith('/hazy-registry/generators'))"
        browser.wait_until(f"{frame}?.contentDocument?.querySelector('#generators')")
        assert "bank" in browser.evaluate(f"{frame}.contentDocument.querySelector('#generators').innerText")
        assert browser.evaluate("Array.from(document.querySelectorAll('a')).some(a => "
                                "a.getAttribute('href') === '/plugin/synthetic-generators')")
        browser.screenshot(shots / "registry-in-airflow.png", full_page=False)

        # Metrics: the privacy against utility plot is drawn, a point per model and metric with a score.
        browser.goto(server.url + "/hazy-registry/generators/bank/metrics")
        with Registry(registry_url, store) as registry:
            models = registry.version("bank", 1).models
        points = sum(1 for model in models for score in model.scores.values() if score is not None)
        assert points >= 4
        assert browser.evaluate("document.querySelectorAll('#privacy-utility circle.point').length") == points
        size = browser.evaluate("(() => { const r = document.querySelector('#privacy-utility svg')"
                                ".getBoundingClientRect(); return [r.width, r.height]; })()")
        assert size[0] > 300 and size[1] > 200
        assert browser.evaluate("document.querySelectorAll('.model-metrics rect.bar').length") >= 4
        browser.screenshot(shots / "registry-metrics.png")

        # The database behind the pages: one active version holding both models.
        with Registry(registry_url, store) as registry:
            assert registry.generator("bank").teams == ["analytics"]
            assert registry.resolve("bank").epsilon == 0.5
            sha = registry.resolve("bank").sha256
        alice = server.token("alice")
        status, body = _request(server, f"/hazy-registry/generators/bank/models/{sha}", alice)
        assert status == 200 and body == sample_models[0.5].read_bytes()

        # No token: 401 everywhere, nothing changes.
        before = _registry_state(registry_url)
        for method, path in (
            ("GET", "/hazy-registry/generators"),
            ("GET", "/hazy-registry/api/generators"),
            ("GET", "/hazy-registry/generators/bank/metrics"),
            ("GET", f"/hazy-registry/generators/bank/models/{sha}"),
            ("POST", "/hazy-registry/generators/bank/versions/1/draft"),
            ("POST", "/hazy-registry/api/generators/bank/versions/1/draft"),
        ):
            status, _ = _request(server, path, method=method, data=b"" if method == "POST" else None)
            assert status == 401, (method, path, status)
        # mallory is authenticated but outside the team: 403 everywhere, nothing changes.
        mallory = server.token("mallory")
        for method, path in (
            ("GET", "/hazy-registry/generators/bank"),
            ("GET", "/hazy-registry/api/generators/bank"),
            ("GET", "/hazy-registry/generators/bank/metrics"),
            ("GET", f"/hazy-registry/generators/bank/models/{sha}"),
            ("POST", "/hazy-registry/generators/bank/versions/1/draft"),
            ("POST", "/hazy-registry/api/generators/bank/versions/1/draft"),
            ("POST", "/hazy-registry/generators/bank/versions"),
        ):
            status, body = _request(server, path, mallory, method=method, data=b"" if method == "POST" else None)
            assert status == 403, (method, path, status, body[:200])
        status, body = _request(
            server, "/hazy-registry/generators/bank/versions/1/upload", mallory, method="POST",
            data=b"--x\r\nContent-Disposition: form-data; name=\"files\"; filename=\"m.hmf\"\r\n\r\n"
            + sample_models[2.0].read_bytes() + b"\r\n--x--\r\n",
            headers={"Content-Type": "multipart/form-data; boundary=x"},
        )
        assert status == 403
        status, body = _request(server, "/hazy-registry/api/generators", mallory)
        assert status == 200 and json.loads(body) == []
        assert _registry_state(registry_url) == before
        # A forged token is refused too.
        status, _ = _request(server, "/hazy-registry/api/generators", alice[:-4] + "AAAA")
        assert status in (401, 403)
        # alice's own action through the JSON API works: make draft withdraws the version.
        status, body = _request(server, "/hazy-registry/api/generators/bank/versions/1/draft", alice, method="POST",
                                data=b"")
        assert status == 200 and json.loads(body)["status"] == "draft"
