"""Privacy primitives: Laplace noise, the exponential mechanism, the PrivBayes mutual-information
sensitivity, and the budget ledger."""

import json
import math

import numpy as np
import pytest

from airflow_provider_hazy.core.privacy import (
    BudgetLedger,
    LedgerEntry,
    exponential_mechanism,
    laplace_noise,
    mutual_information_sensitivity,
)

# Laplace noise --------------------------------------------------------------------------------------------


def test_laplace_noise_has_the_requested_shape_and_variance_two_scale_squared():
    noise = laplace_noise((400, 500), 3.0, np.random.default_rng(0))
    assert noise.shape == (400, 500)
    assert abs(noise.mean()) < 0.05
    assert noise.var() == pytest.approx(2 * 3.0**2, rel=0.02)


def test_laplace_noise_rejects_a_negative_or_infinite_scale():
    with pytest.raises(ValueError, match="scale"):
        laplace_noise(3, -1.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="scale"):
        laplace_noise(3, math.inf, np.random.default_rng(0))


# Exponential mechanism ------------------------------------------------------------------------------------


def test_exponential_mechanism_draws_each_candidate_with_the_exponential_frequency():
    scores, epsilon, sensitivity = [0.0, 1.0, 2.0], 1.5, 0.5
    rng = np.random.default_rng(7)
    draws = np.array([exponential_mechanism(scores, sensitivity, epsilon, rng) for _ in range(20_000)])
    weights = np.exp(epsilon * np.array(scores) / (2 * sensitivity))
    expected = weights / weights.sum()
    observed = np.bincount(draws, minlength=3) / draws.size
    assert np.abs(observed - expected).max() < 0.01


def test_exponential_mechanism_does_not_overflow_on_large_scores():
    rng = np.random.default_rng(0)
    draws = [exponential_mechanism([1e6, 1e6 + 1.0, 0.0], 1.0, 2.0, rng) for _ in range(2000)]
    frequency_of_best = np.mean(np.array(draws) == 1)
    assert frequency_of_best == pytest.approx(math.e / (1 + math.e), abs=0.03)


def test_exponential_mechanism_with_zero_sensitivity_returns_a_best_candidate():
    rng = np.random.default_rng(0)
    draws = {exponential_mechanism([0.0, 3.0, 3.0, 1.0], 0.0, 1.0, rng) for _ in range(200)}
    assert draws == {1, 2}


def test_exponential_mechanism_rejects_no_candidates_and_a_bad_epsilon():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        exponential_mechanism([], 1.0, 1.0, rng)
    with pytest.raises(ValueError, match="epsilon"):
        exponential_mechanism([1.0], 1.0, math.inf, rng)


# Mutual-information sensitivity (Zhang et al., TODS 2017, Lemma 4.1) ----------------------------------------


@pytest.mark.parametrize(
    ("n_rows", "binary", "expected"),
    [
        # (1/2) log2 2 + (1/2) log2 2 = 1
        (2, True, 1.0),
        # (2/2) log2(3/2) + (1/2) log2 3 = 0.5849625 + 0.7924813
        (2, False, 1.3774437510817341),
        # (1/4) log2 4 + (3/4) log2(4/3) = 0.5 + 0.75 * 0.4150375
        (4, True, 0.8112781244591328),
        # (2/4) log2(5/2) + (3/4) log2(5/3) = 0.5 * 1.3219281 + 0.75 * 0.7369656
        (4, False, 1.2136882430683360),
        # 0.001 log2 1000 + 0.999 log2(1000/999) = 0.0099658 + 0.0014420
        (1000, True, 0.011407757737461263),
        # 0.002 log2 500.5 + 0.999 log2(1001/999) = 0.0179345 + 0.0028825
        (1000, False, 0.020816958170203542),
    ],
)
def test_mutual_information_sensitivity_matches_lemma_4_1(n_rows, binary, expected):
    assert mutual_information_sensitivity(n_rows, binary_child=binary) == pytest.approx(expected, rel=1e-12)


def test_mutual_information_sensitivity_is_zero_for_at_most_one_row():
    assert mutual_information_sensitivity(0, binary_child=False) == 0.0
    assert mutual_information_sensitivity(1, binary_child=True) == 0.0


def test_mutual_information_sensitivity_of_the_binary_case_is_the_smaller():
    for n_rows in (3, 10, 1000, 10**6):
        assert mutual_information_sensitivity(n_rows, True) < mutual_information_sensitivity(n_rows, False)


# Budget ledger --------------------------------------------------------------------------------------------


def charge(ledger, table="orders", epsilon=0.25, **overrides):
    arguments = dict(
        table=table, purpose="conditional", mechanism="laplace", epsilon=epsilon, sensitivity=2.0, scale=8.0
    )
    arguments.update(overrides)
    return ledger.charge(**arguments)


def test_charge_returns_the_recorded_entry():
    ledger = BudgetLedger()
    entry = charge(ledger, detail={"child": np.int64(3), "parents": (1, 2)})
    assert entry == LedgerEntry(
        "orders", "conditional", "laplace", 0.25, 2.0, 8.0, {"child": 3, "parents": [1, 2]}
    )
    assert ledger.entries == (entry,)


def test_total_epsilon_is_the_sum_of_the_charges():
    ledger = BudgetLedger()
    for _ in range(10):
        charge(ledger, epsilon=0.1)
    assert ledger.total_epsilon == pytest.approx(1.0, rel=1e-15)


def test_charges_are_reported_per_table():
    ledger = BudgetLedger()
    charge(ledger, table="orders", epsilon=0.5)
    charge(ledger, table="customers", epsilon=0.2)
    charge(ledger, table="orders", epsilon=0.25)
    assert [entry.epsilon for entry in ledger.for_table("orders")] == [0.5, 0.25]
    assert ledger.total_for_table("customers") == 0.2
    assert ledger.total_for_table("nobody") == 0.0


def test_ledger_round_trips_through_json():
    ledger = BudgetLedger()
    charge(ledger, detail={"child": np.int64(3), "cells": np.int32(40), "weight": np.float32(0.5)})
    charge(ledger, purpose="structure", mechanism="exponential", scale=None, detail="step 1")
    text = json.dumps(ledger.to_dict())
    restored = BudgetLedger.from_dict(json.loads(text))
    assert restored.entries == ledger.entries
    assert json.loads(text)["total_epsilon"] == ledger.total_epsilon


def test_a_text_detail_is_stored_as_a_description():
    entry = charge(BudgetLedger(), detail="column 'amount': null count")
    assert entry.detail == {"description": "column 'amount': null count"}


def test_charging_an_infinite_or_negative_epsilon_is_an_error():
    with pytest.raises(ValueError, match="orders"):
        charge(BudgetLedger(), epsilon=math.inf)
    with pytest.raises(ValueError, match="orders"):
        charge(BudgetLedger(), epsilon=-0.1)
