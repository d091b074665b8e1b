"""Issue 13: privacy that holds for the model file, through the public API.

- fresh noise: the same config and random_state trained twice give different noisy tables; retraining with
  the stored seed on each candidate value of a secret row no longer finds it (the attack of the issue), and
  replaying `default_rng(seed)`'s Laplace draws does not cancel the noise;
- the test-only switch makes models byte-identical again and says so (`noise: reproducible (not private)`,
  flagged by the guarantee line);
- nothing from the source reaches the model file's bytes: a unique marker value in a category column (a
  singleton) and in a person column is in no member of the .hmf, evaluation on;
- the guarantee line says what the model is.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from airflow_provider_hazy import api
from airflow_provider_hazy.core import privbayes
from airflow_provider_hazy.core.noise import FreshNoise
from airflow_provider_hazy.core.privacy import BudgetLedger
from airflow_provider_hazy.model_file import read_model

MARKER = "Zq7Marker-UNIQUE-91x"


def source_frame(n_rows: int = 1200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    segment = rng.choice(["retail", "business", "private"], size=n_rows, p=[0.6, 0.3, 0.1])
    age = rng.integers(18, 80, n_rows)
    return pd.DataFrame(
        {
            "customer_id": np.arange(1, n_rows + 1),
            "name": [f"Person {i}" for i in range(n_rows)],
            "segment": segment,
            "region": rng.choice(["north", "south", "east", "west"], size=n_rows),
            "age": age,
            "active": (age + rng.integers(0, 30, n_rows)) % 2 == 0,
        }
    )


def training_config(csv: Path, model: Path, **overrides) -> dict:
    config = {
        "model_output": str(model),
        "random_state": 42,
        "data_schema": {
            "tables": [
                {
                    "name": "customers",
                    "type": "tabular",
                    "columns": [
                        {"name": "customer_id", "type": "id"},
                        {"name": "name", "type": "person", "part": "full_name"},
                        {"name": "segment", "type": "category"},
                        {"name": "region", "type": "category"},
                        {"name": "age", "type": "integer"},
                        {"name": "active", "type": "bool"},
                    ],
                }
            ]
        },
        "data_input": [{"name": "customers", "location": str(csv)}],
        "model_parameters": {"generator": {"epsilon": 1.0, "n_bins": 10}},
        "evaluation": None,
    }
    config.update(overrides)
    return config


def network_arrays(path: Path) -> dict:
    _, arrays = read_model(path)
    return {name: array for name, array in arrays.items() if ".network.probabilities." in name}


def same_network(first: Path, second: Path) -> bool:
    a, b = network_arrays(first), network_arrays(second)
    return a.keys() == b.keys() and all(np.array_equal(a[name], b[name]) for name in a)


@pytest.fixture
def source(tmp_path) -> Path:
    path = tmp_path / "customers.csv"
    source_frame().to_csv(path, index=False)
    return path


def test_the_same_config_and_random_state_trained_twice_gives_different_noisy_tables(source, tmp_path):
    first = api.train(training_config(source, tmp_path / "a.hmf"))
    second = api.train(training_config(source, tmp_path / "b.hmf"))
    a, b = network_arrays(first), network_arrays(second)
    assert a.keys() != b.keys() or any(not np.array_equal(a[name], b[name]) for name in a)
    assert first.read_bytes() != second.read_bytes()
    assert api.inspect_model(first)["privacy"]["noise"] == "fresh (OS entropy, OpenDP samplers)"


def test_retraining_with_the_stored_seed_on_each_candidate_no_longer_finds_the_secret_row(source, tmp_path):
    # The attack of the issue: the seed is in the manifest; retrain once per candidate value of one row and
    # look for the byte-identical model. With fresh noise no candidate matches, the true one included.
    frame = pd.read_csv(source)
    secret = tmp_path / "secret.hmf"
    api.train(training_config(source, secret))
    stored_seed = api.load_model(secret).manifest["training_config"]["random_state"]
    assert stored_seed == 42 and api.inspect_model(secret)["privacy"]["private_noise"] is True
    matches = []
    for candidate in ("retail", "business", "private"):
        guess = frame.copy()
        guess.loc[0, "segment"] = candidate
        csv = tmp_path / f"guess_{candidate}.csv"
        guess.to_csv(csv, index=False)
        model = api.train(training_config(csv, tmp_path / f"guess_{candidate}.hmf", random_state=stored_seed))
        matches.append(same_network(model, secret))
    assert not any(matches)


def test_with_the_test_only_switch_the_same_attack_finds_the_row_and_the_model_says_not_private(
    source, tmp_path, reproducible_noise
):
    # The switch brings the attack back (so the test above can fail): that is why it is for tests only.
    frame = pd.read_csv(source)
    secret = api.train(training_config(source, tmp_path / "secret.hmf"))
    found = []
    for candidate in ("retail", "business", "private"):
        guess = frame.copy()
        guess.loc[0, "segment"] = candidate
        csv = tmp_path / f"guess_{candidate}.csv"
        guess.to_csv(csv, index=False)
        model = api.train(training_config(csv, tmp_path / f"guess_{candidate}.hmf"))
        if same_network(model, secret):  # the bytes differ only by the recorded input path
            found.append(candidate)
    assert found == [frame.loc[0, "segment"]]
    info = api.inspect_model(secret)
    assert info["privacy"]["noise"] == "reproducible (not private)" and info["privacy"]["private_noise"] is False
    assert info["guarantee"].startswith("guarantee: NOT PRIVATE: noise reproducible (not private)")


def test_replaying_the_seeds_laplace_draws_does_not_cancel_the_noise(monkeypatch):
    # Through the real path (privbayes.fit), the noisy count tables are captured where the post-processing
    # receives them; the attacker replays default_rng(seed).laplace of the recorded scale, as the old
    # sampler drew it, and subtracts. Nothing cancels: the residual is as large as the noise itself.
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, size=(5000, 3))
    captured = []
    real = privbayes.consistent_conditionals

    def capture(nodes, noisy_tables, *args, **kwargs):
        captured.extend(noisy_tables)
        return real(nodes, noisy_tables, *args, **kwargs)

    monkeypatch.setattr(privbayes, "consistent_conditionals", capture)
    ledger = BudgetLedger()
    privbayes.fit(codes, [4, 4, 4], epsilon=1.0, n_parents=0, rng=np.random.default_rng(42), ledger=ledger)
    scale = ledger.entries[-1].scale
    for column, noisy in enumerate(captured):
        exact = np.bincount(codes[:, column], minlength=4)[None, :]
        replayed = np.random.default_rng(42).laplace(0.0, scale, size=noisy.shape)
        residual = noisy - replayed - exact
        assert np.abs(residual).max() > 0.5  # the old sampler's residual is exactly 0
    first = [table.copy() for table in captured]
    captured.clear()
    privbayes.fit(codes, [4, 4, 4], epsilon=1.0, n_parents=0, rng=np.random.default_rng(42), ledger=BudgetLedger())
    assert any(not np.array_equal(a, b) for a, b in zip(first, captured))  # a second night's tables differ


def test_a_unique_source_value_never_reaches_any_byte_of_the_model_file(tmp_path):
    frame = source_frame()
    frame.loc[7, "segment"] = MARKER  # a singleton category
    frame.loc[8, "name"] = MARKER + " Surname"  # a person's name
    frame.loc[9, "region"] = MARKER
    csv = tmp_path / "customers.csv"
    frame.to_csv(csv, index=False)
    config = training_config(csv, tmp_path / "model.hmf", evaluation={})  # the default metrics, on
    model = api.train(config)
    marker = MARKER.encode()
    with zipfile.ZipFile(model) as archive:
        members = archive.namelist()
        assert "manifest.json" in members and len(members) > 1
        for member in members:
            data = archive.read(member)
            assert marker not in data, member
            assert MARKER.encode("utf-16-le") not in data and MARKER.encode("utf-32-le") not in data, member
    assert marker not in model.read_bytes()
    evaluation = api.inspect_model(model)["evaluation"]
    assert evaluation["computed_on_source_rows"] is True
    assert '"real"' not in json.dumps(evaluation) and '"bins"' not in json.dumps(evaluation)


def test_the_guarantee_line_says_what_a_default_model_is(source, tmp_path):
    config = training_config(source, tmp_path / "model.hmf")
    config["model_parameters"] = {"generator": {}}  # the configurator's defaults: epsilon 1000, processing unset
    info = api.inspect_model(api.train(config))
    line = info["guarantee"]
    assert "epsilon 1000: not meaningfully private" in line and "preprocessing NOT private" in line
    assert "row counts" in line and "retraining spends the budget again" in line


def test_the_guarantee_line_of_a_private_model_states_epsilon_delta_and_the_unit(source, tmp_path):
    config = training_config(source, tmp_path / "model.hmf")
    config["model_parameters"] = {"generator": {"epsilon": 1.0, "processing_epsilon": 0.5, "n_bins": 10}}
    info = api.inspect_model(api.train(config))
    delta = info["privacy"]["total_delta"]
    assert delta > 0  # the category domains are (epsilon, delta)-DP
    assert info["guarantee"].startswith(f"guarantee: (epsilon 1.5, delta {delta:g})-differential privacy of the "
                                        "whole model, unit one row of one table; preprocessing private")


def test_fresh_noise_is_the_default_sampler():
    assert isinstance(BudgetLedger().noise, FreshNoise)
