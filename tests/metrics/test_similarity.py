"""Similarity metrics on data where the answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from metric_data import customers_orders, people

from airflow_provider_hazy.metrics.similarity import (
    cross_table_mutual_information_similarity,
    degree_distribution_similarity,
    histogram_similarity,
    mutual_information_similarity,
)


def shuffled_columns(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Every column permuted on its own: the same marginals, no dependence between columns."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({name: frame[name].to_numpy()[rng.permutation(len(frame))] for name in frame.columns})


def test_identical_data_scores_one_on_every_similarity(people_schema, shop_schema):
    real = {"people": people(2_000, 1)}
    assert histogram_similarity(people_schema, real, real)["score"] == 1.0
    assert mutual_information_similarity(people_schema, real, real)["score"] == 1.0
    shop = customers_orders(500, 1)
    assert cross_table_mutual_information_similarity(shop_schema, shop, shop)["score"] == 1.0
    assert degree_distribution_similarity(shop_schema, shop, shop)["score"] == 1.0


def test_histogram_similarity_is_the_overlap_of_the_histograms(people_schema):
    real = people(1_000, 1)
    synthetic = real.copy()
    synthetic["city"] = np.where(np.arange(1_000) < 250, "Nowhere", real["city"])  # a quarter moved away
    result = histogram_similarity(people_schema, {"people": real}, {"people": synthetic})
    columns = result["tables"]["people"]["columns"]
    assert columns["city"]["score"] == pytest.approx(0.75)
    assert columns["age"]["score"] == 1.0
    assert "(other)" in columns["city"]["bins"]


def test_histogram_similarity_leaves_out_key_columns(people_schema):
    real = people(200, 1)
    result = histogram_similarity(people_schema, {"people": real}, {"people": real})
    assert "id" not in result["tables"]["people"]["columns"]


def test_an_independent_sample_of_the_same_distribution_scores_high_but_a_shifted_one_lower(people_schema):
    real = {"people": people(5_000, 1)}
    same = histogram_similarity(people_schema, real, {"people": people(5_000, 2)})["score"]
    older = people(5_000, 2)
    older["age"] = older["age"] + 30
    shifted = histogram_similarity(people_schema, real, {"people": older})["tables"]["people"]["columns"]["age"]
    assert same > 0.95
    assert shifted["score"] < 0.7


def test_independently_shuffled_columns_lose_mutual_information_similarity(people_schema):
    real = people(5_000, 1)
    independent = mutual_information_similarity(people_schema, {"people": real}, {"people": people(5_000, 2)})
    shuffled = mutual_information_similarity(people_schema, {"people": real}, {"people": shuffled_columns(real, 3)})
    assert independent["score"] > 0.95
    assert shuffled["score"] < 0.75
    pair = shuffled["tables"]["people"]["pairs"]["age|income"]
    assert pair["real_nmi"] > 0.4 and pair["synthetic_nmi"] < 0.1
    assert pair["score"] == pytest.approx(1 - abs(pair["real_nmi"] - pair["synthetic_nmi"]))


def test_mutual_information_leaves_out_person_and_key_columns(people_schema):
    real = people(300, 1)
    result = mutual_information_similarity(people_schema, {"people": real}, {"people": real})
    assert result["tables"]["people"]["matrix"]["columns"] == ["age", "income", "city", "member", "joined"]


def test_pairs_independent_in_both_datasets_score_near_one():
    from airflow_provider_hazy.config.schema import DataSchema

    schema = DataSchema.model_validate(
        {"tables": [{"name": "t", "columns": [{"name": "a", "type": "float"}, {"name": "b", "type": "float"}]}]}
    )
    rng = np.random.default_rng(0)

    def noise():
        return {"t": pd.DataFrame({"a": rng.normal(size=20_000), "b": rng.normal(size=20_000)})}

    assert mutual_information_similarity(schema, noise(), noise())["score"] > 0.98


def test_cross_table_mutual_information_is_lost_when_children_ignore_their_parent(shop_schema):
    real = customers_orders(2_000, 1)
    synthetic = customers_orders(2_000, 2)
    kept = cross_table_mutual_information_similarity(shop_schema, real, synthetic)
    broken = {"customers": synthetic["customers"], "orders": synthetic["orders"].copy()}
    owners = broken["orders"]["customer_id"].to_numpy()
    broken["orders"]["customer_id"] = np.random.default_rng(5).permutation(owners)  # orders moved to random customers
    lost = cross_table_mutual_information_similarity(shop_schema, real, broken)
    assert kept["score"] > 0.95
    assert lost["score"] < 0.75
    entry = lost["tables"]["orders"]["foreign_keys"]["customer_id"]
    assert entry["parent"] == "customers.customer_id"
    assert set(entry["pairs"]) == {"segment|amount", "segment|channel", "age|amount", "age|channel"}
    assert entry["pairs"]["segment|amount"]["score"] < 0.5


def test_degree_distribution_of_shifted_child_counts_is_lower(shop_schema):
    real = customers_orders(2_000, 1)
    same = degree_distribution_similarity(shop_schema, real, customers_orders(2_000, 2))
    shifted = degree_distribution_similarity(shop_schema, real, customers_orders(2_000, 2, extra_orders=2))
    assert same["score"] > 0.95
    assert shifted["score"] < 0.6
    entry = shifted["tables"]["orders"]["foreign_keys"]["customer_id"]
    assert entry["score"] == pytest.approx(1 - entry["total_variation_distance"])
    assert entry["synthetic_summary"]["mean"] == pytest.approx(entry["real_summary"]["mean"] + 2, abs=0.2)


def test_parents_without_children_count_in_the_degree_distribution(shop_schema):
    real = customers_orders(1_000, 1)
    fewer_parents = {"customers": real["customers"], "orders": real["orders"]}
    more_parents = {
        "customers": pd.concat(
            [real["customers"], pd.DataFrame({"customer_id": np.arange(5_001, 6_001), "segment": "gold", "age": 60})]
        ),
        "orders": real["orders"],
    }
    result = degree_distribution_similarity(shop_schema, fewer_parents, more_parents)
    entry = result["tables"]["orders"]["foreign_keys"]["customer_id"]
    assert entry["synthetic_summary"]["parents"] == 2_000
    assert entry["synthetic_summary"]["zero_share"] > entry["real_summary"]["zero_share"]
    assert result["score"] < 0.7


def test_a_table_missing_from_the_synthetic_data_is_skipped_with_the_reason(shop_schema):
    real = customers_orders(100, 1)
    result = histogram_similarity(shop_schema, real, {"customers": real["customers"]})
    assert result["tables"]["orders"] == {"score": None, "skipped": "no synthetic data for this table"}
    assert result["score"] == 1.0


def test_an_unknown_table_is_an_error_naming_the_metric(shop_schema):
    real = customers_orders(100, 1)
    with pytest.raises(ValueError, match="histogram_similarity.*'nope'"):
        histogram_similarity(shop_schema, real, real, table="nope")
