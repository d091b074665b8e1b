"""core/sequential.py on code matrices drawn from a known process: a Markov chain of event types, an amount
that depends on the previous type, a gap that depends on the type, a length that depends on the owner."""

from __future__ import annotations

import math

import numpy as np
import pytest

from airflow_provider_hazy.core import multitable, privbayes, sequential
from airflow_provider_hazy.core.privacy import STRUCTURE_BUDGET_FRACTION, BudgetLedger

TRANSITIONS = np.array([[0.1, 0.6, 0.2, 0.1], [0.3, 0.1, 0.5, 0.1], [0.2, 0.2, 0.1, 0.5], [0.6, 0.1, 0.2, 0.1]])
N_TYPES, N_AMOUNTS, N_GAPS = 4, 9, 5


def known_process(n_owners: int, seed: int = 0):
    """(owner tier per owner, lengths, codes of rows history after history: type, amount, date, gap)."""
    rng = np.random.default_rng(seed)
    tier = rng.integers(3, size=n_owners)
    low, high = np.array([2, 5, 10])[tier], np.array([6, 12, 20])[tier]
    lengths = rng.integers(low, high + 1)
    n = int(lengths.sum())
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    types = np.zeros(n, dtype=np.int64)
    amounts = np.zeros(n, dtype=np.int64)
    types[starts] = rng.integers(N_TYPES, size=n_owners)
    amounts[starts] = rng.integers(3, size=n_owners)
    for position in range(1, int(lengths.max())):  # vectorised over histories, one step per position
        rows = starts[lengths > position] + position
        previous = types[rows - 1]
        cumulative = TRANSITIONS.cumsum(axis=1)[previous]
        types[rows] = (rng.random(len(rows))[:, None] > cumulative).sum(axis=1)
        amounts[rows] = previous * 2 + rng.integers(3, size=len(rows))
    gaps = types + rng.integers(2, size=n)
    codes = np.column_stack([types, amounts, np.zeros(n, dtype=np.int64)])
    sequence = np.repeat(np.arange(n_owners), lengths)
    return tier, lengths, codes, gaps[:, None], sequence


def fit(codes, gaps, sequence, tier, lengths, *, epsilon=1000.0, window_size=5, n_predict=1, ledger=None, seed=1):
    owner = tier[sequence][:, None]
    return sequential.fit_sequences(
        codes,
        gaps,
        sequence,
        owner,
        table_sizes=[N_TYPES, N_AMOUNTS, 1],
        table_hierarchies=[[], privbayes.ordinal_hierarchy(N_AMOUNTS), []],
        table_ordinal=[False, True, True],
        table_names=["type", "amount", "at"],
        sort_parts=[2],
        gap_sizes=[N_GAPS],
        gap_hierarchies=[privbayes.ordinal_hierarchy(N_GAPS)],
        gap_names=["at:gap"],
        owner_sizes=[4],
        owner_hierarchies=[[]],
        max_owner_columns=2,
        cap=multitable.degree_cap(len(sequence), len(tier)),
        window_size=window_size,
        n_predict=n_predict,
        epsilon=epsilon,
        n_parents=3,
        sample_parents=25,
        network_sample_rows=None,
        default_strategy="uniform",
        rng=np.random.default_rng(seed),
        ledger=ledger if ledger is not None else BudgetLedger(),
        table="events",
        owner_table="owners",
    )


def transition_matrix(types: np.ndarray, sequence: np.ndarray) -> np.ndarray:
    same = sequence[1:] == sequence[:-1]
    counts = np.zeros((N_TYPES, N_TYPES))
    np.add.at(counts, (types[:-1][same], types[1:][same]), 1)
    return counts / counts.sum(axis=1, keepdims=True)


def mean_tvd(a: np.ndarray, b: np.ndarray) -> float:
    return float(0.5 * np.abs(a - b).sum(axis=1).mean())


@pytest.fixture(scope="module")
def process():
    return known_process(3000)


def test_generated_transitions_match_the_markov_chain(process):
    tier, lengths, codes, gaps, sequence = process
    model = fit(codes, gaps, sequence, tier, lengths)
    histories = sequential.sample_histories(model, lengths, tier[:, None], np.random.default_rng(2))
    generated = transition_matrix(histories.table_codes[:, 0], histories.sequence)
    assert mean_tvd(generated, TRANSITIONS) < 0.05


def test_amount_follows_the_previous_type_and_gap_follows_the_type(process):
    tier, lengths, codes, gaps, sequence = process
    model = fit(codes, gaps, sequence, tier, lengths)
    h = sequential.sample_histories(model, lengths, tier[:, None], np.random.default_rng(3))
    later = h.position > 0
    previous_type = np.r_[0, h.table_codes[:-1, 0]][later]
    amount_minus_previous = h.table_codes[later, 1] - 2 * previous_type
    assert np.isin(amount_minus_previous, [0, 1, 2]).mean() > 0.9
    gap_minus_type = h.gap_codes[later, 0] - h.table_codes[later, 0]
    assert np.isin(gap_minus_type, [0, 1]).mean() > 0.9


def test_independent_rows_do_much_worse_on_transitions(process):
    tier, lengths, codes, gaps, sequence = process
    independent = privbayes.fit(
        codes[:, :2], [N_TYPES, N_AMOUNTS], epsilon=1000.0, rng=np.random.default_rng(0), ledger=BudgetLedger()
    )
    rows = privbayes.sample(independent, len(sequence), np.random.default_rng(1))
    assert mean_tvd(transition_matrix(rows[:, 0], sequence), TRANSITIONS) > 0.25


def test_histories_have_the_requested_lengths_clipped_to_the_cap(process):
    tier, lengths, codes, gaps, sequence = process
    model = fit(codes, gaps, sequence, tier, lengths)
    wanted = np.array([0, 1, 2, 7, model.cap + 5])
    h = sequential.sample_histories(model, wanted, np.zeros((5, 1), dtype=np.int64), np.random.default_rng(0))
    assert np.bincount(h.sequence, minlength=5).tolist() == [0, 1, 2, 7, model.cap]
    assert (h.position == sequential.history_positions(h.sequence)).all()
    assert (h.gap_codes[h.position == 0] == N_GAPS).all() and (h.gap_codes[h.position > 0] < N_GAPS).all()


@pytest.mark.parametrize("n_predict", [1, 3])
def test_generation_is_deterministic_for_a_seed(process, n_predict):
    tier, lengths, codes, gaps, sequence = process
    model = fit(codes, gaps, sequence, tier, lengths, n_predict=n_predict)
    a = sequential.sample_histories(model, lengths[:500], tier[:500, None], np.random.default_rng(7))
    b = sequential.sample_histories(model, lengths[:500], tier[:500, None], np.random.default_rng(7))
    assert np.array_equal(a.table_codes, b.table_codes) and np.array_equal(a.gap_codes, b.gap_codes)


def pair_matrix(types: np.ndarray, position: np.ndarray, first_position: np.ndarray, lag: int) -> np.ndarray:
    """Transitions from rows at `first_position` positions to the row `lag` rows later in the same history."""
    starts = np.flatnonzero(np.isin(position, first_position))
    ends = starts + lag
    inside = ends < len(types)
    starts, ends = starts[inside], ends[inside]
    same = position[ends] == position[starts] + lag
    counts = np.zeros((N_TYPES, N_TYPES))
    np.add.at(counts, (types[starts[same]], types[ends[same]]), 1)
    return counts / counts.sum(axis=1, keepdims=True)


def test_n_predict_draws_several_rows_per_step_each_from_the_window(process):
    tier, lengths, codes, gaps, sequence = process
    model = fit(codes, gaps, sequence, tier, lengths, n_predict=2)
    assert model.layout.feature_names[-1] == "offset"
    h = sequential.sample_histories(model, lengths, tier[:, None], np.random.default_rng(4))
    assert np.bincount(h.sequence).tolist() == np.minimum(lengths, model.cap).tolist()
    anchors = np.arange(0, 40, 2)  # steps start after positions 0, 2, 4, ...
    types = h.table_codes[:, 0]
    # each row of a step is drawn from the window (and its offset), not from the row drawn beside it: the
    # chain holds within a step only as far as the k = 3 parents chosen carry it
    assert mean_tvd(pair_matrix(types, h.position, anchors, 1), TRANSITIONS) < 0.08
    assert mean_tvd(pair_matrix(types, h.position, anchors, 2), TRANSITIONS @ TRANSITIONS) < 0.08


@pytest.mark.parametrize(("window_size", "n_predict"), [(1, 1), (3, 1), (4, 2), (20, 3)])
def test_generation_windows_match_training_windows(window_size, n_predict):
    """The lag features generation computes from its ring buffer equal those training computes."""
    rng = np.random.default_rng(0)
    layout = sequential.LagLayout(("kind", "amount", "gap"), (3, 6, 4), (False, True, True), window_size, n_predict)
    lengths = np.array([9, 7, 7, 3, 1])
    n = int(lengths.sum())
    steps = np.column_stack([rng.integers(3, size=n), rng.integers(6, size=n), rng.integers(4, size=n)])
    position = sequential.history_positions(np.repeat(np.arange(5), lengths))
    steps[position == 0, 2] = 4  # gap absent at first rows
    trained = sequential.training_lag_features(steps, position, layout)
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    state = sequential.WindowState(layout, 5)
    state.push(0, steps[starts])
    for anchor in range(0, lengths.max() - 1, n_predict):
        live = int((lengths > anchor + 1).sum())
        features = state.features(live, anchor)
        for k in range(n_predict):
            rows = starts[lengths > anchor + 1 + k] + anchor + 1 + k
            with_offset = np.hstack([features[: len(rows)], np.full((len(rows), int(n_predict > 1)), k)])
            assert np.array_equal(with_offset, trained[rows]), (anchor, k)
            state.push(anchor + 1 + k, steps[rows])


def test_the_ledger_charges_the_table_share_with_history_group_sizes(process):
    tier, lengths, codes, gaps, sequence = process
    ledger = BudgetLedger()
    model = fit(codes, gaps, sequence, tier, lengths, epsilon=2.0, ledger=ledger)
    assert ledger.total_epsilon == pytest.approx(2.0)
    first = [e for e in ledger.entries if e.detail.get("network") == "first_row"]
    step = [e for e in ledger.entries if e.detail.get("network") == "step"]
    assert math.fsum(e.epsilon for e in first) == pytest.approx(2.0 * sequential.FIRST_ROW_SHARE)
    assert math.fsum(e.epsilon for e in step) == pytest.approx(2.0 * (1 - sequential.FIRST_ROW_SHARE))
    group = model.cap - 1
    step_tables = [e for e in step if e.purpose == "conditional"]
    assert len(step_tables) == model.layout.n_step
    # the gap's table gets GAP_WEIGHT shares of the conditionals' budget, every other step column one
    unit = 2.0 * (1 - sequential.FIRST_ROW_SHARE) * (1 - STRUCTURE_BUDGET_FRACTION) / (model.layout.n_step + 2)
    gap = model.layout.n_step - 1
    for entry in step_tables:
        table_epsilon = unit * (sequential.GAP_WEIGHT if entry.detail["child"] == gap else 1.0)
        assert entry.detail["group_size"] == group
        assert entry.epsilon == pytest.approx(table_epsilon)
        assert entry.sensitivity == pytest.approx(2.0 * group)
        assert entry.scale == pytest.approx(2.0 * group / table_epsilon)
    n_rows = len(sequence)
    single = 2 * math.log2(n_rows) / n_rows  # an upper bound of Lemma 4.1 for one replaced row
    for entry in (e for e in step if e.purpose == "structure"):
        assert entry.sensitivity > (group - 1) * single / 4 and entry.detail["group_size"] == group
    for entry in (e for e in first if e.purpose == "conditional"):
        assert entry.detail["group_size"] == 1 and entry.sensitivity == pytest.approx(2.0)


def test_the_model_round_trips_through_json_and_arrays(process):
    tier, lengths, codes, gaps, sequence = process
    model = fit(codes, gaps, sequence, tier, lengths)
    loaded = sequential.SequenceModel.from_parts(model.to_json(), model.arrays())
    assert loaded.to_json() == model.to_json()
    a = sequential.sample_histories(model, lengths[:200], tier[:200, None], np.random.default_rng(5))
    b = sequential.sample_histories(loaded, lengths[:200], tier[:200, None], np.random.default_rng(5))
    assert np.array_equal(a.table_codes, b.table_codes)


def test_cumulative_values_never_decrease_within_a_history():
    position = np.array([0, 1, 2, 0, 1, 0])
    first = np.array([10.0, 0, 0, 5.0, 0, 7.0])
    gaps = np.array([np.nan, 2.0, -1.0, np.nan, np.nan, np.nan])
    assert sequential.cumulative_values(first, gaps, position).tolist() == [10.0, 12.0, 12.0, 5.0, 5.0, 7.0]


def test_owners_without_modelled_columns_and_empty_batches(process):
    tier, lengths, codes, gaps, sequence = process
    owner = np.zeros((len(sequence), 0), dtype=np.int64)
    model = sequential.fit_sequences(
        codes,
        gaps,
        sequence,
        owner,
        table_sizes=[N_TYPES, N_AMOUNTS, 1],
        table_hierarchies=[[], privbayes.ordinal_hierarchy(N_AMOUNTS), []],
        table_ordinal=[False, True, True],
        table_names=["type", "amount", "at"],
        sort_parts=[2],
        gap_sizes=[N_GAPS],
        gap_hierarchies=[privbayes.ordinal_hierarchy(N_GAPS)],
        gap_names=["at:gap"],
        owner_sizes=[],
        owner_hierarchies=[],
        max_owner_columns=2,
        cap=40,
        window_size=5,
        n_predict=1,
        epsilon=1000.0,
        n_parents=3,
        sample_parents=25,
        network_sample_rows=None,
        default_strategy="uniform",
        rng=np.random.default_rng(0),
        ledger=BudgetLedger(),
        table="events",
        owner_table="owners",
    )
    h = sequential.sample_histories(model, lengths[:50], np.zeros((50, 0), dtype=np.int64), np.random.default_rng(0))
    assert len(h.sequence) == lengths[:50].sum()
    empty = sequential.sample_histories(model, np.zeros(0, dtype=np.int64), np.zeros((0, 0)), np.random.default_rng(0))
    assert empty.table_codes.shape == (0, 3)


def test_group_charges_record_group_privacy_on_the_ledger():
    from airflow_provider_hazy.core.sequence_frames import GroupCharges

    ledger = BudgetLedger()
    view = GroupCharges(ledger, 10)
    view.charge(table="t", purpose="p", mechanism="laplace", epsilon=0.1, sensitivity=1.0, scale=10.0, detail="x")
    [entry] = ledger.entries
    assert entry.epsilon == pytest.approx(1.0) and entry.sensitivity == pytest.approx(10.0)
    assert entry.scale == pytest.approx(10.0)  # the mechanism's own noise, unchanged
    assert entry.detail == {"description": "x", "group_size": 10, "unit": "one owner's history (group privacy)"}
    assert view.total_epsilon == ledger.total_epsilon  # everything else is the ledger's own
