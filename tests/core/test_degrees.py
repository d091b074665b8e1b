"""core.degrees: the private degree cap (and its ledger entry), totals, secondary degrees, distinct picks."""

from __future__ import annotations

import numpy as np
import pytest

from airflow_provider_hazy.core import degrees as deg
from airflow_provider_hazy.core import multitable
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
            histogram_scale=4.0 / 150.0,
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
            histogram_scale=4.0 / 0.03,
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


def test_clipped_children_change_by_at_most_one_when_a_child_moves():
    # the cap's utility: a replaced child row moves one child from parent a to parent b (sensitivity 1)
    rng = np.random.default_rng(3)
    grid = deg.cap_grid(400)
    for _ in range(300):
        degrees = heavy_tailed_degrees(int(rng.integers(2, 60)), int(rng.integers(1 << 30))) % 300
        a, b = rng.choice(len(degrees), size=2, replace=False)
        if degrees[a] == 0:
            continue
        moved = degrees.copy()
        moved[a] -= 1
        moved[b] += 1
        change = deg.clipped_children(moved, grid) - deg.clipped_children(degrees, grid)
        assert np.abs(change).max() <= 1
    assert deg.clipped_children(np.array([25, 6, 6, 0]), np.array([1, 6, 11, 25])).tolist() == [34, 19, 14, 0]


def test_one_large_parent_keeps_the_cap_above_it():
    # Northwind's Order Details: one order of 25 lines among 830 orders of at most 6; the cap's budget at
    # epsilon 1000. Counting clipped parents (a utility gap of 1) chose a cap under 13 about one run in 20;
    # the clipped children score 14 against the default cap of 11 (union bound on a lower cap: ~1e-23).
    rng = np.random.default_rng(0)
    degrees = np.append(rng.integers(1, 7, size=829), 25)
    caps = [
        deg.private_degree_cap(
            degrees,
            11,
            int(degrees.sum()),
            epsilon=9.26,
            histogram_scale=4.0 / 27.8,
            ledger=BudgetLedger(noise=ReproducibleNoise(seed)),
            table="Order Details",
            relation="r",
        )
        for seed in range(300)
    ]
    assert min(caps) >= 19 and max(caps) <= 45 and np.median(caps) >= 25


def test_the_top_degree_survives_a_split_over_parent_combinations():
    # the one parent with 25 children sits in combination 4, whose synthetic rows (100) are fewer than the
    # source's (110): per-combination systematic sampling alone draws it with probability 100 / 110
    probabilities = np.zeros((15, 28))
    probabilities[:, 1:7] = 1 / 6
    probabilities[4, 1:7] = (1 - 1 / 110) / 6
    probabilities[4, 25] = 1 / 110
    model = multitable.DegreeModel(
        relation=multitable.Relation("c", ("k",), "p", ("k",)),
        adjacency="degree_preserving",
        cap=27,
        ratio=3.5,
        parent_columns=(0,),
        levels=(0,),
        sizes=(15,),
        coarsenings=(None,),
        probabilities=probabilities,
    )
    codes = np.repeat(np.arange(15), np.where(np.arange(15) == 4, 100, 50))[:, None]
    tops = [model.degrees(codes, np.random.default_rng(seed)).max() for seed in range(300)]
    assert min(tops) >= 20  # hit_total may take a few children off it
    # no degree expected at half a row or more above the drawn maximum: nothing changes
    drawn = np.ones(10, dtype=np.int64)
    assert (
        deg.keep_the_top(
            drawn, np.zeros(10, dtype=np.int64), np.array([[0.0, 0.99, 0.01]]), np.random.default_rng(0)
        ).tolist()
        == [1] * 10
    )


def test_a_combination_of_one_source_row_leans_on_the_pooled_distribution():
    # one combination holds 200 parents of degree 1-3, another one noisy parent of degree 38: synthetic rows
    # that land in the second must not all take 38 children
    probabilities = np.zeros((2, 40))
    probabilities[0, 1:4] = 1 / 3
    probabilities[1, 38] = 1.0
    shrunk = deg.shrink_to_pooled(probabilities, np.array([200.0, 1.0]))
    assert np.allclose(shrunk.sum(axis=1), 1.0)
    assert shrunk[1, 38] == pytest.approx((1 + 10 / 201) / 11)
    assert shrunk[0, 38] == pytest.approx(10 / 201 / 210) and shrunk[0, 1] > 0.3
    assert deg.shrink_to_pooled(probabilities, np.zeros(2)) is probabilities


def test_the_pooled_row_of_a_degree_model_survives_its_arrays():
    rng = np.random.default_rng(0)
    degrees = rng.integers(0, 8, size=600)
    codes = rng.integers(0, 4, size=(600, 1))
    hierarchy = multitable.privbayes.check_inputs(codes, [4], None, "p").hierarchies
    model = multitable.fit_degree_model(
        multitable.Relation("c", ("k",), "p", ("k",)),
        degrees,
        codes,
        hierarchy,
        [0],
        7,
        int(degrees.sum()),
        epsilon=50.0,
        ledger=BudgetLedger(noise=ReproducibleNoise(0)),
    )
    assert model.pooled is not None and model.pooled.sum() == pytest.approx(1.0)
    back = multitable.DegreeModel.from_parts(model.to_json(), model.arrays())
    assert np.array_equal(back.pooled, model.pooled)
    old = {k: v for k, v in model.arrays().items() if k != "pooled"}  # a model saved before the pooled row
    assert multitable.DegreeModel.from_parts(model.to_json(), old).pooled is None
