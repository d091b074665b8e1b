"""Privacy metrics: copies of training rows score badly, an independent sample scores well."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from metric_data import people

from airflow_provider_hazy.metrics import privacy_metrics
from airflow_provider_hazy.metrics.privacy_metrics import (
    auc,
    density_disclosure,
    distance_to_closest_record,
    mixed_encoding,
    nearest_distances,
    presence_disclosure,
)

METRICS = (presence_disclosure, density_disclosure, distance_to_closest_record)


@pytest.fixture
def train():
    return people(3_000, 1)


@pytest.fixture
def holdout():
    return people(3_000, 2)


def scores(schema, train, synthetic, holdout):
    rng = np.random.default_rng(0)
    return {
        metric.__name__: metric(schema, {"people": train}, {"people": synthetic}, {"people": holdout}, rng)
        for metric in METRICS
    }


def test_a_synthetic_set_that_copies_training_rows_scores_badly(people_schema, train, holdout):
    results = scores(people_schema, train, train.sample(frac=1.0, random_state=0), holdout)
    assert results["distance_to_closest_record"]["score"] == 0.0
    assert results["presence_disclosure"]["score"] < 0.1
    assert results["density_disclosure"]["score"] < 0.1
    details = results["distance_to_closest_record"]["tables"]["people"]
    assert details["share_exact_copies"]["synthetic"] == 1.0
    assert results["presence_disclosure"]["tables"]["people"]["auc"] > 0.95


def test_an_independent_sample_from_the_same_distribution_scores_well(people_schema, train, holdout):
    results = scores(people_schema, train, people(3_000, 3), holdout)
    assert results["distance_to_closest_record"]["score"] > 0.9
    assert results["presence_disclosure"]["score"] > 0.9
    assert results["density_disclosure"]["score"] > 0.9


def test_copying_a_third_of_the_rows_is_caught_in_proportion(people_schema, train, holdout):
    mixed = pd.concat([train.iloc[:1_000], people(2_000, 3)], ignore_index=True)
    results = scores(people_schema, train, mixed, holdout)
    density = results["density_disclosure"]["tables"]["people"]
    assert density["share_nearer_train"] == pytest.approx(0.5 + 1 / 6, abs=0.03)
    assert 0.5 < results["distance_to_closest_record"]["score"] < 0.8


def test_samples_are_capped_and_reproducible(people_schema, train, holdout, monkeypatch):
    monkeypatch.setattr(privacy_metrics, "QUERY_ROWS", 500)
    monkeypatch.setattr(privacy_metrics, "REFERENCE_ROWS", 1_000)
    first = scores(people_schema, train, people(3_000, 3), holdout)
    second = scores(people_schema, train, people(3_000, 3), holdout)
    assert first == second
    sizes = first["presence_disclosure"]["tables"]["people"]
    assert sizes["reference_rows"] == {"train": 1_000, "holdout": 1_000, "synthetic": 1_000}
    assert sizes["query_rows"] == {"train": 500, "holdout": 500, "synthetic": 500}


def test_nearest_distances_match_brute_force():
    rng = np.random.default_rng(0)
    query = rng.normal(size=(300, 7)).astype(np.float32)
    reference = rng.normal(size=(2_500, 7)).astype(np.float32)
    brute = np.sqrt(((query[:, None, :].astype(float) - reference[None, :, :]) ** 2).sum(axis=2)).min(axis=1)
    assert np.allclose(nearest_distances(query, reference), brute, atol=1e-5)
    assert (nearest_distances(reference[:10], reference) == 0).all()


def test_differing_categories_add_one_to_the_squared_distance(people_schema):
    frame = pd.DataFrame({"city": ["London", "Leeds"], "member": [True, True]})
    encoded = mixed_encoding(people_schema.table("people"), ["city", "member"], {"train": frame})["train"]
    assert np.sum((encoded[0] - encoded[1]) ** 2) == pytest.approx(1.0)


def test_auc_counts_ties_as_half():
    assert auc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0
    assert auc(np.array([1.0, 2.0]), np.array([3.0, 4.0])) == 0.0
    assert auc(np.array([1.0, 1.0]), np.array([1.0, 1.0])) == 0.5
    assert auc(np.array([2.0, 1.0]), np.array([1.0])) == 0.75


def test_the_overall_score_is_the_worst_table(shop_schema):
    from metric_data import customers_orders

    real, holdout = customers_orders(1_000, 1), customers_orders(1_000, 2)
    n_orders = min(len(real["orders"]), len(holdout["orders"]))  # equal sizes: every training row is sampled
    real["orders"], holdout["orders"] = real["orders"].iloc[:n_orders], holdout["orders"].iloc[:n_orders]
    synthetic = {"customers": customers_orders(1_000, 3)["customers"], "orders": real["orders"].copy()}
    result = distance_to_closest_record(shop_schema, real, synthetic, holdout, np.random.default_rng(0))
    assert result["score"] == result["tables"]["orders"]["score"] == 0.0
    assert result["tables"]["customers"]["score"] > 0.9
