"""Degrees (children per parent row) of foreign keys: the private degree cap, the total that keeps a child
table's row count, and the degree model of secondary foreign keys. NumPy only (see docs/multitable.md).

Neighbouring relation as in `multitable`: one row of one table replaced; keys are structure (a replaced
parent row keeps its key, so its degree), a replaced child row may move from parent a to parent b (degree of
a down one, of b up one).

- `private_degree_cap`: the cap D on children per parent row is chosen by the exponential mechanism over
  the grid of `CAP_STEPS_PER_DOUBLING` caps per doubling from 1 to min(n_child, `MAX_DEGREE_CAP`), with
  utility u(D) = -(children clipped by D, sum over parent rows of max(0, degree - D)) - `CAP_SIZE_PENALTY`
  log2(D) - `CAP_NOISE_PENALTY` b max(0, D - D0), b the Laplace scale of one cell of the degree histogram
  the cap is for, D0 the public default cap (`multitable`: 4 x the mean degree). A replaced child row moves
  one child from parent a to parent b: a's clipped children change by 0 or -1, b's by 0 or +1, so u
  changes by at most 1 (sensitivity 1; both penalties read only public values: D, D0, epsilon). The clipped
  children give a tail a signal in proportion to its size (one order with 25 lines among orders of at most
  6 scores 14 against a cap of 11, where the count of clipped parents scored 1 and lost to the noise about
  one run in twenty). The noise penalty stops the cap where raising it by one would un-clip fewer parent rows
  than b, the noise of the cell it adds: a degree that fewer parents than the noise of one cell reach
  cannot be told from noise in the histogram (a large budget: b is small and the cap is just above the
  largest degree; a small one: the cap clips the few largest parents). The mechanism has a public base
  measure (a prior) centred on D0, exp(-`CAP_PRIOR_PER_DOUBLING` x |log2(D / D0)|): with a small budget and
  few clipped children the cap stays near D0. It spends `CAP_BUDGET_FRACTION` of the relation's degree
  budget (ledger purpose "degree_cap").
- `keep_the_top`: degrees drawn per parent combination (systematic sampling within each) keep each
  combination's histogram to within a row per degree, but a degree the model gives one parent row in all
  (Northwind: one order of 25 lines) is split over combinations whose expected counts are fractions, and
  the draw misses it whenever the synthetic combinations come out a little smaller than the source's (about
  one run in fifteen). The top is therefore rounded over the whole batch: with x the largest degree the
  model expects at least half a parent row at or above (summed over the batch's rows with their
  combinations' rows, or from the model's pooled distribution times the batch's rows, whichever is larger),
  a draw with no row at or above x gets one: a row of a combination chosen in proportion to its expected
  count there takes a degree drawn from that combination's row above x. Post-processing of the model.
- `shrink_to_pooled`: a parent combination that few source rows fill (or that only noise filled: one noisy
  count makes its row a point mass) says little about its degrees, but the synthetic parent table may put
  many rows there (Northwind: orders whose required date is far from the order date, rare in the source,
  came out in tens; each took the 25 or 38 children of the one source row there, the other orders lost
  theirs to the public total, degree TVD 0.5, about one run in a hundred). Each combination's row is
  therefore pulled to the pooled distribution as if `DEGREE_PRIOR_ROWS` parent rows of the pooled
  distribution were added to it: (w P(d | c) + k P(d)) / (w + k), w its noisy parent rows. Post-processing.
- `hit_total`: degrees drawn by a model are rescaled to a public total (row counts are public) by adding
  or removing children in proportion to the drawn degrees (a multinomial draw), within the cap: rows of a
  table whose driving parent decides its size come out within rounding of the source's count at magnitude 1.
- `SecondaryDegrees`: for a foreign key that is not the driving one (children used to pick a parent row
  uniformly, which flattens a skewed degree distribution), a noisy histogram of the degrees on bins 0, 1, 2,
  3, then `HISTOGRAM_STEPS_PER_DOUBLING` per doubling up to the child row count (public: no cap to choose,
  nothing clipped) (few cells, so few parents still give a useful histogram; Laplace, sensitivity 4 as the
  driving degree model, every cell noised; cells not clearly above the noise taken as empty
  (`secondary_thresholds`: a strict threshold above the mean degree, where a false cell gives a parent row
  many children, a lenient one below it), then projected to the public parent count,
  `privbayes.project_to_total`; a degree is uniform within its bin). At generation every parent row of the
  batch draws a degree from it, the degrees are brought to the number of child rows (`hit_total`) and the
  child rows take a random permutation of the parents repeated by their degrees; within a group that must not
  repeat a parent (a primary key made of two foreign keys) repeats are swapped away
  (`distinct_within_groups`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

import numpy as np

from . import privbayes
from .privacy import COUNT_MECHANISM, SELECTION_MECHANISM, BudgetLedger, exponential_mechanism
from .privbayes_model import systematic_uniforms

CAP_BUDGET_FRACTION = 0.25
"""Share of a degree model's budget spent on choosing its cap."""
CAP_PRIOR_PER_DOUBLING = 1.0
"""Log-weight the cap's public prior loses per doubling away from the default cap."""
CAP_SIZE_PENALTY = 0.1
"""Children's worth of utility a cap loses per doubling (public): among caps that clip no child and add no
noise penalty (at most the default cap), the smallest wins when the budget is large (the degree histogram
then has no empty tail)."""
CAP_NOISE_PENALTY = 1.0
"""Utility a cap loses per unit above the default cap, in units of the degree histogram's Laplace scale
(public): the cap rises while a unit more un-clips more parent rows than the noise of the cell it adds."""
CAP_STEPS_PER_DOUBLING = 4
MAX_DEGREE_CAP = 10_000
DEGREE_SENSITIVITY = 4.0
"""L1 change of a degree histogram when a child row moves from one parent to another (two cells of each of
two parents' degrees: -1 and +1 twice)."""
DEGREE_PRIOR_ROWS = 10.0
"""Pooled-distribution parent rows added to each parent combination's degree row (`shrink_to_pooled`): a
combination of 10 source rows keeps half its own distribution, one of 100 keeps 91%."""
SWAP_ROUNDS = 50
P_FAIL = 0.002
"""Probability that noise alone passes the threshold of some bin of a secondary histogram above the mean
degree (`secondary_thresholds`). At 0.05 (a count of 4 at Northwind's scale of 0.54) a false product with 90
to 1,400 order lines took a tenth of the table's lines from the others about one run in 100-200 (degree
TVD 0.15-0.55); at 0.002 a false cell needs 5 (about 1 run in 700)."""
P_FAIL_LOW = 0.5
"""The same for the bins ending at or below the mean degree, where a false cell does little harm."""
HISTOGRAM_STEPS_PER_DOUBLING = 2
"""Bins per doubling of a secondary degree histogram: few cells, so that a parent table of a few dozen rows
still gives counts above the noise."""


def cap_grid(upper: int) -> np.ndarray:
    """Candidate caps: round(2 ** (j / CAP_STEPS_PER_DOUBLING)) from 1 to `upper`, distinct, and `upper`."""
    upper = max(int(upper), 1)
    steps = int(math.ceil(math.log2(upper) * CAP_STEPS_PER_DOUBLING)) + 1
    grid = np.unique(np.round(2.0 ** (np.arange(steps) / CAP_STEPS_PER_DOUBLING)).astype(np.int64))
    return np.unique(np.append(grid[grid <= upper], upper))


def private_degree_cap(
    degrees: np.ndarray,
    default_cap: int,
    n_child: int,
    *,
    epsilon: float,
    histogram_scale: float,
    ledger: BudgetLedger,
    table: str,
    relation: str,
) -> int:
    """The degree cap by the exponential mechanism (see the module docstring), charged to `ledger`.
    `histogram_scale` is the Laplace scale of one cell of the degree histogram the cap is for (public)."""
    grid = cap_grid(min(max(int(n_child), 1), MAX_DEGREE_CAP))
    default_cap = int(min(max(default_cap, 1), grid[-1]))
    clipped = clipped_children(degrees, grid)
    prior = -CAP_PRIOR_PER_DOUBLING * np.abs(np.log2(grid / default_cap))
    penalty = CAP_SIZE_PENALTY * np.log2(grid) + CAP_NOISE_PENALTY * histogram_scale * np.maximum(grid - default_cap, 0)
    utility = -clipped - penalty
    scores = utility + (2.0 * 1.0 / epsilon) * prior  # weights exp(eps u / 2) * exp(prior)
    cap = int(grid[exponential_mechanism(scores, 1.0, epsilon, ledger.noise)])
    ledger.charge(
        table=table,
        purpose="degree_cap",
        mechanism=SELECTION_MECHANISM,
        epsilon=epsilon,
        sensitivity=1.0,
        scale=None,
        detail={
            "relation": relation,
            "candidates": int(len(grid)),
            "default_cap": default_cap,
            "cap": cap,
            "utility": f"minus the children the cap clips (sum over parent rows of max(0, degree - cap)), minus "
            f"{CAP_SIZE_PENALTY:g} log2(cap), minus {CAP_NOISE_PENALTY:g} x {histogram_scale:.6g} (the degree "
            "histogram's Laplace scale) x max(0, cap - default_cap)",
            "prior": f"exp(-{CAP_PRIOR_PER_DOUBLING:g} |log2(cap / default_cap)|), public",
        },
    )
    return cap


def clipped_children(degrees: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """For each cap D of `caps`, the children a cap D clips: the sum over `degrees` of max(0, degree - D)."""
    ordered = np.sort(np.asarray(degrees, dtype=np.int64))
    suffix = np.concatenate([np.cumsum(ordered[::-1])[::-1], [0]])  # sum of ordered[i:]
    first_above = np.searchsorted(ordered, caps, side="right")
    above = len(ordered) - first_above
    return (suffix[first_above] - above * np.asarray(caps, dtype=np.int64)).astype(np.float64)


def fill_within_bins(lower: np.ndarray, upper: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Integers in [lower, upper) per row summing to `total` when sum(lower) <= total <= sum(upper - 1): each
    row starts at its lower end and the rest is spread in proportion to each row's room (a multinomial draw,
    repeated for what the rooms cut off). Outside that range the rows go to their lower (upper) ends."""
    lower = np.asarray(lower, dtype=np.int64)
    room = np.asarray(upper, dtype=np.int64) - 1 - lower
    extra = np.zeros(len(lower), dtype=np.int64)
    remaining = int(min(max(int(total) - int(lower.sum()), 0), int(room.sum())))
    for _ in range(64):
        if remaining <= 0:
            break
        free = room - extra
        weights = free.astype(np.float64)
        extra += np.minimum(rng.multinomial(remaining, weights / weights.sum()), free)
        remaining = int(min(int(total) - int(lower.sum()), int(room.sum()))) - int(extra.sum())
    return lower + extra


def shrink_to_pooled(probabilities: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each row of `probabilities` (a degree distribution per parent combination, `weights` its noisy parent
    rows) pulled to the pooled distribution with `DEGREE_PRIOR_ROWS` pseudo-rows (module docstring)."""
    weights = np.maximum(np.asarray(weights, dtype=np.float64), 0.0)
    if weights.sum() <= 0:
        return probabilities
    pooled = weights @ probabilities / weights.sum()
    return (weights[:, None] * probabilities + DEGREE_PRIOR_ROWS * pooled[None, :]) / (
        weights[:, None] + DEGREE_PRIOR_ROWS
    )


def keep_the_top(
    drawn: np.ndarray,
    combination: np.ndarray,
    probabilities: np.ndarray,
    rng: np.random.Generator,
    pooled: Optional[np.ndarray] = None,
) -> np.ndarray:
    """`drawn` (a degree per row, row i drawn from `probabilities[combination[i]]`) with the top of the
    distribution rounded over all rows (see the module docstring): if no row is at or above x, the largest
    degree with at least half a row expected at or above it, one row is moved there. `pooled`: the model's
    degree distribution over all parent rows (None: the combinations' rows alone)."""
    drawn = np.asarray(drawn, dtype=np.int64)
    if len(drawn) == 0:
        return drawn
    rows = np.bincount(combination, minlength=probabilities.shape[0]).astype(np.float64)
    above = np.cumsum(probabilities[:, ::-1], axis=1)[:, ::-1]  # P(degree >= x | combination)
    expected = rows @ above
    if pooled is not None:
        expected = np.maximum(expected, len(drawn) * np.cumsum(pooled[::-1])[::-1])
    top = int(np.flatnonzero(expected >= 0.5).max(initial=0))
    if top == 0 or drawn.max() >= top:
        return drawn
    weights = rows * above[:, top]
    if weights.sum() <= 0:
        return drawn
    chosen = int(rng.choice(len(weights), p=weights / weights.sum()))
    row = int(rng.choice(np.flatnonzero(combination == chosen)))
    tail = probabilities[chosen, top:]
    drawn = drawn.copy()
    drawn[row] = top + int(rng.choice(len(tail), p=tail / tail.sum()))
    return drawn


def hit_total(degrees: np.ndarray, target: int, cap: int, rng: np.random.Generator) -> np.ndarray:
    """`degrees` (each <= cap) changed to sum to `target` (at most len * cap): children are added to, or
    removed from, parent rows in proportion to their degrees (all rows alike when every degree is 0),
    never past the cap or below 0. Post-processing: reads the drawn degrees and public counts only."""
    degrees = np.asarray(degrees, dtype=np.int64).copy()
    if len(degrees) == 0:
        return degrees
    target = int(min(max(int(target), 0), len(degrees) * int(cap)))
    for _ in range(64):
        gap = target - int(degrees.sum())
        if gap == 0:
            break
        if gap > 0:
            room = degrees < cap
            weights = np.where(room, degrees, 0).astype(np.float64)
            if weights.sum() <= 0:
                weights = room.astype(np.float64)
            degrees += rng.multinomial(gap, weights / weights.sum())
            np.minimum(degrees, cap, out=degrees)
        else:
            weights = degrees.astype(np.float64)
            removed = rng.multinomial(-gap, weights / weights.sum())
            degrees -= np.minimum(removed, degrees)
    return degrees


def distinct_within_groups(
    picks: np.ndarray, group: np.ndarray, n_choices: int, rng: np.random.Generator
) -> np.ndarray:
    """`picks` (a parent row per child row) with repeats inside a group (same `group` value) swapped away:
    a repeated pick trades places with a random other row when neither of the two new (group, pick) pairs
    exists yet. Swaps keep every parent's degree. Up to `SWAP_ROUNDS` vectorised rounds; what is left
    (a group larger than the parents it can pick from) stays repeated."""
    picks = np.asarray(picks, dtype=np.int64).copy()
    group = np.asarray(group, dtype=np.int64)
    n = len(picks)
    if n < 2 or n_choices <= 0:
        return picks
    width = np.int64(max(n_choices, 1))
    for _ in range(SWAP_ROUNDS):
        pairs = group * width + picks
        order = np.argsort(pairs, kind="stable")
        repeated = np.zeros(n, dtype=bool)
        repeated[order[1:]] = pairs[order[1:]] == pairs[order[:-1]]
        rows = np.flatnonzero(repeated)
        if len(rows) == 0:
            break
        partners = rng.integers(n, size=len(rows))
        new_here = group[rows] * width + picks[partners]
        new_there = group[partners] * width + picks[rows]
        existing = np.unique(pairs)
        ok = ~np.isin(new_here, existing) & ~np.isin(new_there, existing) & (group[rows] != group[partners])
        ok &= ~np.isin(partners, rows)
        rows, partners = rows[ok], partners[ok]
        _, first = np.unique(partners, return_index=True)  # one swap per partner
        rows, partners = rows[first], partners[first]
        picks[rows], picks[partners] = picks[partners], picks[rows].copy()
    return picks


def degree_bins(cap: int) -> np.ndarray:
    """Lower ends of the degree bins of a secondary histogram: 0, then round(2 ** (j / HISTOGRAM_STEPS_PER_DOUBLING))
    up to `cap` (0, 1, 2, 3, 4, 6, 8, 11, 16, 23, 32, ...); the last bin holds `cap` alone."""
    cap = max(int(cap), 1)
    steps = int(math.ceil(math.log2(cap) * HISTOGRAM_STEPS_PER_DOUBLING)) + 1
    grid = np.round(2.0 ** (np.arange(steps) / HISTOGRAM_STEPS_PER_DOUBLING)).astype(np.int64)
    return np.unique(np.concatenate([[0], grid[grid <= cap], [cap]])).astype(np.int64)


@dataclass(frozen=True, eq=False)
class SecondaryDegrees:
    """P(degree bin) of one secondary foreign key's parent rows: a noisy histogram over `degree_bins(cap)`
    (a degree drawn from a bin is uniform over the bin's integers)."""

    relation: str
    cap: int
    probabilities: np.ndarray = field(default_factory=lambda: np.ones(1))

    @property
    def lower(self) -> np.ndarray:
        return degree_bins(self.cap)

    def draw(self, n_parents: int, rng: np.random.Generator, total: Optional[int] = None) -> np.ndarray:
        """A degree for each of `n_parents` parent rows: the bins by systematic sampling (n evenly spaced
        points of the cumulative distribution, one random offset, in random order), so the rows' histogram
        is the model's to within one row per bin; then uniform within the bin, or, with `total`, placed
        within the bins so that the degrees sum to `total` when the bins allow it (`fill_within_bins`)."""
        lower = self.lower
        upper = np.append(lower[1:], self.cap + 1)
        cumulative = np.cumsum(self.probabilities)
        points = systematic_uniforms(np.zeros(n_parents, dtype=np.int64), rng)
        bins = np.minimum(np.searchsorted(cumulative, points * cumulative[-1], side="right"), len(lower) - 1)
        if total is not None:
            return fill_within_bins(lower[bins], upper[bins], total, rng)
        return lower[bins] + np.floor(rng.random(n_parents) * (upper[bins] - lower[bins])).astype(np.int64)

    def parent_rows(
        self, n_children: int, n_parents: int, group: Optional[np.ndarray], rng: np.random.Generator
    ) -> np.ndarray:
        """A parent row (0..n_parents-1) for each of `n_children` child rows: degrees drawn for every parent
        row, brought to `n_children`, the parents repeated by them in random order (distinct within `group`)."""
        if n_parents == 0 or n_children == 0:
            return np.zeros(n_children, dtype=np.int64) - (1 if n_parents == 0 else 0)
        drawn = self.draw(n_parents, rng, total=n_children)
        cap = max(self.cap, int(math.ceil(n_children / n_parents)))
        degrees = hit_total(drawn, n_children, cap, rng)
        picks = rng.permutation(np.repeat(np.arange(n_parents, dtype=np.int64), degrees))
        if len(picks) < n_children:  # every parent at the cap: the rest uniformly
            picks = np.concatenate([picks, rng.integers(n_parents, size=n_children - len(picks))])
        if group is not None:
            picks = distinct_within_groups(picks, group, n_parents, rng)
        return picks

    def to_json(self) -> Dict[str, Any]:
        return {"relation": self.relation, "cap": self.cap}

    def arrays(self) -> Dict[str, np.ndarray]:
        return {"probabilities": np.asarray(self.probabilities, dtype=np.float64)}

    @classmethod
    def from_parts(cls, data: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> SecondaryDegrees:
        probabilities = np.asarray(arrays["probabilities"], dtype=np.float64)
        cap = int(data["cap"])
        if (
            probabilities.shape != (len(degree_bins(cap)),)
            or not np.all(np.isfinite(probabilities))
            or probabilities.sum() <= 0
        ):
            raise ValueError(f"secondary degrees of {data['relation']}: malformed table")
        return cls(str(data["relation"]), cap, probabilities)


def fit_secondary_degrees(
    relation: str,
    parent_index: np.ndarray,
    n_parent: int,
    n_child: int,
    *,
    epsilon: float,
    ledger: BudgetLedger,
    table: str,
) -> SecondaryDegrees:
    """The Laplace mechanism on the histogram of the degrees over `degree_bins(n_child)` (the public largest
    possible degree, so no budget goes to a cap and nothing is clipped; the bins are log-spaced, so they stay
    few), sensitivity `DEGREE_SENSITIVITY`, every cell noised. Post-processing: cells not clearly above the
    noise are taken as empty, the rest projected onto (or scaled up to) the public parent count."""
    present = np.asarray(parent_index, dtype=np.int64)
    degrees = np.bincount(present[present >= 0], minlength=n_parent)[:n_parent]
    cap = max(int(n_child), 1)
    lower = degree_bins(cap)
    counts = np.bincount(np.searchsorted(lower, np.minimum(degrees, cap), side="right") - 1, minlength=len(lower))
    scale = DEGREE_SENSITIVITY / epsilon
    noisy = privbayes.noisy_counts(counts, scale, ledger.noise)
    kept = np.where(noisy > secondary_thresholds(lower, n_child / max(n_parent, 1), scale), noisy, 0.0)
    if kept.sum() >= n_parent:
        projected = privbayes.project_to_total(kept, float(n_parent))
    elif kept.sum() > 0:
        projected = kept * (n_parent / kept.sum())  # scaled up: a shift would put mass into the empty cells
    else:
        projected = privbayes.project_to_total(noisy, float(max(n_parent, 1)))
    if projected.sum() <= 0:
        projected = np.ones(len(lower))
    ledger.charge(
        table=table,
        purpose="secondary_degrees",
        mechanism=COUNT_MECHANISM,
        epsilon=epsilon,
        sensitivity=DEGREE_SENSITIVITY,
        scale=scale,
        detail={
            "relation": relation,
            "cap": cap,
            "cells": int(len(lower)),
            "bins": f"0, 1, 2, 3, then {HISTOGRAM_STEPS_PER_DOUBLING} per doubling up to the child row count",
            "parent_rows": int(n_parent),
            "post_processing": f"cells below scale * ln(cells / {P_FAIL:g}) set to 0 ({P_FAIL_LOW:g} for bins "
            "ending at or below the mean degree, among themselves), then projected onto (or scaled up to) counts "
            ">= 0 summing to the public parent count",
        },
    )
    return SecondaryDegrees(relation, cap, projected / projected.sum())


def secondary_thresholds(lower: np.ndarray, mean_degree: float, scale: float) -> np.ndarray:
    """Per bin of a secondary histogram (lower ends `lower`), the noisy count a cell must pass not to be taken
    as empty: scale x ln(m / p) over the m bins of its kind, so that noise alone passes one of them with
    probability below p. Bins above the public mean degree: p = `P_FAIL` (a false one gives a parent row many
    children, taken from all the others); bins ending at or below it: p = `P_FAIL_LOW` (a false one is a
    parent row with fewer children than average; the strict threshold there dropped Northwind's products with
    4-7 order lines, a degree TVD of 0.05 on every run and above 0.10 one run in fifty)."""
    upper = np.append(lower[1:], lower[-1] + 1)
    low = upper - 1 <= mean_degree
    thresholds = np.full(len(lower), scale * math.log(max(int((~low).sum()), 1) / P_FAIL))
    thresholds[low] = scale * math.log(max(int(low.sum()), 1) / P_FAIL_LOW)
    return thresholds


def secondary_picks(
    model: SecondaryDegrees,
    n_rows: int,
    n_choices: int,
    null_rate: float,
    group: Optional[np.ndarray],
    rng: np.random.Generator,
) -> np.ndarray:
    """A parent row for each of `n_rows` child rows (-1: null, with `null_rate`), the others following the
    model's degree distribution over the `n_choices` parent rows (distinct within `group`, when given)."""
    null = rng.random(n_rows) < null_rate
    picks = np.full(n_rows, -1, dtype=np.int64)
    present = ~null
    picks[present] = model.parent_rows(
        int(present.sum()), n_choices, None if group is None else np.asarray(group)[present], rng
    )
    return picks


def split_degree_budget(epsilon: float) -> Tuple[float, float]:
    """(cap epsilon, histogram epsilon) of a degree model's budget; they sum to `epsilon`."""
    cap_epsilon = CAP_BUDGET_FRACTION * epsilon
    return cap_epsilon, epsilon - cap_epsilon
