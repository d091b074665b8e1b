"""Subsetting keeps every key resolving: parents kept, children following, reference tables whole."""

from __future__ import annotations

import sqlite3
from typing import Dict

import numpy as np
import pandas as pd
import pytest
from service_checks import northwind_path

from airflow_provider_hazy.config.schema import DataSchema
from airflow_provider_hazy.config.subsetting import DatabaseSubsettingParams
from airflow_provider_hazy.core.subsetting import subset_tables
from airflow_provider_hazy.metrics.validation import validate

SCHEMA = DataSchema.model_validate(
    {
        "tables": [
            {"name": "country", "type": "reference", "columns": [{"name": "code", "type": "id"}]},
            {
                "name": "customer",
                "columns": [
                    {"name": "id", "type": "id"},
                    {"name": "country", "type": "foreign_key", "ref_table": "country", "ref_column": "code"},
                ],
            },
            {
                "name": "employee",
                "columns": [
                    {"name": "id", "type": "id"},
                    {"name": "manager", "type": "foreign_key", "ref_table": "employee", "ref_column": "id"},
                ],
            },
            {"name": "product", "columns": [{"name": "id", "type": "id"}, {"name": "price", "type": "float"}]},
            {
                "name": "orders",
                "columns": [
                    {"name": "id", "type": "id"},
                    {"name": "customer_id", "type": "foreign_key", "ref_table": "customer", "ref_column": "id"},
                    {"name": "employee_id", "type": "foreign_key", "ref_table": "employee", "ref_column": "id"},
                ],
            },
            {
                "name": "line",
                "primary_key": ["order_id", "line_no"],
                "columns": [
                    {"name": "order_id", "type": "foreign_key", "ref_table": "orders", "ref_column": "id"},
                    {"name": "line_no", "type": "id"},
                    {"name": "product_id", "type": "foreign_key", "ref_table": "product", "ref_column": "id"},
                ],
            },
            {
                "name": "shipment",
                "columns": [
                    {"name": "id", "type": "id"},
                    {"name": "line_order", "type": "foreign_key", "ref_table": "line", "ref_column": "order_id"},
                    {"name": "line_number", "type": "foreign_key", "ref_table": "line", "ref_column": "line_no"},
                ],
            },
            {"name": "promo", "columns": [{"name": "id", "type": "id"}]},
            {
                "name": "promo_product",
                "columns": [
                    {"name": "promo_id", "type": "foreign_key", "ref_table": "promo", "ref_column": "id"},
                    {"name": "product_id", "type": "foreign_key", "ref_table": "product", "ref_column": "id"},
                ],
            },
        ]
    }
)


def _frames() -> Dict[str, pd.DataFrame]:
    """A small database: chain orders -> line -> shipment (composite key), line with two parents, a
    reference table, a self-referencing employee hierarchy and an unrelated promo branch."""
    rng = np.random.default_rng(7)
    countries = pd.DataFrame({"code": [f"C{i}" for i in range(10)]})
    customers = pd.DataFrame({"id": np.arange(1, 201), "country": rng.choice(countries["code"], 200)})
    manager = pd.array([None] + [int(i // 3) + 1 for i in range(1, 40)], dtype="Int64")
    employees = pd.DataFrame({"id": np.arange(1, 41), "manager": manager})
    products = pd.DataFrame({"id": np.arange(1, 51), "price": rng.uniform(1, 100, 50)})
    orders = pd.DataFrame(
        {
            "id": np.arange(1000, 3000),
            "customer_id": rng.integers(1, 201, 2000),
            "employee_id": rng.integers(1, 41, 2000),
        }
    )
    lines_per_order = rng.integers(1, 5, len(orders))
    order_ids = np.repeat(orders["id"].to_numpy(), lines_per_order)
    line_no = np.concatenate([np.arange(1, n + 1) for n in lines_per_order])
    lines = pd.DataFrame({"order_id": order_ids, "line_no": line_no, "product_id": rng.integers(1, 51, len(order_ids))})
    shipped = lines.sample(frac=0.7, random_state=1)
    shipments = pd.DataFrame(
        {
            "id": np.arange(1, len(shipped) + 1),
            "line_order": shipped["order_id"].to_numpy(),
            "line_number": shipped["line_no"].to_numpy(),
        }
    )
    promos = pd.DataFrame({"id": np.arange(1, 6)})
    promo_products = pd.DataFrame({"promo_id": rng.integers(1, 6, 30), "product_id": rng.integers(1, 51, 30)})
    return {
        "country": countries,
        "customer": customers,
        "employee": employees,
        "product": products,
        "orders": orders,
        "line": lines,
        "shipment": shipments,
        "promo": promos,
        "promo_product": promo_products,
    }


def _assert_intact(schema: DataSchema, frames: Dict[str, pd.DataFrame]) -> None:
    """No dangling single-column foreign key (metrics.validation) and no dangling composite one."""
    report = validate(schema, frames)
    fk_checks = [check for check in report.checks if check["check"] == "foreign_key_integrity"]
    assert fk_checks and all(check["passed"] for check in fk_checks), [c for c in fk_checks if not c["passed"]]
    if "shipment" in frames:
        pairs = frames["shipment"][["line_order", "line_number"]].set_axis(["order_id", "line_no"], axis=1)
        joined = pairs.merge(frames["line"][["order_id", "line_no"]], how="left", indicator=True)
        assert (joined["_merge"] == "both").all()


def _subset(params, split=False, seed=3):
    return subset_tables(_frames(), SCHEMA, params, train_test_split=split, random_state=seed)


def test_ten_percent_subset_keeps_every_key_resolving() -> None:
    frames = _frames()
    result = subset_tables(
        frames,
        SCHEMA,
        DatabaseSubsettingParams(target_table="orders", fraction=0.1),
        train_test_split=False,
        random_state=3,
    )
    kept = result.train
    assert len(kept["orders"]) == 200
    _assert_intact(SCHEMA, kept)
    # every kept order's parents, and the managers of those employees up to the top, are present
    assert kept["orders"]["customer_id"].isin(kept["customer"]["id"]).all()
    assert kept["orders"]["employee_id"].isin(kept["employee"]["id"]).all()
    assert kept["employee"]["manager"].dropna().isin(kept["employee"]["id"]).all()
    assert kept["employee"]["manager"].isna().sum() == 1  # the top of the hierarchy was pulled in
    # parents are only those needed (customers of kept orders), children follow (every line of a kept order)
    assert set(kept["customer"]["id"]) == set(kept["orders"]["customer_id"])
    lines_of_kept = frames["line"][frames["line"]["order_id"].isin(kept["orders"]["id"])]
    assert len(kept["line"]) == len(lines_of_kept) > 200
    assert set(kept["product"]["id"]) == set(kept["line"]["product_id"]) | set(kept["promo_product"]["product_id"])
    shipped = frames["shipment"]["line_order"].isin(kept["orders"]["id"])
    assert len(kept["shipment"]) == int(shipped.sum())
    # reference table whole; the unrelated branch keeps rows whose keys resolve
    assert len(kept["country"]) == len(frames["country"])
    assert len(kept["promo"]) == len(frames["promo"])
    expected_links = frames["promo_product"]["product_id"].isin(kept["product"]["id"])
    assert len(kept["promo_product"]) == int(expected_links.sum())
    tables = result.summary["tables"]
    assert tables["orders"]["rows_before"] == 2000 and tables["orders"]["rows"] == 200
    assert tables["orders"]["role"] == "seed" and tables["shipment"]["role"] == "descendant"
    assert tables["customer"]["role"] == "ancestor" and tables["promo"]["role"] == "unrelated"
    assert result.summary["fraction"] == pytest.approx(0.1) and result.test == {}


def test_same_random_state_same_subset_other_state_other_subset() -> None:
    params = DatabaseSubsettingParams(target_table="orders", fraction=0.1)
    first, again, other = _subset(params, seed=11), _subset(params, seed=11), _subset(params, seed=12)
    for name in first.train:
        pd.testing.assert_frame_equal(first.train[name], again.train[name])
    assert set(first.train["orders"]["id"]) != set(other.train["orders"]["id"])


def test_n_rows_is_exact_and_target_self_reference_pulls_managers() -> None:
    result = _subset(DatabaseSubsettingParams(target_table="orders", n_rows=37))
    assert len(result.train["orders"]) == 37
    _assert_intact(SCHEMA, result.train)
    employees = _subset(DatabaseSubsettingParams(target_table="employee", n_rows=5)).train
    assert len(employees["employee"]) >= 5  # drawn rows plus their chain of managers
    _assert_intact(SCHEMA, employees)
    # children of the drawn employees follow (their orders), with the orders' lines and shipments
    assert set(employees["orders"]["employee_id"]) <= set(employees["employee"]["id"])
    assert len(employees["orders"]) > 0 and len(employees["shipment"]) > 0


def test_train_test_split_disjoint_at_target_level() -> None:
    params = DatabaseSubsettingParams(target_table="orders", fraction=0.5, test_fraction=0.2)
    result = _subset(params, split=True)
    train, test = result.train, result.test
    assert len(train["orders"]) == 800 and len(test["orders"]) == 200
    assert not set(train["orders"]["id"]) & set(test["orders"]["id"])
    _assert_intact(SCHEMA, train)
    _assert_intact(SCHEMA, test)
    train_lines = set(map(tuple, train["line"][["order_id", "line_no"]].to_numpy()))
    test_lines = set(map(tuple, test["line"][["order_id", "line_no"]].to_numpy()))
    assert train_lines and test_lines and not train_lines & test_lines
    assert not set(train["shipment"]["id"]) & set(test["shipment"]["id"])
    assert result.summary["tables"]["orders"]["rows_test"] == 200


def test_split_without_params_splits_root_tables() -> None:
    frame = pd.DataFrame({"id": np.arange(100), "x": np.arange(100) % 7})
    schema = DataSchema.model_validate(
        {"tables": [{"name": "t", "columns": [{"name": "id", "type": "id"}, {"name": "x", "type": "integer"}]}]}
    )
    result = subset_tables({"t": frame}, schema, None, train_test_split=True, random_state=0)
    assert len(result.train["t"]) == 80 and len(result.test["t"]) == 20
    assert sorted([*result.train["t"]["id"], *result.test["t"]["id"]]) == list(range(100))
    whole = subset_tables({"t": frame}, schema, None, train_test_split=False, random_state=0)
    assert whole.train["t"].equals(frame) and whole.test == {}
    multi = _subset(None, split=True)
    _assert_intact(SCHEMA, multi.train)
    _assert_intact(SCHEMA, multi.test)
    assert not set(multi.train["orders"]["id"]) & set(multi.test["orders"]["id"])


def test_errors_name_the_table_and_column() -> None:
    frames = _frames()
    with pytest.raises(ValueError, match="unknown table 'nope'"):
        subset_tables(
            frames,
            SCHEMA,
            DatabaseSubsettingParams(target_table="nope", fraction=0.1),
            train_test_split=False,
            random_state=0,
        )
    with pytest.raises(ValueError, match="reference table"):
        subset_tables(
            frames,
            SCHEMA,
            DatabaseSubsettingParams(target_table="country", fraction=0.1),
            train_test_split=False,
            random_state=0,
        )
    frames["line"] = frames["line"].drop(columns=["line_no"])
    with pytest.raises(ValueError, match="table 'line', column 'line_no'"):
        subset_tables(
            frames,
            SCHEMA,
            DatabaseSubsettingParams(target_table="orders", fraction=0.1),
            train_test_split=False,
            random_state=0,
        )


def _northwind_frames() -> Dict[str, pd.DataFrame]:
    with sqlite3.connect(northwind_path()) as connection:
        names = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {name: pd.read_sql_query(f'SELECT * FROM "{name}"', connection) for name in names}


def test_northwind_ten_percent_of_orders() -> None:
    from airflow_provider_hazy.schema_infer import infer_schema_from_database

    schema, _ = infer_schema_from_database(f"sqlite:///{northwind_path()}")
    frames = _northwind_frames()
    params = DatabaseSubsettingParams(target_table="Orders", fraction=0.1)
    first = subset_tables(frames, schema, params, train_test_split=False, random_state=5)
    again = subset_tables(frames, schema, params, train_test_split=False, random_state=5)
    assert len(first.train["Orders"]) == 83
    _assert_intact(schema, first.train)
    for name in first.train:
        pd.testing.assert_frame_equal(first.train[name], again.train[name])
    details = first.train["Order Details"]
    assert len(details) > 0 and details["OrderID"].isin(first.train["Orders"]["OrderID"]).all()
    assert len(first.train["Order Details"]) == int(
        frames["Order Details"]["OrderID"].isin(first.train["Orders"]["OrderID"]).sum()
    )


def test_api_subset_writes_parquet_and_a_training_config(tmp_path, monkeypatch) -> None:
    from airflow_provider_hazy import api
    from airflow_provider_hazy.config import TrainingConfig
    from airflow_provider_hazy.schema_infer import infer_schema_from_database

    url = f"sqlite:///{northwind_path()}"
    monkeypatch.setenv("HAZY_CONN_NORTHWIND", url)
    schema, _ = infer_schema_from_database(url)
    config = TrainingConfig.model_validate(
        {
            "data_schema": schema.model_dump(mode="json"),
            "data_input": [
                {"name": name, "location": {"source_id": "northwind", "table_name": name}}
                for name in schema.table_names
            ],
            "data_sources": [{"id": "northwind"}],
            "database_subsetting_params": {"target_table": "Orders", "fraction": 0.1, "test_fraction": 0.25},
            "train_test_split": True,
            "random_state": 9,
        }
    )
    report = api.subset(config, tmp_path / "out")
    assert report["tables"]["Orders"] == 83 - 21 and report["test_tables"]["Orders"] == 21
    written = TrainingConfig.from_file(report["training_config"])
    assert written.database_subsetting_params is None and written.train_test_split is False
    frames = {name: pd.read_parquet(tmp_path / "out" / f"{name}.parquet") for name in schema.table_names}
    assert {name: len(frame) for name, frame in frames.items()} == report["tables"]
    _assert_intact(schema, frames)
    test_orders = pd.read_parquet(tmp_path / "out" / "test" / "Orders.parquet")
    assert not set(test_orders["OrderID"]) & set(frames["Orders"]["OrderID"])
    locations = {item.name: item.location.path for item in written.data_input}
    assert locations["Order Details"] == str((tmp_path / "out" / "Order Details.parquet").resolve())


def test_row_with_two_subset_parents_needs_both_and_unrelated_self_reference_shrinks() -> None:
    schema = DataSchema.model_validate(
        {
            "tables": [
                {"name": "a", "columns": [{"name": "id", "type": "id"}]},
                {
                    "name": "b",
                    "columns": [
                        {"name": "id", "type": "id"},
                        {"name": "a_id", "type": "foreign_key", "ref_table": "a", "ref_column": "id"},
                    ],
                },
                {
                    "name": "c",
                    "columns": [
                        {"name": "id", "type": "id"},
                        {"name": "a_id", "type": "foreign_key", "ref_table": "a", "ref_column": "id"},
                        {"name": "b_id", "type": "foreign_key", "ref_table": "b", "ref_column": "id"},
                    ],
                },
                {"name": "p", "columns": [{"name": "id", "type": "id"}]},
                {
                    "name": "q",
                    "columns": [
                        {"name": "id", "type": "id"},
                        {"name": "p_id", "type": "foreign_key", "ref_table": "p", "ref_column": "id"},
                    ],
                },
                {
                    "name": "note",
                    "columns": [
                        {"name": "id", "type": "id"},
                        {"name": "parent", "type": "foreign_key", "ref_table": "note", "ref_column": "id"},
                        {"name": "q_id", "type": "foreign_key", "ref_table": "q", "ref_column": "id"},
                    ],
                },
            ]
        }
    )
    n = 400
    a = pd.DataFrame({"id": np.arange(n)})
    b = pd.DataFrame({"id": np.arange(n), "a_id": (np.arange(n) + 1) % n})  # b_i belongs to a_(i+1)
    c = pd.DataFrame(
        {"id": np.arange(n), "a_id": np.arange(n), "b_id": pd.array([i if i % 2 else None for i in range(n)], "Int64")}
    )
    p = pd.DataFrame({"id": np.arange(n)})
    q = pd.DataFrame({"id": np.arange(n), "p_id": np.arange(n)})
    # a chain of notes: note i's parent is note i-1; note i is about q_i
    note = pd.DataFrame(
        {"id": np.arange(n), "parent": pd.array([None, *range(n - 1)], dtype="Int64"), "q_id": np.arange(n)}
    )
    frames = {"a": a, "b": b, "c": c, "p": p, "q": q, "note": note}
    result = subset_tables(
        frames, schema, DatabaseSubsettingParams(target_table="a", fraction=0.5), train_test_split=False, random_state=4
    )
    kept_a = set(result.train["a"]["id"])
    kept_b = set(result.train["b"]["id"])
    assert kept_b == {i for i in range(n) if (i + 1) % n in kept_a}
    # c_i is kept when a_i is kept and, for odd i, b_i too (even rows have no b: only a_i counts)
    expected_c = {i for i in range(n) if i in kept_a and (i % 2 == 0 or i in kept_b)}
    assert set(result.train["c"]["id"]) == expected_c
    assert 0 < len(expected_c) < len({i for i in range(n) if i in kept_a})
    _assert_intact(schema, result.train)
    assert len(result.train["p"]) == n and len(result.train["note"]) == n  # unrelated, nothing to drop
    # notes about filtered (ancestor) rows: a note is kept when its subject and its parent note are kept
    about_p = schema.model_dump(mode="json")
    about_p["tables"][-1]["columns"][2] = {"name": "p_id", "type": "foreign_key", "ref_table": "p", "ref_column": "id"}
    schema_p = DataSchema.model_validate(about_p)
    frames["q"] = q.assign(p_id=pd.array([*range(n // 2), *([None] * (n - n // 2))], dtype="Int64"))
    frames["note"] = note.drop(columns=["q_id"]).assign(p_id=(np.arange(n) * 7) % n)
    result = subset_tables(
        frames,
        schema_p,
        DatabaseSubsettingParams(target_table="q", fraction=1.0),
        train_test_split=False,
        random_state=4,
    )
    assert set(result.train["p"]["id"]) == set(range(n // 2))  # ancestors: only the referenced rows
    assert result.summary["tables"]["note"]["role"] == "unrelated"
    first_gap = next(i for i in range(n) if (7 * i) % n >= n // 2)
    assert set(result.train["note"]["id"]) == set(range(first_gap))  # every note after a dropped one is gone
    assert ((np.arange(first_gap, n) * 7) % n < n // 2).any()  # ... including some whose subject is kept
    _assert_intact(schema_p, result.train)
