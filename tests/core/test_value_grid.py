"""Decoding onto the values' grid (core.value_grid): integers a multiple of g apart and floats with few
decimals come back on that grid, in memory and streamed alike; never read under processing_epsilon."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from airflow_provider_hazy.config.model_parameters import PrivBayesConfig
from airflow_provider_hazy.config.schema import TabularTable
from airflow_provider_hazy.core.encoding import fit_table_encoding
from airflow_provider_hazy.core.privacy import BudgetLedger
from airflow_provider_hazy.core.streaming import fit_table_encoding_from_chunks
from airflow_provider_hazy.core.value_grid import GridTracker, decimals_needed, grid_of, snap

TABLE = TabularTable.model_validate(
    {
        "name": "lines",
        "columns": [
            {"name": "quantity", "type": "integer"},
            {"name": "price", "type": "float"},
            {"name": "weight", "type": "float"},
        ],
    }
)


@pytest.fixture(scope="module")
def lines() -> pd.DataFrame:
    rng = np.random.default_rng(8)
    n = 6000
    return pd.DataFrame(
        {
            "quantity": 3 + 5 * rng.integers(0, 120, n),  # 3, 8, 13, ...: a lattice of step 5 from 3
            "price": np.round(rng.lognormal(3.0, 1.0, n), 2),
            "weight": rng.gamma(2.0, 1.5, n),  # continuous: no grid
        }
    )


def fit(frame: pd.DataFrame, processing_epsilon=None):
    return fit_table_encoding(
        frame,
        TABLE,
        PrivBayesConfig(epsilon=1000.0),
        processing_epsilon=processing_epsilon,
        rng=np.random.default_rng(0),
        ledger=BudgetLedger(),
    )


def test_decoded_values_stay_on_the_grid_of_the_source(lines):
    encoding = fit(lines)
    decoded = encoding.decode(encoding.encode(lines), np.random.default_rng(1))
    assert ((decoded["quantity"] - 3) % 5 == 0).all()
    cents = decoded["price"] * 100
    assert np.allclose(cents, np.round(cents), atol=1e-6)
    assert decoded["price"].nunique() > 500  # still spread within the bins, not collapsed onto edges
    steps = {d["name"]: d.get("grid_step") for d in encoding.describe()}
    assert steps == {"quantity": 5.0, "price": 0.01, "weight": None}


def test_decoding_onto_the_grid_keeps_the_bins(lines):
    encoding = fit(lines)
    codes = encoding.encode(lines)
    decoded = encoding.decode(codes, np.random.default_rng(2))
    assert np.array_equal(encoding.encode(decoded), codes)


def test_a_streamed_table_gets_the_same_grid(lines):
    def chunks():
        for start in range(0, len(lines), 777):
            yield lines.iloc[start : start + 777]

    streamed, _ = fit_table_encoding_from_chunks(
        chunks,
        TABLE,
        PrivBayesConfig(epsilon=1000.0),
        processing_epsilon=None,
        rng=np.random.default_rng(0),
        ledger=BudgetLedger(),
    )
    whole = fit(lines)
    for a, b in zip(streamed.encoders, whole.encoders):
        assert (a.domain.step, a.domain.anchor) == (b.domain.step, b.domain.anchor)


def test_no_grid_is_read_under_processing_epsilon(lines):
    encoding = fit(lines, processing_epsilon=1.0)
    assert all(encoder.domain.step == 0.0 for encoder in encoding.encoders)


def test_the_tracker_merges_exactly_across_chunks():
    values = np.array([10.0, 16.0, 28.0, 40.0, 4.0])
    tracker = GridTracker(integer=True)
    for chunk in (values[:2], values[2:4], values[4:]):
        tracker.update(np.unique(chunk))
    assert tracker.grid(4.0) == grid_of(values, True) == (6.0, 4.0)
    assert decimals_needed(np.array([1.5, 2.25, 3.0])) == 2 and decimals_needed(np.array([np.pi])) is None


def test_a_bin_without_a_grid_point_keeps_its_drawn_value():
    values = np.array([1.2, 7.9])
    snapped = snap(values, np.array([1.0, 6.0]), np.array([1.9, 11.0]), 5.0, 0.0)
    assert snapped.tolist() == [1.2, 10.0]  # [1, 1.9] holds no multiple of 5; [6, 11] holds 10
