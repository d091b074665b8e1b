"""PrivBayes on integer code matrices: a differentially private Bayesian network, measured and sampled.

Zhang, Cormode, Procopiuc, Srivastava and Xiao, "PrivBayes: Private Data Release via Bayesian Networks",
ACM TODS 42(4), 2017 (SIGMOD 2014). `fit` follows the paper step by step:

1. learn the network (`learn_network`): GreedyBayes. The first attribute is drawn uniformly at random (this
   reads no data and spends no budget); each of the d-1 further steps picks one (child, parents) pair with
   the exponential mechanism, scored by the mutual information I(X; Pi) in bits, with the sensitivity of
   Lemma 4.1 for the rows actually scored. The steps share beta * epsilon equally (beta =
   `STRUCTURE_BUDGET_FRACTION`).
2. measure the conditionals (`measure_conditionals`): the full joint count table of (coarsened parents,
   child) of every attribute, over all n rows and including empty cells, plus Laplace noise on every cell.
   The d tables share (1 - beta) * epsilon equally; one replaced row changes each table by at most 2 in L1,
   so the noise scale is 2 d / ((1 - beta) epsilon). The noisy tables are then post-processed, which reads
   no data and costs no budget (`consistent_conditionals`): each is projected onto cells >= 0 summing to the
   public n (`project_to_total`, which is clipping with a common shift) and normalised per parent
   combination, and each conditional is tilted so that its child's marginal under the model matches the
   estimate pooled from every noisy table holding that column (`marginal_estimates`, `tilt_to_marginal`).
3. record the ledger (`record_ledger`): one entry per exponential-mechanism step and one per count table.

Usefulness (TODS PrivBayes, theta-usefulness): a noisy table is used only if its average count per cell is
at least theta (`USEFULNESS_THETA`) times the Laplace scale, i.e. cells <= n (1 - beta) epsilon / (2 d theta)
(`usefulness_max_cells`). Each step draws at most `sample_parents` parent sets of size min(k, |V|) from the
placed attributes V; for each child, the set and each of its subsets get the finest parent levels that fit
(`fit_parent_levels`), and the choices no other choice dominates compete in the exponential mechanism
(`UsefulParentChoices`: the paper's maximal parent sets). The child always keeps its full domain. These
choices read only public sizes. Privacy: neighbouring datasets differ in one replaced row, n is public.

Codes: `codes[:, j]` holds values 0..domain_sizes[j]-1. A hierarchy for column j is a list of int arrays,
each mapping the column's codes to a coarser code space, each level a coarsening of the one before; level 0
is the identity (a leading identity map is accepted and ignored), level i the i-th map.

Modules: this one fits (inputs, budget, counting, the three steps) and samples (`fit`, `sample`); the
post-processing of the noisy tables is `core/count_postprocessing.py`, the fitted model and its storage
`core/privbayes_model.py` (its names are re-exported here), the fit from chunks
`core/privbayes_streaming.py`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .count_postprocessing import (
    conditional_distributions,
    marginal_estimates,
    project_to_total,
    tilt_to_marginal,
)
from .entropy import count_log_counts, entropy_bits, joint_entropy_bits, log_counts
from .noise import NoiseSource
from .privacy import (
    COUNT_MECHANISM,
    SELECTION_MECHANISM,
    STRUCTURE_BUDGET_FRACTION,
    USEFULNESS_THETA,
    BudgetLedger,
    exponential_mechanism,
    mutual_information_sensitivity,
    noisy_counts,  # noqa: F401 (the count-table mechanism, used as privbayes.noisy_counts)
)
from .privbayes_model import (
    Conditional,
    PrivBayesModel,
    draw_children,
    flat_cumulative,
    parent_combination_codes,
)

COUNT_SENSITIVITY = 2.0
"""L1 sensitivity of one joint count table when a row is replaced: one cell loses 1, another gains 1."""
MAX_TABLE_CELLS = 1 << 18
"""Guard on one count table (262,144 cells, 2 MB of float64), applied with the usefulness bound; public sizes
only. It bounds the model's size and the time to score and to draw a column (docs/scale.md)."""
SCORING_ROWS = 50_000
"""Rows the structure search scores when `network_sample_rows` is unset (a larger table: this many drawn
without replacement; the sensitivity is that of the rows scored). Measured in docs/scale.md."""
DEFAULT_STRATEGIES = ("uniform", "marginal")
CONSISTENCY_ROWS = 50_000
"""Rows drawn from the model while it is built (`consistent_conditionals`) to find the model's own
distribution of each node's parent combinations. A fixed, public number: 50,000 rows put the sampling error
of a 2-way marginal well below the noise of an epsilon-1 table and cost about 0.1 s for 15 columns."""

Key = tuple[int, tuple[int, ...], tuple[int, ...]]


# Inputs ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Hierarchy:
    """The generalisation levels of one column: `coarsenings[0]` is None (the identity), `coarsenings[i]`
    maps the column's codes to the codes of level i, which has `sizes[i]` values."""

    coarsenings: tuple[np.ndarray | None, ...]
    sizes: tuple[int, ...]

    @property
    def n_levels(self) -> int:
        return len(self.sizes)


@dataclass(frozen=True, eq=False)
class TrainingData:
    """The checked inputs: int64 codes with contiguous columns, their domains and hierarchies."""

    codes: np.ndarray
    domain_sizes: tuple[int, ...]
    hierarchies: tuple[Hierarchy, ...]

    @property
    def n_rows(self) -> int:
        return int(self.codes.shape[0])

    @property
    def n_columns(self) -> int:
        return int(self.codes.shape[1])


def ordinal_hierarchy(n_codes: int, null_code: int | None = None) -> list[np.ndarray]:
    """Generalisations of an ordinal column, finest first, level 0 (the identity) not included.

    Each level merges adjacent values of the previous one in pairs, down to two values; the null code (if
    any) is never merged: it becomes code 0 of every level if it is code 0, else the last code. A column
    with two values or fewer has no coarser level.
    """
    codes = np.arange(n_codes, dtype=np.int64)
    if null_code is None:
        ranks, n_values = codes, n_codes
    else:
        if not 0 <= null_code < n_codes:
            raise ValueError(f"null_code {null_code} is not one of the {n_codes} codes")
        ranks, n_values = codes - (codes > null_code), n_codes - 1
    coarsenings: list[np.ndarray] = []
    level, n_coarse = 0, n_values
    while n_coarse > 2:
        level += 1
        coarse = ranks >> level
        n_coarse = ((n_values - 1) >> level) + 1
        if null_code == 0:
            coarse = coarse + 1
            coarse[0] = 0
        elif null_code is not None:
            coarse[null_code] = n_coarse
        coarsenings.append(coarse)
    return coarsenings


def column_hierarchy(domain_size: int, maps: Sequence[np.ndarray] | None, where: str) -> Hierarchy:
    coarsenings: list[np.ndarray | None] = [None]
    sizes = [domain_size]
    identity = np.arange(domain_size)
    for level_map in maps or ():
        coarse = np.asarray(level_map)
        if coarse.shape != (domain_size,) or not np.issubdtype(coarse.dtype, np.integer):
            raise ValueError(f"{where}: each hierarchy level must be {domain_size} integer codes")
        if domain_size and coarse.min() < 0:
            raise ValueError(f"{where}: hierarchy codes must be >= 0")
        if len(coarsenings) == 1 and np.array_equal(coarse, identity):
            continue
        coarsenings.append(coarse.astype(np.int64))
        sizes.append(int(coarse.max()) + 1 if domain_size else 0)
    return Hierarchy(tuple(coarsenings), tuple(sizes))


def check_inputs(
    codes: np.ndarray,
    domain_sizes: Sequence[int],
    hierarchies: Sequence[Sequence[np.ndarray] | None] | None,
    table: str,
) -> TrainingData:
    """The codes as an int64 matrix with contiguous columns, checked against their domains."""
    code_matrix = np.asarray(codes)
    sizes = tuple(int(size) for size in domain_sizes)
    if code_matrix.ndim != 2 or code_matrix.shape[1] != len(sizes):
        raise ValueError(f"table '{table}': codes must have shape (n_rows, {len(sizes)}), not {code_matrix.shape}")
    if code_matrix.size and not np.issubdtype(code_matrix.dtype, np.integer):
        raise ValueError(f"table '{table}': codes must be integers, not {code_matrix.dtype}")
    if any(size < 1 for size in sizes):
        raise ValueError(f"table '{table}': every domain size must be >= 1, got {list(sizes)}")
    code_matrix = np.asfortranarray(code_matrix, dtype=np.int64)
    if code_matrix.size:
        outside = (code_matrix.min(axis=0) < 0) | (code_matrix.max(axis=0) >= np.array(sizes))
        if outside.any():
            column = int(np.flatnonzero(outside)[0])
            raise ValueError(f"table '{table}', column {column}: codes outside 0..{sizes[column] - 1}")
    if hierarchies is not None and len(hierarchies) != len(sizes):
        raise ValueError(f"table '{table}': {len(hierarchies)} hierarchies for {len(sizes)} columns")
    column_hierarchies = tuple(
        column_hierarchy(size, None if hierarchies is None else hierarchies[j], f"table '{table}', column {j}")
        for j, size in enumerate(sizes)
    )
    return TrainingData(code_matrix, sizes, column_hierarchies)


def check_parameters(
    epsilon: float,
    n_parents: int,
    sample_parents: int,
    network_sample_rows: int | None,
    default_strategy: str,
    structure_fraction: float,
    table: str,
) -> None:
    try:
        usable = math.isfinite(float(epsilon)) and float(epsilon) > 0
    except (TypeError, ValueError):
        usable = False
    if not usable:
        raise ValueError(f"table '{table}': epsilon must be a positive finite number, got {epsilon}")
    if network_sample_rows is not None and network_sample_rows < 1:
        raise ValueError(f"table '{table}': network_sample_rows must be >= 1, got {network_sample_rows}")
    if n_parents < 0:
        raise ValueError(f"table '{table}': n_parents must be >= 0, got {n_parents}")
    if sample_parents < 1:
        raise ValueError(f"table '{table}': sample_parents must be >= 1, got {sample_parents}")
    if default_strategy not in DEFAULT_STRATEGIES:
        raise ValueError(
            f"table '{table}': default_strategy must be one of {DEFAULT_STRATEGIES}, got {default_strategy!r}"
        )
    if not 0 < structure_fraction < 1:
        raise ValueError(f"table '{table}': structure_fraction must be in (0, 1), got {structure_fraction}")


# Budget ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetSplit:
    """How a table's epsilon is spent: `n_structure_steps` exponential-mechanism steps of
    `structure_step_epsilon` each, and `n_tables` Laplace-noised count tables of `table_epsilon` each."""

    epsilon: float
    n_structure_steps: int
    structure_step_epsilon: float
    n_tables: int
    table_epsilon: float
    laplace_scale: float


def split_budget(epsilon: float, n_columns: int, n_parents: int, structure_fraction: float) -> BudgetSplit:
    """beta * epsilon over the d-1 structure steps, the rest over the d count tables.

    With no structure to learn (d <= 1 or n_parents == 0) the whole budget measures the d marginals.
    """
    search = n_columns >= 2 and n_parents >= 1
    structure_epsilon = structure_fraction * epsilon if search else 0.0
    conditionals_epsilon = epsilon - structure_epsilon
    n_steps = n_columns - 1 if search else 0
    n_tables = n_columns
    return BudgetSplit(
        epsilon=epsilon,
        n_structure_steps=n_steps,
        structure_step_epsilon=structure_epsilon / n_steps if n_steps else 0.0,
        n_tables=n_tables,
        table_epsilon=conditionals_epsilon / n_tables if n_tables else 0.0,
        laplace_scale=COUNT_SENSITIVITY * n_tables / conditionals_epsilon if n_tables else 0.0,
    )


# Shared counting ------------------------------------------------------------------------------------------


def joint_counts(child_codes: np.ndarray, parent_codes: np.ndarray, n_combinations: int, child_size: int) -> np.ndarray:
    """The (n_combinations, child_size) count table of (parent combination, child), empty cells included."""
    cells = parent_codes * child_size
    cells += child_codes
    return np.bincount(cells, minlength=n_combinations * child_size).reshape(n_combinations, child_size)


# Step 1: learn the network --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """One attribute of the network: its parents and the generalisation level used for each."""

    child: int
    parents: tuple[int, ...] = ()
    levels: tuple[int, ...] = ()

    @property
    def key(self) -> Key:
        return (self.child, self.parents, self.levels)


@dataclass(frozen=True)
class StructureStep:
    """One exponential-mechanism step: what it chose among how many candidates, with which sensitivity."""

    selected: Node
    n_candidates: int
    sensitivity: float
    rows_scored: int


@dataclass(frozen=True)
class LearnedNetwork:
    """The nodes in network (sampling) order, and the exponential-mechanism steps that chose them."""

    nodes: tuple[Node, ...]
    steps: tuple[StructureStep, ...]


def usefulness_max_cells(n_rows: int, laplace_scale: float, theta: float = USEFULNESS_THETA) -> int:
    """The most cells a noisy count table may have and stay theta-useful: its average count per cell,
    n / cells, must be at least theta times the Laplace scale, so cells <= n / (theta * scale)
    = n * epsilon_conditionals / (2 * d * theta). Capped at `MAX_TABLE_CELLS`."""
    if laplace_scale <= 0:
        return MAX_TABLE_CELLS
    return int(min(MAX_TABLE_CELLS, math.floor(n_rows / (theta * laplace_scale))))


def fit_parent_levels(
    child_size: int, parents: Sequence[int], hierarchies: Sequence[Hierarchy], max_cells: int
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The parents and the finest levels whose table fits in `max_cells`: (parents kept, level of each).

    The table has child_size * prod(coarse parent sizes) cells; the child always keeps its full domain.
    Starting with every parent at level 0, the parent whose current coarse domain is largest (the first
    on ties) moves one level coarser until the table fits. If it does not fit with every parent at its
    coarsest level, the parent whose coarsest domain is largest (the last on ties) is dropped and the
    search restarts from level 0 with the others, down to no parents. Only public sizes are read.
    """
    kept = list(parents)
    while kept:
        levels = [0] * len(kept)
        sizes = [hierarchies[parent].sizes[0] for parent in kept]
        while child_size * math.prod(sizes) > max_cells:
            coarsenable = [i for i, parent in enumerate(kept) if levels[i] + 1 < hierarchies[parent].n_levels]
            if not coarsenable:
                break
            widest = max(coarsenable, key=lambda i: (sizes[i], -i))
            levels[widest] += 1
            sizes[widest] = hierarchies[kept[widest]].sizes[levels[widest]]
        if child_size * math.prod(sizes) <= max_cells:
            return tuple(kept), tuple(levels)
        coarsest = [hierarchies[parent].sizes[-1] for parent in kept]
        del kept[max(range(len(kept)), key=lambda i: (coarsest[i], i))]
    return (), ()


def scored_row_count(n_rows: int, network_sample_rows: int | None) -> int:
    """How many rows the structure search scores: `network_sample_rows`, unset `SCORING_ROWS`, at most n."""
    return min(n_rows, SCORING_ROWS if network_sample_rows is None else network_sample_rows)


def rows_to_score(codes: np.ndarray, network_sample_rows: int | None, rng: np.random.Generator) -> np.ndarray:
    """The rows the structure search scores: all of them, or `scored_row_count` drawn without replacement
    (kept in their original order)."""
    n_rows = codes.shape[0]
    size = scored_row_count(n_rows, network_sample_rows)
    if size >= n_rows:
        return codes
    chosen = np.sort(rng.choice(n_rows, size=size, replace=False))
    return np.asfortranarray(codes[chosen])


def candidate_parent_sets(
    placed: Sequence[int], n_parents: int, sample_parents: int, rng: np.random.Generator
) -> list[tuple[int, ...]]:
    """The parent sets of one step: every subset of size min(k, |V|) of the placed attributes V when there are
    at most `sample_parents` of them, else `sample_parents` distinct ones drawn uniformly at random."""
    pool = np.array(sorted(placed), dtype=np.int64)
    size = min(n_parents, len(pool))
    if math.comb(len(pool), size) <= sample_parents:
        return [tuple(int(p) for p in subset) for subset in itertools.combinations(pool, size)]
    drawn: dict[tuple[int, ...], None] = {}
    while len(drawn) < sample_parents:
        subset = np.sort(rng.choice(pool, size=size, replace=False))
        drawn.setdefault(tuple(int(p) for p in subset), None)
    return list(drawn)


class MutualInformationScorer:
    """I(X; Pi) in bits on the scored rows, each (child, parents, levels) computed once and cached.

    Candidates sharing a coarsened parent set share one parent code vector and its entropy; each child then
    needs one bincount of child * P + parent: I = H(X) + H(Pi) - H(X, Pi).
    """

    def __init__(self, codes: np.ndarray, domain_sizes: Sequence[int], hierarchies: Sequence[Hierarchy]) -> None:
        self.codes = codes
        self.domain_sizes = tuple(domain_sizes)
        self.hierarchies = tuple(hierarchies)
        self.n_rows = int(codes.shape[0])
        self.count_log_count = count_log_counts(self.n_rows)
        self.log_count = log_counts(self.n_rows)
        self.child_entropies = [
            self.entropy(np.bincount(codes[:, j], minlength=size)) for j, size in enumerate(self.domain_sizes)
        ]
        self.cache: dict[Key, float] = {}

    def entropy(self, counts: np.ndarray) -> float:
        return entropy_bits(counts, self.n_rows, self.count_log_count)

    def parent_sizes(self, node: Node) -> tuple[int, ...]:
        return tuple(self.hierarchies[p].sizes[level] for p, level in zip(node.parents, node.levels))

    def scores(self, candidates: Sequence[Node]) -> np.ndarray:
        """The mutual information of every candidate, in bits."""
        by_parent_set: dict[tuple[tuple[int, ...], tuple[int, ...]], list[Node]] = {}
        for node in candidates:
            if node.key not in self.cache:
                by_parent_set.setdefault((node.parents, node.levels), []).append(node)
        for nodes in by_parent_set.values():
            self._score_parent_set(nodes)
        return np.array([self.cache[node.key] for node in candidates], dtype=np.float64)

    def _score_parent_set(self, nodes: Sequence[Node]) -> None:
        first = nodes[0]
        parent_sizes = self.parent_sizes(first)
        n_combinations = math.prod(parent_sizes)
        if n_combinations <= 1 or self.n_rows == 0:
            self.cache.update((node.key, 0.0) for node in nodes)
            return
        coarsenings = [self.hierarchies[p].coarsenings[level] for p, level in zip(first.parents, first.levels)]
        parent_codes = parent_combination_codes(self.codes, first.parents, coarsenings, parent_sizes)
        parent_entropy = self.entropy(np.bincount(parent_codes, minlength=n_combinations))
        for node in nodes:
            child_size = self.domain_sizes[node.child]
            if child_size <= 1:
                self.cache[node.key] = 0.0
                continue
            joint_entropy = self._joint_entropy(self.codes[:, node.child], parent_codes, n_combinations, child_size)
            information = self.child_entropies[node.child] + parent_entropy - joint_entropy
            self.cache[node.key] = max(information, 0.0)


    def _joint_entropy(self, child: np.ndarray, parents: np.ndarray, n_combinations: int, child_size: int) -> float:
        return joint_entropy_bits(child, parents, n_combinations, child_size, self.count_log_count, self.log_count)


ParentChoice = tuple[tuple[int, ...], tuple[int, ...]]


def _dominates(finer: ParentChoice, coarser: ParentChoice) -> bool:
    """Whether parents `finer` hold all the information of `coarser`: a superset of its parents, each at the
    same or a finer level (so I(X; coarser) <= I(X; finer) by the data-processing inequality)."""
    levels = dict(zip(*finer))
    return all(parent in levels and levels[parent] <= level for parent, level in zip(*coarser))


class UsefulParentChoices:
    """The maximal theta-useful ways to condition a child on a parent set (TODS PrivBayes, maximal parent
    sets), memoised: they depend only on public sizes.

    For a child with domain C and a parent set S, `fit_parent_levels` is applied to S and to each of its
    non-empty subsets, and the choices that no other choice dominates are kept. When S fits at level 0
    this is S alone; when S only fits coarsened, fewer parents at finer levels compete with it in the
    exponential mechanism. A table fits when C * prod(parent sizes) <= max_cells, i.e. when
    prod(parent sizes) <= max_cells // C, so results are shared by children with the same quotient.
    """

    def __init__(self, hierarchies: Sequence[Hierarchy], max_cells: int) -> None:
        self.hierarchies = tuple(hierarchies)
        self.max_cells = max_cells
        self._fitted: dict[tuple[int, tuple[int, ...]], ParentChoice] = {}
        self._choices: dict[tuple[int, tuple[int, ...]], list[ParentChoice]] = {}

    def choices(self, child_size: int, parent_set: tuple[int, ...]) -> list[ParentChoice]:
        """The undominated (parents, levels) choices for a child of `child_size` values and `parent_set`."""
        max_combinations = self.max_cells // child_size
        key = (max_combinations, parent_set)
        if key not in self._choices:
            fitted: dict[ParentChoice, None] = {}
            for size in range(len(parent_set), 0, -1):
                for subset in itertools.combinations(parent_set, size):
                    fitted.setdefault(self._fit(max_combinations, subset), None)
            choices = list(fitted) or [((), ())]
            self._choices[key] = [
                choice
                for choice in choices
                if not any(other != choice and _dominates(other, choice) for other in choices)
            ]
        return self._choices[key]

    def _fit(self, max_combinations: int, parents: tuple[int, ...]) -> ParentChoice:
        key = (max_combinations, parents)
        if key not in self._fitted:
            self._fitted[key] = fit_parent_levels(1, parents, self.hierarchies, max_combinations)
        return self._fitted[key]


def step_candidates(
    unplaced: Sequence[int],
    parent_sets: Sequence[tuple[int, ...]],
    useful_parents: UsefulParentChoices,
    domain_sizes: Sequence[int],
) -> list[Node]:
    """Every not-yet-placed child paired with every useful choice of parents from every parent set, without
    repeats."""
    candidates: dict[Key, Node] = {}
    for parent_set in parent_sets:
        for child in unplaced:
            for parents, levels in useful_parents.choices(domain_sizes[child], parent_set):
                node = Node(child, parents, levels)
                candidates.setdefault(node.key, node)
    return list(candidates.values())


def step_sensitivity(candidates: Sequence[Node], scorer: MutualInformationScorer) -> float:
    """The largest sensitivity of the step's scores (Lemma 4.1 for the scored rows). A candidate whose child
    or parent combination has a single value always scores 0; the binary case applies when every other
    candidate has a binary child or a binary parent combination."""
    informative = [
        (scorer.domain_sizes[node.child], math.prod(scorer.parent_sizes(node)))
        for node in candidates
        if scorer.domain_sizes[node.child] > 1 and math.prod(scorer.parent_sizes(node)) > 1
    ]
    if not informative:
        return 0.0
    binary = all(child_size == 2 or n_combinations == 2 for child_size, n_combinations in informative)
    return mutual_information_sensitivity(scorer.n_rows, binary_child=binary)


def learn_network(
    data: TrainingData,
    budget: BudgetSplit,
    n_parents: int,
    sample_parents: int,
    network_sample_rows: int | None,
    rng: np.random.Generator,
    noise: NoiseSource,
) -> LearnedNetwork:
    """GreedyBayes with the exponential mechanism (Zhang et al., Algorithm 4 with theta-useful parents),
    scored on all rows or on `network_sample_rows` of them (`learn_network_from_rows`)."""
    if budget.n_structure_steps == 0:
        return LearnedNetwork(tuple(Node(j) for j in range(data.n_columns)), ())
    scored = rows_to_score(data.codes, network_sample_rows, rng)
    return learn_network_from_rows(scored, data.n_rows, data, budget, n_parents, sample_parents, rng, noise)


def learn_network_from_rows(
    scored_codes: np.ndarray,
    n_rows: int,
    data: TrainingData,
    budget: BudgetSplit,
    n_parents: int,
    sample_parents: int,
    rng: np.random.Generator,
    noise: NoiseSource,
) -> LearnedNetwork:
    """GreedyBayes (as `learn_network`) on rows already sampled; `n_rows` is the table's row count, which
    sets the usefulness bound. The first attribute is drawn uniformly at random (it reads no data and
    spends no budget); each further step is one exponential-mechanism choice."""
    n_columns = data.n_columns
    if budget.n_structure_steps == 0:
        return LearnedNetwork(tuple(Node(j) for j in range(n_columns)), ())
    scorer = MutualInformationScorer(scored_codes, data.domain_sizes, data.hierarchies)
    first = int(rng.integers(n_columns))
    nodes, steps = [Node(first)], []
    placed, unplaced = [first], [j for j in range(n_columns) if j != first]
    useful_parents = UsefulParentChoices(data.hierarchies, usefulness_max_cells(n_rows, budget.laplace_scale))
    for _ in range(budget.n_structure_steps):
        parent_sets = candidate_parent_sets(placed, n_parents, sample_parents, rng)
        candidates = step_candidates(unplaced, parent_sets, useful_parents, data.domain_sizes)
        sensitivity = step_sensitivity(candidates, scorer)
        chosen = exponential_mechanism(scorer.scores(candidates), sensitivity, budget.structure_step_epsilon, noise)
        selected = candidates[chosen]
        steps.append(StructureStep(selected, len(candidates), sensitivity, scorer.n_rows))
        nodes.append(selected)
        placed.append(selected.child)
        unplaced.remove(selected.child)
    return LearnedNetwork(tuple(nodes), tuple(steps))


# Step 2: measure the conditionals -------------------------------------------------------------------------


def consistent_conditionals(
    nodes: Sequence[Node],
    noisy_tables: Sequence[np.ndarray],
    parent_sizes: Sequence[tuple[int, ...]],
    parent_coarsenings: Sequence[tuple[np.ndarray | None, ...]],
    domain_sizes: Sequence[int],
    n_rows: int,
    default_strategy: str,
    rng: np.random.Generator,
    initial: np.ndarray | None = None,
    scales: Sequence[float] | None = None,
) -> tuple[Conditional, ...]:
    """The conditionals from the noisy joint count tables, by post-processing only (no budget):

    1. each table is projected onto cells >= 0 summing to n (`project_to_total`) and normalised per parent
       combination (`conditional_distributions`);
    2. each column's marginal is estimated from all the tables that hold it (`marginal_estimates`);
    3. in network order, `CONSISTENCY_ROWS` rows are drawn from the model built so far, giving the model's
       own distribution of the node's parent combinations, and the node's conditional is tilted so that the
       child's marginal under the model matches its estimate (`tilt_to_marginal`).

    Without step 3 the marginals drift along the network: each conditional's noise moves its child's
    marginal and every later column inherits the error, which then dominates the 2-way marginals of
    columns far apart. `default_strategy` "marginal" fills empty parent combinations with the estimate of
    step 2. With n = 0 (nothing to be consistent with) only step 1 is applied. `initial` (CONSISTENCY_ROWS x
    all columns) holds the simulated values of columns no node measures (a child table's given parent
    columns, `cross_table.fit_conditioned`); zeros by default. `scales`: the tables' Laplace scales when they
    differ (`marginal_estimates`).
    """
    estimates = marginal_estimates(nodes, noisy_tables, parent_sizes, len(domain_sizes), n_rows, scales)
    simulated = np.zeros((CONSISTENCY_ROWS if n_rows > 0 else 0, len(domain_sizes)), dtype=np.int64, order="F")
    if initial is not None and n_rows > 0:
        simulated[:] = initial
    conditionals = []
    for node, noisy, sizes, coarsenings in zip(nodes, noisy_tables, parent_sizes, parent_coarsenings):
        target = estimates[node.child]
        projected = project_to_total(noisy, n_rows)
        probabilities = conditional_distributions(projected, default_strategy, target)
        child_size = domain_sizes[node.child]
        if target is not None:
            parent_codes = parent_combination_codes(simulated, node.parents, coarsenings, sizes)
            parent_distribution = np.bincount(parent_codes, minlength=probabilities.shape[0]) / len(simulated)
            empty_rows = projected.sum(axis=1) <= 0
            probabilities = np.ascontiguousarray(
                tilt_to_marginal(probabilities, parent_distribution, target, empty_rows)
            )
            simulated[:, node.child] = draw_children(flat_cumulative(probabilities), parent_codes, child_size, rng)
        conditionals.append(Conditional(node.child, node.parents, node.levels, sizes, coarsenings, probabilities))
    return tuple(conditionals)


def measure_conditionals(
    data: TrainingData,
    network: LearnedNetwork,
    budget: BudgetSplit,
    default_strategy: str,
    rng: np.random.Generator,
    noise: NoiseSource,
) -> tuple[Conditional, ...]:
    """One noisy joint count table per attribute over all n rows (Laplace on every cell, in network order),
    then `consistent_conditionals` (post-processing)."""
    count_tables = []
    for node in network.nodes:
        sizes, coarsenings = node_parent_levels(data, node)
        parent_codes = parent_combination_codes(data.codes, node.parents, coarsenings, sizes)
        child_size = data.domain_sizes[node.child]
        count_tables.append(joint_counts(data.codes[:, node.child], parent_codes, math.prod(sizes), child_size))
    return conditionals_from_counts(data, network, count_tables, data.n_rows, budget, default_strategy, rng, noise)


def node_parent_levels(data: TrainingData, node: Node) -> tuple[tuple[int, ...], tuple[np.ndarray | None, ...]]:
    """The sizes and coarsening maps of `node`'s parents at the levels the network chose for them."""
    hierarchies = [data.hierarchies[parent] for parent in node.parents]
    sizes = tuple(h.sizes[level] for h, level in zip(hierarchies, node.levels))
    coarsenings = tuple(h.coarsenings[level] for h, level in zip(hierarchies, node.levels))
    return sizes, coarsenings


def conditionals_from_counts(
    data: TrainingData,
    network: LearnedNetwork,
    count_tables: Sequence[np.ndarray],
    n_rows: int,
    budget: BudgetSplit,
    default_strategy: str,
    rng: np.random.Generator,
    noise: NoiseSource,
) -> tuple[Conditional, ...]:
    """Laplace noise (`noise`) on every cell of each node's exact count table (in network order), then
    `consistent_conditionals` (post-processing): the one measurement step of `fit` and of
    `privbayes_streaming.fit_from_chunks`."""
    noisy_tables = [noisy_counts(counts, budget.laplace_scale, noise) for counts in count_tables]
    levels = [node_parent_levels(data, node) for node in network.nodes]
    return consistent_conditionals(
        network.nodes,
        noisy_tables,
        [sizes for sizes, _ in levels],
        [coarsenings for _, coarsenings in levels],
        data.domain_sizes,
        n_rows,
        default_strategy,
        rng,
    )


# Step 3: record the ledger --------------------------------------------------------------------------------


def record_ledger(
    ledger: BudgetLedger,
    table: str,
    budget: BudgetSplit,
    network: LearnedNetwork,
    conditionals: Sequence[Conditional],
    n_rows: int,
) -> None:
    """One entry per exponential-mechanism step (purpose "structure") and one per noisy count table
    (purpose "conditional", sensitivity 2, Laplace scale 2 d / ((1 - beta) epsilon)). The entries sum to
    epsilon. With no column at all nothing is measured and the whole budget is recorded as spent."""
    for index, step in enumerate(network.steps, start=1):
        ledger.charge(
            table=table,
            purpose="structure",
            mechanism=SELECTION_MECHANISM,
            epsilon=budget.structure_step_epsilon,
            sensitivity=step.sensitivity,
            scale=None,
            detail={
                "step": index,
                "steps": budget.n_structure_steps,
                "score": "mutual information (bits)",
                "candidates": step.n_candidates,
                "rows_scored": step.rows_scored,
                "child": step.selected.child,
            },
        )
    for conditional in conditionals:
        ledger.charge(
            table=table,
            purpose="conditional",
            mechanism=COUNT_MECHANISM,
            epsilon=budget.table_epsilon,
            sensitivity=COUNT_SENSITIVITY,
            scale=budget.laplace_scale,
            detail={
                "child": conditional.child,
                "parents": list(conditional.parents),
                "parent_levels": list(conditional.parent_levels),
                "cells": conditional.n_cells,
                "rows": n_rows,
            },
        )
    if not conditionals:
        ledger.charge(
            table=table,
            purpose="conditional",
            mechanism="none",
            epsilon=budget.epsilon,
            sensitivity=0.0,
            scale=None,
            detail={"description": "no modelled columns: nothing measured, the budget is recorded as spent"},
        )


# Public API -----------------------------------------------------------------------------------------------


def fit(
    codes: np.ndarray,
    domain_sizes: Sequence[int],
    *,
    epsilon: float,
    n_parents: int = 3,
    sample_parents: int = 25,
    network_sample_rows: int | None = None,
    default_strategy: str = "uniform",
    hierarchies: Sequence[Sequence[np.ndarray] | None] | None = None,
    rng: np.random.Generator,
    ledger: BudgetLedger,
    table: str = "table",
    structure_fraction: float = STRUCTURE_BUDGET_FRACTION,
) -> PrivBayesModel:
    """Fit PrivBayes to `codes` (n_rows x d, column j in 0..domain_sizes[j]-1) under `epsilon`-DP.

    Learns the network (beta = `structure_fraction` of epsilon), measures the conditionals (the rest) and
    charges both to `ledger` under `table`; the charges sum to `epsilon`. `n_parents` is k, the most
    parents per attribute (0: independent marginals, the whole budget on them); `sample_parents` caps the
    parent sets drawn per step; `network_sample_rows` scores the structure on that many rows drawn without
    replacement (the sensitivity is that of those rows; the count tables always use all rows);
    `hierarchies[j]` are column j's generalisations (see the module docstring); `default_strategy`
    ("uniform" or "marginal") fills parent combinations left with no noisy mass.
    """
    check_parameters(
        epsilon, n_parents, sample_parents, network_sample_rows, default_strategy, structure_fraction, table
    )
    data = check_inputs(codes, domain_sizes, hierarchies, table)
    budget = split_budget(epsilon, data.n_columns, n_parents, structure_fraction)
    network = learn_network(data, budget, n_parents, sample_parents, network_sample_rows, rng, ledger.noise)
    conditionals = measure_conditionals(data, network, budget, default_strategy, rng, ledger.noise)
    record_ledger(ledger, table, budget, network, conditionals, data.n_rows)
    return PrivBayesModel(data.domain_sizes, conditionals)


def sample(model: PrivBayesModel, n_rows: int, rng: np.random.Generator) -> np.ndarray:
    """`n_rows` synthetic rows of codes (n_rows x d, int64, column-contiguous), drawn ancestrally in network
    order."""
    if n_rows < 0:
        raise ValueError(f"n_rows must be >= 0, got {n_rows}")
    codes = np.empty((n_rows, len(model.domain_sizes)), dtype=np.int64, order="F")
    for conditional, cumulative_table, buckets in zip(model.conditionals, model.cumulative, model.buckets):
        child_size = model.domain_sizes[conditional.child]
        if child_size == 1:
            codes[:, conditional.child] = 0
            continue
        parent_codes = parent_combination_codes(
            codes, conditional.parents, conditional.parent_coarsenings, conditional.parent_sizes
        )
        codes[:, conditional.child] = draw_children(cumulative_table, parent_codes, child_size, rng, buckets)
    return codes
