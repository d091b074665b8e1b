"""evaluate: the configured metrics, keyed by metric_type, JSON-safe."""

from __future__ import annotations

import json

import numpy as np
import pytest
from metric_data import customers_orders, people

from airflow_provider_hazy.config.enums import MetricType
from airflow_provider_hazy.config.evaluation import EvaluationConfig
from airflow_provider_hazy.metrics import evaluate

HOLDOUT_METRICS = {"predictive_utility", "presence_disclosure", "density_disclosure", "distance_to_closest_record"}


def every_metric(**params) -> EvaluationConfig:
    return EvaluationConfig.model_validate({"metrics": [{"metric_type": m.value, **params} for m in MetricType]})


def test_every_metric_is_keyed_by_its_type_with_an_overall_score(shop_schema):
    real, synthetic, holdout = customers_orders(300, 1), customers_orders(300, 2), customers_orders(300, 3)
    results = evaluate(every_metric(), shop_schema, real, synthetic, holdout, np.random.default_rng(0))
    assert set(results) == {m.value for m in MetricType}
    for key, result in results.items():
        assert result["metric_type"] == key
        assert 0.0 <= result["score"] <= 1.0, key
        assert result["params"]["metric_type"] == key
    json.dumps(results, allow_nan=False)


def test_metrics_that_need_held_out_rows_are_skipped_without_them(people_schema):
    real = {"people": people(300, 1)}
    results = evaluate(every_metric(), people_schema, real, {"people": people(300, 2)}, None)
    for key in HOLDOUT_METRICS:
        assert results[key]["score"] is None
        assert results[key]["skipped"] == "needs train_test_split"
    assert results["histogram_similarity"]["score"] > 0.8


def test_the_default_config_runs_the_similarity_metrics(shop_schema):
    real = customers_orders(200, 1)
    results = evaluate(EvaluationConfig(), shop_schema, real, real)
    assert set(results) == {
        "histogram_similarity",
        "mutual_information_similarity",
        "cross_table_mutual_information_similarity",
        "degree_distribution_similarity",
    }
    assert results["histogram_similarity"]["score"] == 1.0


def test_the_table_param_limits_a_metric_to_one_table(shop_schema):
    real, synthetic, holdout = customers_orders(200, 1), customers_orders(200, 2), customers_orders(200, 3)
    results = evaluate(every_metric(table="orders"), shop_schema, real, synthetic, holdout)
    for result in results.values():
        assert set(result["tables"]) == {"orders"}


def test_a_metric_listed_twice_is_keyed_by_its_position_the_second_time(people_schema):
    config = EvaluationConfig.model_validate(
        {
            "metrics": [
                {"metric_type": "predictive_utility", "target": "city"},
                {"metric_type": "predictive_utility", "target": "income"},
            ]
        }
    )
    frames = [{"people": people(500, seed)} for seed in (1, 2, 3)]
    results = evaluate(config, people_schema, *frames)
    assert list(results) == ["predictive_utility", "predictive_utility[1]"]
    assert list(results["predictive_utility[1]"]["tables"]["people"]["targets"]) == ["income"]


def test_the_same_generator_seed_gives_the_same_scores(people_schema):
    frames = [{"people": people(500, seed)} for seed in (1, 2, 3)]
    first = evaluate(every_metric(), people_schema, *frames, rng=np.random.default_rng(7))
    second = evaluate(every_metric(), people_schema, *frames, rng=np.random.default_rng(7))
    assert first == second


def test_an_unknown_table_is_an_error(people_schema):
    frames = {"people": people(50, 1)}
    with pytest.raises(ValueError, match="table 'nope' is not in the schema"):
        evaluate(every_metric(table="nope"), people_schema, frames, frames)
