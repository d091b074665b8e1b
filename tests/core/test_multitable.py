"""core.multitable: the foreign-key graph, the budget rule, the degree model, conditioning, keys, the batch plan."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from airflow_provider_hazy.config.schema import DataSchema
from airflow_provider_hazy.core import cross_table, multitable, privbayes
from airflow_provider_hazy.core.noise import ReproducibleNoise
from airflow_provider_hazy.core.privacy import STRUCTURE_BUDGET_FRACTION, BudgetLedger


def _fk(name, table, column):
    return {"name": name, "type": "foreign_key", "ref_table": table, "ref_column": column}


def _schema(*tables) -> DataSchema:
    return DataSchema.model_validate({"tables": list(tables)})


SHOP = _schema(
    {"name": "countries", "type": "reference", "columns": [{"name": "code", "type": "id"}]},
    {"name": "customers", "columns": [{"name": "id", "type": "id"}, _fk("country", "countries", "code")]},
    {"name": "staff", "columns": [{"name": "id", "type": "id"}, _fk("boss", "staff", "id")]},
    {
        "name": "orders",
        "columns": [{"name": "id", "type": "id"}, _fk("customer", "customers", "id"), _fk("clerk", "staff", "id")],
    },
    {
        "name": "lines",
        "primary_key": ["order", "n"],
        "columns": [_fk("order", "orders", "id"), {"name": "n", "type": "id"}, {"name": "qty", "type": "integer"}],
    },
    {
        "name": "returns",
        "columns": [{"name": "id", "type": "id"}, _fk("line_order", "lines", "order"), _fk("line_n", "lines", "n")],
    },
)
ROWS = {"countries": 5, "customers": 100, "staff": 10, "orders": 300, "lines": 900, "returns": 50}


def test_graph_orders_parents_first_and_picks_the_largest_parent_as_driver():
    graph = multitable.build_graph(SHOP, ROWS)
    order = graph.order
    for relation in graph.relations:
        if not relation.is_self:
            assert order.index(relation.parent) < order.index(relation.child), relation.name
    assert graph.driving["orders"].parent == "customers"  # 100 customers > 10 staff
    assert graph.driving["customers"] is None  # its only parent is a reference table
    assert graph.roots == ["customers", "staff"]
    assert [r.name for r in graph.secondary("orders")] == ["orders(clerk) -> staff(id)"]
    assert graph.secondary("staff")[0].is_self


def test_columns_referencing_a_composite_key_form_one_relation():
    graph = multitable.build_graph(SHOP, ROWS)
    (relation,) = graph.relations_of("returns")
    assert relation.child_columns == ("line_order", "line_n")
    assert relation.parent_columns == ("order", "n")
    assert graph.driving["returns"] == relation


def test_a_foreign_key_to_part_of_a_composite_key_names_the_column():
    schema = _schema(
        {"name": "a", "primary_key": ["x", "y"], "columns": [{"name": "x", "type": "id"}, _fk("y", "b", "id")]},
        {"name": "b", "columns": [{"name": "id", "type": "id"}]},
        {"name": "c", "columns": [{"name": "id", "type": "id"}, _fk("ax", "a", "x")]},
    )
    with pytest.raises(ValueError, match="table 'c', column 'ax'.*composite key"):
        multitable.build_graph(schema)


def test_a_reference_table_may_not_reference_a_modelled_table():
    schema = _schema(
        {"name": "t", "columns": [{"name": "id", "type": "id"}]},
        {"name": "r", "type": "reference", "columns": [{"name": "id", "type": "id"}, _fk("t_id", "t", "id")]},
    )
    with pytest.raises(ValueError, match="reference table 'r', column 't_id'"):
        multitable.build_graph(schema)


def test_budget_rule_sums_to_epsilon_with_shares_per_table():
    graph = multitable.build_graph(SHOP, ROWS)
    plan = multitable.split_model_budget(graph, 12.0, 2.0, degree_preserving=True)
    # five modelled tables, three driving keys (orders, lines, returns)
    unit = 12.0 / (5 + multitable.DEGREE_WEIGHT * 3)
    parts = [plan.network, plan.degree, plan.null_rate, plan.secondary_degree]
    total = math.fsum(value for part in parts for value in part.values())
    assert total == pytest.approx(12.0)
    # a degree histogram per secondary foreign key that is not a self-reference (a reference parent too)
    share = pytest.approx(multitable.SECONDARY_DEGREE_FRACTION * unit)
    expected = {"orders(clerk) -> staff(id)": share, "customers(country) -> countries(code)": share}
    assert plan.secondary_degree == expected
    assert plan.degree == {
        r.name: pytest.approx(unit * multitable.DEGREE_WEIGHT)
        for r in [graph.driving["orders"], graph.driving["lines"], graph.driving["returns"]]
    }
    assert plan.table_total("orders", graph.relations_of("orders")) == pytest.approx(1.5 * unit)
    assert plan.null_rate["orders(clerk) -> staff(id)"] == pytest.approx(multitable.NULL_RATE_FRACTION * unit)
    assert list(plan.processing.values()) == [pytest.approx(2.0 / 5)] * 5
    random = multitable.split_model_budget(graph, 12.0, None, degree_preserving=False)
    assert random.degree == {} and random.network["lines"] == pytest.approx(12.0 / 5)
    assert random.secondary_degree == {}


def test_parent_rows_ranks_and_clipped_degrees():
    parents = pd.DataFrame({"id": [10, 20, 30]})
    children = pd.DataFrame({"fk": [20, 20, None, 10, 99, 20]})
    index = multitable.parent_row_index(parents, children)
    assert index.tolist() == [1, 1, -1, 0, -1, 1]
    assert multitable.child_ranks(np.array([1, 1, 0, 1, 0])).tolist() == [0, 1, 0, 2, 1]
    assert multitable.clipped_degrees(index, 3, cap=2).tolist() == [1, 2, 0]


def test_composite_parent_keys_are_matched_as_tuples():
    parents = pd.DataFrame({"a": [1, 1, 2], "b": ["x", "y", "x"]})
    children = pd.DataFrame({"a": [2, 1, 1], "b": ["x", "x", "z"]})
    assert multitable.parent_row_index(parents, children).tolist() == [2, 0, -1]


def test_joined_parent_codes_mark_rows_beyond_the_cap_absent():
    parent_codes = np.array([[0], [1]])
    index = np.array([0, 0, 0, 1, -1])
    joined = cross_table.joined_parent_codes(parent_codes, index, multitable.child_ranks(index), 2, [2])
    assert joined[:, 0].tolist() == [0, 0, 2, 1, 2]


def test_degree_model_charges_its_own_entry_and_reproduces_degrees():
    rng = np.random.default_rng(0)
    relation = multitable.Relation("c", ("p_id",), "p", ("id",))
    parent_codes = np.asfortranarray(rng.integers(2, size=(4000, 1)))
    degrees = np.where(parent_codes[:, 0] == 1, 5, 1)
    hierarchies = privbayes.check_inputs(parent_codes, [2], None, "p").hierarchies
    ledger = BudgetLedger()
    model = multitable.fit_degree_model(
        relation, degrees, parent_codes, hierarchies, [0], 10, int(degrees.sum()), epsilon=2.0, ledger=ledger
    )
    (entry,) = ledger.entries
    assert (entry.purpose, entry.table, entry.epsilon) == ("degree_preserving", "c", 2.0)
    assert entry.sensitivity == multitable.DEGREE_SENSITIVITY
    assert entry.scale == pytest.approx(multitable.DEGREE_SENSITIVITY / 2.0)
    drawn = model.degrees(parent_codes, np.random.default_rng(1))
    assert np.mean(drawn[parent_codes[:, 0] == 1] == 5) > 0.95
    assert np.mean(drawn[parent_codes[:, 0] == 0] == 1) > 0.95


def test_conditioned_network_scales_sensitivity_for_parent_columns_only():
    rng = np.random.default_rng(3)
    n = 3000
    given = rng.integers(3, size=(n, 1))
    follows = np.where(rng.random(n) < 0.9, given[:, 0], rng.integers(3, size=n))
    codes = np.column_stack([follows, rng.integers(4, size=n)])
    ledger = BudgetLedger()
    fit = cross_table.fit_conditioned(
        codes,
        [3, 4],
        [[np.arange(3)], [np.arange(4)]],
        given,
        [3],
        [[np.arange(3)]],
        epsilon=50.0,
        group=12,
        max_given=1,
        n_parents=1,
        sample_parents=5,
        network_sample_rows=None,
        default_strategy="uniform",
        rng=rng,
        ledger=ledger,
        table="child",
        parent_table="parent",
    )
    assert math.fsum(e.epsilon for e in ledger.entries) == pytest.approx(50.0)
    conditionals = [e for e in ledger.entries if e.purpose == "conditional"]
    assert len(conditionals) == 2
    crossed = {e.detail["child"]: e for e in conditionals if e.detail["parent_table"] == "parent"}
    assert 0 in crossed and crossed[0].sensitivity == 24.0
    table_epsilon = 50.0 * (1 - STRUCTURE_BUDGET_FRACTION) / 2
    for entry in conditionals:
        assert entry.scale == pytest.approx(entry.sensitivity / table_epsilon)
    sampled = cross_table.sample_conditioned(fit.model, 2, np.array([[0]] * 500 + [[2]] * 500), rng)
    assert np.mean(sampled[:500, 0] == 0) > 0.8 and np.mean(sampled[500:, 0] == 2) > 0.8


def test_self_references_point_at_earlier_rows_with_the_null_rate():
    rows = multitable.self_reference_rows(10_000, 0.25, np.random.default_rng(0))
    assert rows[0] == -1
    present = rows >= 0
    assert np.all(rows[present] < np.flatnonzero(present))
    assert np.mean(~present) == pytest.approx(0.25, abs=0.02)


def test_secondary_picks_are_distinct_within_a_group():
    group = np.repeat(np.arange(200), 7)
    picks = multitable.secondary_rows(len(group), 9, 0.0, group, np.random.default_rng(0))
    assert picks.min() >= 0 and picks.max() < 9
    assert not pd.DataFrame({"g": group, "p": picks}).duplicated().any()
    uniform = multitable.secondary_rows(9000, 9, 0.1, None, np.random.default_rng(1))
    assert np.mean(uniform == -1) == pytest.approx(0.1, abs=0.02)
    assert np.bincount(uniform[uniform >= 0], minlength=9).min() > 800


def test_plan_offsets_keep_keys_of_batches_apart():
    graph = multitable.build_graph(SHOP, ROWS)
    caps = {"orders": 12, "lines": 10, "returns": 10}
    plan = multitable.plan_generation(graph, ROWS, caps, magnitude=1.0, batch_magnitude=0.25)
    assert plan.n_batches == 4
    assert [b.n_rows for b in plan.root_batches["customers"]] == [25, 25, 25, 25]
    assert [b.n_rows for b in plan.root_batches["staff"]] == [3, 3, 3, 1]
    assert plan.capacities["orders"] == [25 * 12] * 4
    assert plan.offsets["lines"] == [0, 3000, 6000, 9000]


def test_noisy_degrees_are_tilted_to_the_public_mean_degree():
    rng = np.random.default_rng(5)
    relation = multitable.Relation("c", ("p_id",), "p", ("id",))
    parent_codes = np.asfortranarray(rng.integers(2, size=(2000, 1)))
    degrees = rng.integers(1, 4, size=2000)
    hierarchies = privbayes.check_inputs(parent_codes, [2], None, "p").hierarchies
    model = multitable.fit_degree_model(
        relation,
        degrees,
        parent_codes,
        hierarchies,
        [0],
        30,
        int(degrees.sum()),
        epsilon=0.05,
        ledger=BudgetLedger(noise=ReproducibleNoise(0)),
    )
    drawn = model.degrees(parent_codes, np.random.default_rng(1))
    assert drawn.mean() == pytest.approx(degrees.mean(), rel=0.05)


def test_null_rates_below_the_noise_count_as_zero():
    relation = multitable.Relation("c", ("p_id",), "p", ("id",))
    ledger = BudgetLedger()
    rates = [
        multitable.noisy_null_rate(
            relation, 0, 300, epsilon=0.01, ledger=BudgetLedger(noise=ReproducibleNoise(seed))
        )
        for seed in range(20)
    ]
    assert rates == [0.0] * 20
    assert multitable.noisy_null_rate(relation, 60, 300, epsilon=50.0, ledger=ledger) == (
        pytest.approx(0.2, abs=0.01)
    )
    assert ledger.entries[-1].scale == pytest.approx(0.02)


def test_orphan_rows_follow_the_null_rate_within_the_capacity():
    assert multitable.orphan_rows(800, 0.2) == 200
    assert multitable.orphan_multiplier(0.2) == 2 and multitable.orphan_multiplier(0.0) == 1
    assert multitable.orphan_rows(100, 0.9) <= 100 * (multitable.orphan_multiplier(0.9) - 1)
