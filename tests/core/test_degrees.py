"""core.degrees: the private degree cap (and its ledger entry), totals, secondary degrees, distinct picks."""

from __future__ import annotations

import numpy as np
import pytest

from airflow_provider_hazy.core import degrees as deg
from airflow_provider_hazy.core.noise import ReproducibleNoise
from airflow_provider_hazy.core.privacy import BudgetLedger


def heavy_tailed_degrees(n_parents: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = np.minimum(np.rint(rng.pareto(1.2, n_parents) * 3).astype(np.int64), 5000)
    values[0] = 3290  # one playlist with 3,290 tracks
    return values


def test_with_a_large_budget_the_cap_is_just_above_the_largest_degree():
    degrees = heavy_tailed_degrees(200, 0)
    ledger = BudgetLedger(noise=ReproducibleNoise(0))  # the thresholds were measured on these draws
    caps = [
        deg.private_degree_cap(
            degrees,
            40,
            int(degrees.sum()),
            epsilon=50.0,
            ledger=ledger,
            table="tracks",
            relation="r",
        )
        for seed in range(20)
    ]
    assert min(caps) >= degrees.max()
    assert np.median(caps) <= 2 * degrees.max()
    # one exponential-mechanism entry per choice, sensitivity 1, the epsilon given
    assert len(ledger.entries) == 20
    entry = ledger.entries[0]
    assert (entry.purpose, entry.mechanism, entry.sensitivity, entry.epsilon) == (
        "degree_cap",
        "report_noisy_max",
        1.0,
        50.0,
    )


def test_with_a_small_budget_the_cap_stays_near_the_public_default():
    degrees = heavy_tailed_degrees(200, 1)
    caps = [
        deg.private_degree_cap(
            degrees,
            40,
            int(degrees.sum()),
            epsilon=0.01,
            ledger=BudgetLedger(noise=ReproducibleNoise(seed)),
            table="t",
            relation="r",
        )
        for seed in range(200)
    ]
    assert 20 <= np.median(caps) <= 80


def test_the_cap_never_exceeds_the_public_child_count():
    grid = deg.cap_grid(37)
    assert grid[0] == 1 and grid[-1] == 37 and np.all(np.diff(grid) > 0)


@pytest.mark.parametrize("target", [0, 500, 1000, 1900])
def test_hit_total_reaches_the_target_within_the_cap(target):
    rng = np.random.default_rng(3)
    drawn = rng.integers(0, 10, 200)
    out = deg.hit_total(drawn, target, 10, rng)
    assert out.sum() == target and out.min() >= 0 and out.max() <= 10


def test_hit_total_keeps_zeros_and_the_shape_when_scaling_up():
    rng = np.random.default_rng(4)
    drawn = np.where(rng.random(1000) < 0.5, 0, rng.integers(1, 20, 1000))
    out = deg.hit_total(drawn, int(drawn.sum() * 1.2), 100, rng)
    assert ((out == 0) == (drawn == 0)).all()
    assert np.corrcoef(out, drawn)[0, 1] > 0.9


def test_distinct_within_groups_removes_repeats_and_keeps_degrees():
    rng = np.random.default_rng(5)
    group = np.repeat(np.arange(300), 4)
    picks = rng.choice(20, size=len(group), p=np.r_[0.2, np.full(19, 0.8 / 19)])
    fixed = deg.distinct_within_groups(picks, group, 20, rng)
    assert np.array_equal(np.bincount(fixed, minlength=20), np.bincount(picks, minlength=20))
    pairs = group * 20 + fixed
    assert len(np.unique(pairs)) == len(pairs)


def test_secondary_degrees_follow_a_skewed_histogram_and_are_charged():
    ledger = BudgetLedger()
    rng = np.random.default_rng(6)
    parent_degrees = np.r_[np.full(60, 1), np.full(15, 10), [54, 40]]
    parent_index = rng.permutation(np.repeat(np.arange(len(parent_degrees)), parent_degrees))
    model = deg.fit_secondary_degrees(
        "lines(product) -> products(id)",
        parent_index,
        len(parent_degrees),
        len(parent_index),
        epsilon=100.0,
        ledger=ledger,
        table="lines",
    )
    assert model.cap == len(parent_index)  # the public largest degree: no cap to choose, nothing clipped
    (entry,) = ledger.entries
    assert (entry.purpose, entry.mechanism, entry.epsilon) == ("secondary_degrees", "discrete_laplace", 100.0)
    assert entry.sensitivity == deg.DEGREE_SENSITIVITY
    assert entry.scale == pytest.approx(deg.DEGREE_SENSITIVITY / 100.0)
    picks = model.parent_rows(len(parent_index), len(parent_degrees), None, rng)
    drawn = np.bincount(picks, minlength=len(parent_degrees))
    assert drawn.sum() == len(parent_index) and drawn.max() >= 27
    assert (drawn <= 1).mean() == pytest.approx((parent_degrees <= 1).mean(), abs=0.15)


def test_secondary_degrees_round_trip():
    model = deg.SecondaryDegrees("r", 3, np.array([0.1, 0.2, 0.3, 0.4]))
    assert list(model.lower) == [0, 1, 2, 3]
    again = deg.SecondaryDegrees.from_parts(model.to_json(), model.arrays())
    assert again.cap == 3 and np.array_equal(again.probabilities, model.probabilities)
    with pytest.raises(ValueError, match="secondary degrees of r: malformed"):
        deg.SecondaryDegrees.from_parts({"relation": "r", "cap": 5}, model.arrays())


def test_tilt_to_mean_stays_finite_with_a_large_cap_and_a_narrow_row() -> None:
    """Regression: a private cap of ~100 and a row whose support is degrees 0-1 made the tilt's row maximum an
    empty cell's exponent, the support underflowed to 0 and the row became NaN, so the saved model was refused
    on load as a malformed degree table."""
    from airflow_provider_hazy.core.multitable import tilt_to_mean

    cap = 100
    narrow = np.zeros(cap + 1)
    narrow[:2] = 0.5
    wide = np.full(cap + 1, 1.0 / (cap + 1))
    probabilities = np.vstack([narrow, wide])
    tilted = tilt_to_mean(probabilities, np.array([1.0, 1.0]), target=60.0)
    assert np.all(np.isfinite(tilted))
    np.testing.assert_allclose(tilted.sum(axis=1), 1.0)
    assert np.all(tilted[0, 2:] == 0.0)  # the tilt never moves mass outside a row's support
    assert tilted[1] @ np.arange(cap + 1) > 60.0  # the wide row carries the mean the narrow row cannot
