"""Functional validation: each planted fault is caught and named; a clean set of tables passes."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from airflow_provider_hazy.config.schema import DataSchema
from airflow_provider_hazy.metrics import validate
from airflow_provider_hazy.metrics.validation import pattern_regex

N_CUSTOMERS = 10


@pytest.fixture
def schema() -> DataSchema:
    return DataSchema.model_validate(
        {
            "tables": [
                {
                    "name": "customers",
                    "primary_key": ["customer_id"],
                    "columns": [
                        {"name": "customer_id", "type": "id"},
                        {"name": "ref", "type": "id", "format": "pattern", "pattern": "CUST-{digits:4}"},
                        {"name": "segment", "type": "category"},
                        {"name": "age", "type": "integer"},
                        {"name": "income", "type": "float"},
                        {"name": "active", "type": "bool"},
                        {"name": "signup", "type": "date", "format": "%d/%m/%Y"},
                        {"name": "email", "type": "person", "part": "email"},
                        {"name": "country", "type": "constant", "value": "UK"},
                    ],
                },
                {
                    "name": "orders",
                    "columns": [
                        {"name": "order_id", "type": "id", "format": "uuid"},
                        {"name": "customer_id", "type": "foreign_key", "ref_table": "customers",
                         "ref_column": "customer_id"},
                        {"name": "amount", "type": "float"},
                        {"name": "placed", "type": "datetime"},
                    ],
                },
            ]
        }
    )  # fmt: skip


METADATA = {
    "customers": {
        "rows": N_CUSTOMERS,
        "columns": {
            "segment": {"categories": ["gold", "silver"], "nullable": True},
            "age": {"min": 18, "max": 90, "nullable": False},
            "income": {"min": 0.0, "max": 1e6},
            "signup": {"min": "2020-01-01", "max": "2020-12-31"},
            "email": {"max_length": 20},
        },
    },
    "orders": {"columns": {"placed": {"min": "2021-01-01T00:00:00", "max": "2021-12-31T23:59:59"}}},
}


@pytest.fixture
def tables() -> dict:
    n = N_CUSTOMERS
    customers = pd.DataFrame(
        {
            "customer_id": np.arange(1, n + 1),
            "ref": [f"CUST-{i:04d}" for i in range(n)],
            "segment": pd.Series(["gold", "silver", None] * 3 + ["gold"], dtype="str"),
            "age": np.arange(20, 20 + n),
            "income": np.linspace(100.0, 5_000.0, n),
            "active": [True, False] * (n // 2),
            "signup": [f"{day:02d}/03/2020" for day in range(1, n + 1)],
            "email": [f"a{i}@example.org" for i in range(n)],
            "country": "UK",
        }
    )
    orders = pd.DataFrame(
        {
            "order_id": [f"{i:08x}-0000-4000-8000-{i:012x}" for i in range(20)],
            "customer_id": np.tile(np.arange(1, n + 1), 2),
            "amount": np.arange(20) * 1.5,
            "placed": pd.date_range("2021-02-01", periods=20, freq="D"),
        }
    )
    return {"customers": customers, "orders": orders}


def named(entry: dict) -> tuple:
    """What a check names: table, column, count of violations, examples."""
    return entry["table"], entry["column"], entry["violations"], entry["examples"]


def failed(report, check: str) -> dict:
    matching = [entry for entry in report.failures() if entry["check"] == check]
    assert len(matching) == 1, report.failures()
    return matching[0]


def test_a_clean_set_of_tables_passes_every_check(schema, tables):
    report = validate(schema, tables, METADATA, {"orders": 20})
    assert report.passed, report.summary()
    checks = {entry["check"] for entry in report.checks}
    assert checks == {
        "columns_present", "row_count", "primary_key_unique", "foreign_key_integrity", "not_null", "type",
        "constant_value", "category_domain", "numeric_range", "datetime_range", "string_length",
    }  # fmt: skip
    assert report.summary() == ""


def test_a_duplicate_key_is_caught(schema, tables):
    tables["customers"].loc[3, "customer_id"] = 1
    entry = failed(validate(schema, tables, METADATA), "primary_key_unique")
    assert named(entry) == ("customers", "customer_id", 1, [1])


def test_a_duplicate_composite_key_is_caught():
    schema = DataSchema.model_validate(
        {
            "tables": [
                {"name": "a", "columns": [{"name": "id", "type": "id"}]},
                {"name": "b", "columns": [{"name": "id", "type": "id"}]},
                {
                    "name": "ab",
                    "primary_key": ["a_id", "b_id"],
                    "columns": [
                        {"name": "a_id", "type": "foreign_key", "ref_table": "a", "ref_column": "id"},
                        {"name": "b_id", "type": "foreign_key", "ref_table": "b", "ref_column": "id"},
                    ],
                },
            ]
        }
    )
    tables = {"ab": pd.DataFrame({"a_id": [1, 1, 2, 2], "b_id": [1, 2, 1, 2]})}
    tables["ab"].loc[3] = [1, 2]
    entry = failed(validate(schema, tables), "primary_key_unique")
    assert (entry["column"], entry["violations"], entry["examples"]) == ("a_id, b_id", 1, [[1, 2]])


def test_a_dangling_foreign_key_is_caught(schema, tables):
    tables["orders"].loc[[2, 5, 7], "customer_id"] = [999, 999, 1_000]
    entry = failed(validate(schema, tables, METADATA), "foreign_key_integrity")
    assert (entry["table"], entry["column"], entry["violations"]) == ("orders", "customer_id", 3)
    assert entry["examples"] == [999, 1000]
    assert entry["references"] == "customers.customer_id"


def test_a_foreign_key_compares_by_text_when_the_types_differ(schema, tables):
    tables["orders"]["customer_id"] = tables["orders"]["customer_id"].astype(str)
    report = validate(schema, tables, METADATA)
    assert report.passed, report.summary()


def test_a_missing_parent_table_skips_the_foreign_key_check(schema, tables):
    report = validate(schema, {"orders": tables["orders"]}, METADATA)
    entry = next(check for check in report.checks if check["check"] == "foreign_key_integrity")
    assert entry["passed"] and "customers.customer_id" in entry["skipped"]


def test_a_value_outside_the_numeric_range_is_caught(schema, tables):
    tables["customers"].loc[[0, 1], "age"] = [150, 3]
    entry = failed(validate(schema, tables, METADATA), "numeric_range")
    assert named(entry) == ("customers", "age", 2, [150, 3])
    assert entry["expected"] == [18, 90]


def test_a_datetime_outside_its_range_is_caught(schema, tables):
    tables["orders"].loc[4, "placed"] = pd.Timestamp("2030-01-01")
    tables["customers"].loc[0, "signup"] = "01/01/2019"
    report = validate(schema, tables, METADATA)
    caught = {(entry["table"], entry["column"], entry["violations"]) for entry in report.failures()}
    assert caught == {("orders", "placed", 1), ("customers", "signup", 1)}
    assert {entry["check"] for entry in report.failures()} == {"datetime_range"}


def test_an_unknown_category_is_caught(schema, tables):
    tables["customers"].loc[[0, 4], "segment"] = "platinum"
    entry = failed(validate(schema, tables, METADATA), "category_domain")
    assert named(entry) == ("customers", "segment", 2, ["platinum"])


def test_a_wrong_row_count_is_caught(schema, tables):
    entry = failed(validate(schema, tables, METADATA, {"customers": 12}), "row_count")
    assert (entry["table"], entry["column"], entry["violations"]) == ("customers", None, 2)
    assert (entry["expected"], entry["actual"]) == (12, N_CUSTOMERS)


def test_a_row_count_may_be_a_range(schema, tables):
    assert validate(schema, tables, METADATA, {"orders": [15, 25]}).passed
    entry = failed(validate(schema, tables, METADATA, {"orders": [21, 25]}), "row_count")
    assert entry["violations"] == 1 and entry["expected"] == [21, 25]


def test_an_expected_table_that_is_absent_fails_its_row_count(schema, tables):
    entry = failed(validate(schema, {"orders": tables["orders"]}, METADATA), "row_count")
    assert (entry["table"], entry["actual"], entry["detail"]) == ("customers", 0, "table not in the data")


def test_a_null_where_none_is_allowed_is_caught(schema, tables):
    tables["customers"]["age"] = tables["customers"]["age"].astype("Int64")
    tables["customers"].loc[[2, 3], "age"] = pd.NA
    entry = failed(validate(schema, tables, METADATA), "not_null")
    assert (entry["table"], entry["column"], entry["violations"]) == ("customers", "age", 2)


def test_a_null_key_is_caught_without_metadata(schema, tables):
    tables["orders"]["order_id"] = tables["orders"]["order_id"].where(np.arange(20) != 3, None)
    entry = failed(validate(schema, tables), "not_null")
    assert (entry["table"], entry["column"], entry["violations"]) == ("orders", "order_id", 1)


def test_a_string_too_long_is_caught(schema, tables):
    tables["customers"].loc[5, "email"] = "a.very.long.address@example.org"
    entry = failed(validate(schema, tables, METADATA), "string_length")
    assert (entry["table"], entry["column"], entry["violations"]) == ("customers", "email", 1)
    assert entry["examples"] == ["a.very.long.address@example.org"] and entry["expected"] == 20


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        ("customers", "age", 30.5),
        ("customers", "income", "lots"),
        ("customers", "active", "maybe"),
        ("customers", "signup", "2020-13-45"),
        ("customers", "ref", "CUST-12a4"),
        ("customers", "email", 12),
        ("orders", "order_id", "not-a-uuid"),
    ],
)
def test_a_value_of_the_wrong_type_is_caught(schema, tables, table, column, value):
    frame = tables[table]
    frame[column] = frame[column].astype(object)
    frame.loc[1, column] = value
    entry = failed(validate(schema, tables), "type")
    assert named(entry) == (table, column, 1, [value])


def test_text_that_holds_valid_values_passes_the_type_check(schema, tables):
    customers = tables["customers"]
    for column in ("age", "income", "active"):
        customers[column] = customers[column].astype(str)
    assert validate(schema, tables, METADATA).passed


def test_a_wrong_constant_is_caught(schema, tables):
    tables["customers"].loc[0, "country"] = "FR"
    entry = failed(validate(schema, tables), "constant_value")
    assert (entry["column"], entry["violations"], entry["examples"]) == ("country", 1, ["FR"])


def test_a_missing_column_is_caught_and_its_checks_not_run(schema, tables):
    report = validate(schema, {**tables, "orders": tables["orders"].drop(columns=["amount"])})
    entry = failed(report, "columns_present")
    assert (entry["table"], entry["violations"], entry["examples"]) == ("orders", 1, ["amount"])
    assert not [check for check in report.checks if check["column"] == "amount" and check["table"] == "orders"]


def test_the_report_is_json_and_lists_failures_in_the_users_words(schema, tables):
    tables["customers"].loc[0, "age"] = 200
    report = validate(schema, tables, METADATA)
    data = json.loads(json.dumps(report.to_json(), allow_nan=False))
    assert data["passed"] is False and data["n_failed"] == 1 and data["n_checks"] == len(report.checks)
    assert report.summary() == "table 'customers', column 'age': numeric_range failed (1 violation(s), e.g. [200])"


def test_id_patterns_become_regular_expressions():
    assert pattern_regex("CUST-{digits:6}") == r"CUST\-[0-9]{6}"
    assert pattern_regex("{letters:2}.{hex:3}") == r"[A-Z]{2}\.[0-9a-f]{3}"


def test_string_length_reads_text_not_typed_dates():
    """A date or timestamp read back typed from a database has no text of its own: a short source format
    ('%d/%m/%y', 8 characters) is no reason to fail it; text columns and other values are still measured."""
    columns = [{"name": "d", "type": "date"}, {"name": "s", "type": "category"}]
    schema = DataSchema.model_validate({"tables": [{"name": "t", "type": "tabular", "columns": columns}]})
    frame = pd.DataFrame(
        {
            "d": [dt.date(2024, 1, 31), None, dt.date(2023, 12, 1)],
            "s": pd.Series([1234567, 12, None], dtype="Int64"),
        }
    )
    metadata = {"t": {"columns": {"d": {"max_length": 8}, "s": {"max_length": 3}}}}
    for day in (frame["d"], pd.to_datetime(frame["d"]), pd.to_datetime(frame["d"]).dt.tz_localize("UTC")):
        report = validate(schema, {"t": frame.assign(d=day)}, metadata)
        lengths = {check["column"]: check["violations"] for check in report.checks if check["check"] == "string_length"}
        assert lengths == {"d": 0, "s": 1}
