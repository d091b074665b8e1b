"""The HTML report rendered in headless Chromium: every plot is in the DOM and drawn on the screenshot.

Needs Debian's `chromium` (.ci/run installs it); under CI=true a missing Chromium is a failure.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from airflow_provider_hazy import api
from airflow_provider_hazy.config import DataSchema
from airflow_provider_hazy.report import render_report
from airflow_provider_hazy.report.svg import REAL_COLOUR, SYNTHETIC_COLOUR

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH, HEIGHT = 1200, 3000

pytestmark = pytest.mark.slow

SCHEMA = {
    "tables": [
        {
            "name": "customers",
            "columns": [
                {"name": "customer_id", "type": "id"},
                {"name": "segment", "type": "category"},
                {"name": "age", "type": "integer"},
                {"name": "score", "type": "float"},
            ],
        },
        {
            "name": "orders",
            "columns": [
                {"name": "order_id", "type": "id"},
                {"name": "customer_id", "type": "foreign_key", "ref_table": "customers", "ref_column": "customer_id"},
                {"name": "amount", "type": "float"},
                {"name": "channel", "type": "category"},
            ],
        },
    ]
}


def shop(rng: np.random.Generator, n_customers: int, shift: float) -> dict:
    segment = rng.choice(["retail", "business", "premier"], n_customers, p=[0.6, 0.3, 0.1])
    age = rng.integers(18, 80, n_customers)
    customers = pd.DataFrame(
        {
            "customer_id": np.arange(1, n_customers + 1),
            "segment": segment,
            "age": age,
            "score": age * 2.0 + rng.normal(shift, 10, n_customers),
        }
    )
    n_orders = n_customers * 3
    owner = rng.integers(1, n_customers + 1, n_orders)
    orders = pd.DataFrame(
        {
            "order_id": np.arange(1, n_orders + 1),
            "customer_id": owner,
            "amount": rng.gamma(2.0, 30.0 + shift, n_orders),
            "channel": rng.choice(["web", "store", "phone"], n_orders),
        }
    )
    return {"customers": customers, "orders": orders}


def require_chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed (CI=true): .ci/run installs Debian's chromium")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return CHROMIUM


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    command = [
        require_chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def png_pixels(path: Path) -> np.ndarray:
    """(height, width, 3) uint8 RGB pixels of the screenshot."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture
def report_page(tmp_path) -> Path:
    schema = DataSchema.model_validate(SCHEMA)
    real, synthetic, holdout = shop(np.random.default_rng(1), 400, 0.0), shop(np.random.default_rng(2), 400, 8.0), {}
    holdout = shop(np.random.default_rng(3), 400, 0.0)
    locations = {}
    for label, frames in (("real", real), ("synthetic", synthetic), ("holdout", holdout)):
        locations[label] = []
        for name, frame in frames.items():
            path = tmp_path / f"{label}_{name}.csv"
            frame.to_csv(path, index=False)
            locations[label].append({"name": name, "location": str(path)})
    metrics = [
        {"metric_type": kind}
        for kind in (
            "histogram_similarity",
            "mutual_information_similarity",
            "cross_table_mutual_information_similarity",
            "degree_distribution_similarity",
            "presence_disclosure",
            "density_disclosure",
            "distance_to_closest_record",
        )
    ] + [{"metric_type": "predictive_utility", "table": "customers", "target": "segment"}]
    evaluation = api.evaluate(
        {"data_schema": SCHEMA, **locations, "evaluation": {"metrics": metrics}, "random_state": 0}
    )
    assert schema.table_names == ["customers", "orders"]
    page = tmp_path / "report.html"
    page.write_text(render_report(evaluation, "Shop evaluation"), encoding="utf-8")
    return page


def test_report_dom_holds_every_plot(report_page, tmp_path):
    dom = chromium(tmp_path, "--dump-dom", report_page.as_uri()).stdout
    charts = re.findall(r"<svg[^>]*class=\"chart (bars|heatmap)\"[^>]*>(.*?)</svg>", dom, flags=re.S)
    kinds = [kind for kind, _ in charts]
    # Heat maps: real and synthetic for each of the 2 tables.
    assert kinds.count("heatmap") == 4
    assert kinds.count("bars") == 3 + 2 + 1 + 1  # customers 3 + orders 2 columns, degree, cross-table
    for kind, body in charts:
        heights = [
            float(h) for h in re.findall(r"<rect class=\"(?:bar|cell)[^\"]*\"[^>]*?(?:height)=\"([\d.]+)\"", body)
        ]
        assert len(heights) >= 4 and max(heights) > 5, (kind, body[:300])
    for heading in ("Histograms", "Mutual information", "Degree distributions", "Privacy", "Predictive utility"):
        assert heading in dom
    assert "Outside the privacy budget" in dom


def test_report_screenshot_shows_the_plots(report_page, tmp_path):
    shot = tmp_path / "report.png"
    chromium(tmp_path, f"--window-size={WIDTH},{HEIGHT}", f"--screenshot={shot}", report_page.as_uri())
    pixels = png_pixels(shot)
    assert pixels.shape[:2] == (HEIGHT, WIDTH)
    not_white = (pixels < 245).any(axis=2).mean()
    assert not_white > 0.05, f"only {not_white:.1%} of the page is drawn"

    def share(colour: str) -> float:
        target = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
        return (np.abs(pixels.astype(int) - target).max(axis=2) <= 8).mean()

    assert share(REAL_COLOUR) > 0.002 and share(SYNTHETIC_COLOUR) > 0.002  # the bars of both sides are painted
