"""Predictive utility on data where the answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from metric_data import CITIES, people

from airflow_provider_hazy.metrics.utility import (
    fit_naive_bayes,
    fit_ridge,
    macro_f1,
    predict_naive_bayes,
    predict_ridge,
    predictive_utility,
    r_squared,
)


def noise(n_rows: int, seed: int) -> pd.DataFrame:
    """The columns of `people`, each drawn uniformly and independently."""
    rng = np.random.default_rng(seed)
    frame = people(n_rows, seed)
    frame["age"] = rng.integers(18, 90, n_rows)
    frame["income"] = rng.uniform(0, 100_000, n_rows)
    frame["city"] = rng.choice(CITIES, n_rows)
    frame["member"] = rng.random(n_rows) < 0.5
    frame["joined"] = pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 3_000, n_rows), unit="D")
    return frame


def utility(schema, synthetic, target=None):
    real, holdout = people(4_000, 1), people(4_000, 2)
    rng = np.random.default_rng(0)
    return predictive_utility(schema, {"people": real}, {"people": synthetic}, {"people": holdout}, rng, target=target)


def test_a_copy_of_the_training_data_has_utility_one(people_schema):
    result = utility(people_schema, people(4_000, 1))
    assert result["score"] == pytest.approx(1.0)
    targets = result["tables"]["people"]["targets"]
    assert set(targets) == {"age", "income", "city", "member", "joined"}
    assert targets["city"]["task"] == "classification" and targets["city"]["measure"] == "macro_f1"
    assert targets["income"]["task"] == "regression" and targets["income"]["measure"] == "r2"


def test_an_independent_sample_of_the_same_distribution_has_high_utility(people_schema):
    assert utility(people_schema, people(4_000, 3))["score"] > 0.9


def test_random_noise_has_low_utility(people_schema):
    result = utility(people_schema, noise(4_000, 3))
    assert result["score"] < 0.35
    for entry in result["tables"]["people"]["targets"].values():
        assert entry["score"] == pytest.approx(min(1.0, entry["synthetic_score"] / entry["real_score"]))


def test_a_named_target_is_the_only_one_scored(people_schema):
    result = utility(people_schema, people(4_000, 3), target="member")
    assert list(result["tables"]["people"]["targets"]) == ["member"]


def test_a_key_column_cannot_be_the_target(people_schema):
    with pytest.raises(ValueError, match="table 'people': target 'id' is a id column"):
        utility(people_schema, people(100, 3), target="id")


def test_naive_bayes_learns_a_class_that_one_feature_determines():
    codes = np.array([[0, 1], [1, 0], [0, 0], [1, 1]] * 50)
    classes = codes[:, 0]
    model = fit_naive_bayes(codes, [2, 2], classes, 2)
    assert (predict_naive_bayes(model, codes) == classes).all()
    assert macro_f1(classes, predict_naive_bayes(model, codes), 2) == 1.0


def test_ridge_on_one_hot_bins_fits_an_additive_target():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, size=(5_000, 2))
    target = np.array([0.0, 1.0, 5.0, 2.0])[codes[:, 0]] + np.array([3.0, -3.0, 0.0, 0.0])[codes[:, 1]]
    model = fit_ridge(codes, [4, 4], target)
    assert r_squared(target, predict_ridge(model, codes)) > 0.999


def test_r_squared_is_clipped_at_zero():
    truth = np.array([1.0, 2.0, 3.0])
    assert r_squared(truth, np.array([3.0, 2.0, 1.0])) == 0.0
