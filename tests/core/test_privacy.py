"""Privacy primitives: discrete Laplace noise, the selection mechanism, the PrivBayes mutual-information
sensitivity, and the budget ledger."""

import json
import math

import numpy as np
import pytest

from airflow_provider_hazy.core.noise import FreshNoise, ReproducibleNoise
from airflow_provider_hazy.core.privacy import (
    BudgetLedger,
    LedgerEntry,
    exponential_mechanism,
    mutual_information_sensitivity,
    noisy_counts,
)

# Discrete Laplace on counts --------------------------------------------------------------------------------


def discrete_laplace_variance(scale: float) -> float:
    q = math.exp(-1.0 / scale)
    return 2 * q / (1 - q) ** 2


@pytest.mark.parametrize("noise", [FreshNoise(), ReproducibleNoise(0)], ids=["fresh", "reproducible"])
def test_noisy_counts_are_integers_with_the_discrete_laplace_variance(noise):
    counts = np.full((300, 400), 7, dtype=np.int64)
    noisy = noisy_counts(counts, 3.0, noise)
    assert noisy.shape == (300, 400) and noisy.dtype == np.float64
    assert np.all(noisy == np.round(noisy))
    assert abs((noisy - 7).mean()) < 0.05
    assert (noisy - 7).var() == pytest.approx(discrete_laplace_variance(3.0), rel=0.03)


def test_noisy_counts_reject_a_negative_or_infinite_scale_and_fractional_counts():
    with pytest.raises(ValueError, match="scale"):
        noisy_counts(np.zeros(3, dtype=np.int64), -1.0, FreshNoise())
    with pytest.raises(ValueError, match="scale"):
        noisy_counts(np.zeros(3, dtype=np.int64), math.inf, FreshNoise())
    with pytest.raises(ValueError, match="integer"):
        noisy_counts(np.array([0.5, 1.0]), 1.0, FreshNoise())


# Selection (report noisy max, exponential noise) ----------------------------------------------------------


def draw_frequencies(scores, sensitivity, epsilon, noise, n_draws):
    draws = np.array([exponential_mechanism(scores, sensitivity, epsilon, noise) for _ in range(n_draws)])
    return np.bincount(draws, minlength=len(scores)) / n_draws


@pytest.mark.parametrize("noise", [FreshNoise(), ReproducibleNoise(7)], ids=["fresh", "reproducible"])
def test_selection_keeps_the_probability_ratio_of_neighbouring_scores_within_e_to_the_epsilon(noise):
    epsilon, sensitivity = 1.0, 0.5
    # every score moves by at most the sensitivity between the two neighbouring datasets
    before = draw_frequencies([0.0, 0.5, 1.0], sensitivity, epsilon, noise, 6000)
    after = draw_frequencies([0.5, 0.0, 0.5], sensitivity, epsilon, noise, 6000)
    assert before[2] > before[1] > before[0]
    ratios = np.maximum(before / after, after / before)
    assert ratios.max() < math.exp(epsilon) * 1.15  # sampling error of 6000 draws


def test_selection_does_not_overflow_on_large_scores():
    frequencies = draw_frequencies([1e6, 1e6 + 1.0, 0.0], 1.0, 2.0, ReproducibleNoise(0), 2000)
    assert frequencies[2] == 0 and frequencies[1] > frequencies[0]


def test_selection_with_zero_sensitivity_returns_a_best_candidate():
    draws = {exponential_mechanism([0.0, 3.0, 3.0, 1.0], 0.0, 1.0, FreshNoise()) for _ in range(200)}
    assert draws == {1, 2}


def test_selection_rejects_no_candidates_and_a_bad_epsilon():
    with pytest.raises(ValueError):
        exponential_mechanism([], 1.0, 1.0, FreshNoise())
    with pytest.raises(ValueError, match="epsilon"):
        exponential_mechanism([1.0], 1.0, math.inf, FreshNoise())


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


def test_total_delta_is_the_sum_of_the_mechanisms_deltas_and_round_trips():
    ledger = BudgetLedger()
    charge(ledger, epsilon=0.5)
    charge(ledger, epsilon=0.25, delta=1e-6)
    charge(ledger, epsilon=0.25, delta=1e-6)
    assert ledger.total_delta == pytest.approx(2e-6, rel=1e-12)
    stored = json.loads(json.dumps(ledger.to_dict()))
    assert stored["total_delta"] == ledger.total_delta
    assert BudgetLedger.from_dict(stored).total_delta == ledger.total_delta


def test_a_delta_outside_zero_to_one_is_an_error():
    with pytest.raises(ValueError, match="delta"):
        charge(BudgetLedger(), delta=1.0)


def test_the_ledger_records_whether_its_noise_was_fresh_or_reproducible():
    fresh, seeded = BudgetLedger(), BudgetLedger(noise=ReproducibleNoise(42))
    assert fresh.private_noise and fresh.to_dict()["noise"] == "fresh (OS entropy, OpenDP samplers)"
    assert not seeded.private_noise and seeded.to_dict()["noise"] == "reproducible (not private)"
    restored = BudgetLedger.from_dict(json.loads(json.dumps(seeded.to_dict())))
    assert not restored.private_noise
    with pytest.raises(RuntimeError, match="no noise source"):
        restored.noise.discrete_laplace(np.zeros(2, dtype=np.int64), 1.0)
    assert not BudgetLedger.from_dict({"entries": []}).private_noise  # written before noise was recorded
