"""An empirical privacy audit of the two mechanisms, as they run in training.

Neighbouring datasets D and D' differ in one replaced row. Each mechanism runs many times on each (fresh
noise every time, the default sampler), a statistic the changed row moves is thresholded into an event E,
and the privacy loss is bounded from below with exact Clopper-Pearson intervals:

    epsilon >= ln(lower(P_D'(E)) / upper(P_D(E)))    at confidence 1 - ALPHA (both intervals together)

A correct epsilon-DP mechanism keeps that lower bound below epsilon (the test asserts a margin); a
mechanism whose noise is too small for its budget pushes it above, which `..._detects_too_little_noise`
shows, so the audit can fail.

- count tables: the Laplace step of PrivBayes on a one-column table (`split_budget` gives the scale: the
  whole budget on one table of sensitivity 2). Moving one row from cell 0 to cell 1 moves the statistic
  noisy[1] - noisy[0] by 2. The trainings are drawn as one vector through `privbayes.noisy_counts` (one
  table per row), through OpenDP, which is what a table of this size uses.
- selection: `exponential_mechanism` on two candidates whose scores move by the sensitivity in opposite
  directions; the event is that candidate 1 is chosen.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from airflow_provider_hazy.core import privbayes
from airflow_provider_hazy.core.noise import FreshNoise
from airflow_provider_hazy.core.privacy import STRUCTURE_BUDGET_FRACTION, exponential_mechanism

EPSILON = 1.0
ALPHA = 0.01
MARGIN = 0.05
TRAININGS = 20_000
THRESHOLD = 6  # of noisy[1] - noisy[0]: P_D(E) about 0.07, where the loss shows and intervals stay narrow


@functools.lru_cache(maxsize=4)
def _log_choose(n: int) -> np.ndarray:
    log_factorial = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1)))])
    return log_factorial[n] - log_factorial - log_factorial[::-1]


def _log_binomial_pmf(n: int, p: float) -> np.ndarray:
    k = np.arange(n + 1)
    log_choose = _log_choose(n)
    with np.errstate(divide="ignore"):
        return log_choose + k * np.log(p) + (n - k) * np.log1p(-p)


def _tail(n: int, p: float, k: int, upper: bool) -> float:
    pmf = np.exp(_log_binomial_pmf(n, p))
    return float(pmf[k:].sum() if upper else pmf[: k + 1].sum())


def clopper_pearson(k: int, n: int, alpha: float) -> tuple[float, float]:
    """The exact two-sided (1 - alpha) interval of a binomial proportion with k successes in n trials
    (bisection on the binomial tails)."""

    def solve(target, upper_tail, lo, hi):
        for _ in range(60):
            mid = (lo + hi) / 2
            value = _tail(n, mid, k, upper_tail)
            # the upper tail grows with p, the lower tail shrinks
            if (value < target) == upper_tail:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    lower = 0.0 if k == 0 else solve(alpha / 2, True, 0.0, k / n)
    upper = 1.0 if k == n else solve(alpha / 2, False, k / n, 1.0)
    return lower, upper


def epsilon_lower_bound(hits_d: int, hits_neighbour: int, n: int) -> float:
    """The Clopper-Pearson lower bound of ln(P_D'(E) / P_D(E)) at confidence 1 - ALPHA (ALPHA / 2 each)."""
    lower_neighbour, _ = clopper_pearson(hits_neighbour, n, ALPHA / 2)
    _, upper_d = clopper_pearson(hits_d, n, ALPHA / 2)
    return math.log(lower_neighbour / upper_d)


def test_clopper_pearson_matches_known_intervals():
    lower, upper = clopper_pearson(5, 100, 0.05)  # R binom.test(5, 100): 0.01643 - 0.11284
    assert lower == pytest.approx(0.01643, abs=2e-5) and upper == pytest.approx(0.11284, abs=2e-5)


def count_statistic_hits(scale: float, threshold: int = THRESHOLD) -> tuple[int, int]:
    noise = FreshNoise()
    dataset = np.tile([50, 50], (TRAININGS, 1))  # D: one row in cell 0 ...
    neighbour = np.tile([49, 51], (TRAININGS, 1))  # ... D': that row replaced by one in cell 1
    hits = []
    for counts in (dataset, neighbour):
        noisy = privbayes.noisy_counts(counts, scale, noise)
        hits.append(int(((noisy[:, 1] - noisy[:, 0]) >= threshold).sum()))
    return hits[0], hits[1]


def test_the_count_mechanism_keeps_the_audited_epsilon_below_the_configured_one():
    budget = privbayes.split_budget(EPSILON, 1, 0, STRUCTURE_BUDGET_FRACTION)
    assert budget.laplace_scale == pytest.approx(2.0 / EPSILON)
    hits_d, hits_neighbour = count_statistic_hits(budget.laplace_scale)
    assert hits_neighbour > hits_d  # the statistic does move with the row
    assert epsilon_lower_bound(hits_d, hits_neighbour, TRAININGS) < EPSILON - MARGIN


def test_the_count_audit_detects_too_little_noise():
    # a mechanism with a third of the noise the budget needs: the audit's lower bound passes epsilon. The
    # threshold shrinks with the noise (6 / 3 = 2: P_D about 0.09 again, true loss 2.1, lower bound 2.03 +-
    # 0.02). At THRESHOLD 6, P_D was 0.0005 (10 hits) and the bound stayed below epsilon in 0.13% of runs.
    hits_d, hits_neighbour = count_statistic_hits(2.0 / EPSILON / 3, THRESHOLD // 3)
    assert epsilon_lower_bound(hits_d, hits_neighbour, TRAININGS) > EPSILON


@pytest.mark.parametrize("sensitivity", [0.5, 0.01])
def test_the_selection_keeps_the_audited_epsilon_below_the_configured_one(sensitivity):
    noise, n = FreshNoise(), 6000
    # each score moves by at most the sensitivity between D and D'
    picks_d = sum(exponential_mechanism([sensitivity, 0.0], sensitivity, EPSILON, noise) for _ in range(n))
    picks_neighbour = sum(exponential_mechanism([0.0, sensitivity], sensitivity, EPSILON, noise) for _ in range(n))
    assert picks_neighbour > picks_d
    assert epsilon_lower_bound(picks_d, picks_neighbour, n) < EPSILON - MARGIN
