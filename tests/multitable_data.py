"""A small bank database the multi-table tests build: six tables, every kind of key.

regions (reference) <- customers <- accounts <- transactions -> products; refunds -> transactions by the
composite key (account_id, product_id); employees.manager_id -> employees.employee_id (self-reference);
transactions.handled_by -> employees (a second parent). A customer's age band drives how many accounts it has
and its accounts' balance band.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import numpy as np
import pandas as pd

AGE_BANDS = np.array(["young", "middle", "senior"])
BALANCE_BANDS = np.array(["low", "mid", "high"])


def _fk(name: str, ref_table: str, ref_column: str) -> Dict[str, str]:
    return {"name": name, "type": "foreign_key", "ref_table": ref_table, "ref_column": ref_column}


def bank_schema() -> Dict[str, Any]:
    """The data_schema of the bank database."""
    return {
        "tables": [
            {
                "name": "regions",
                "type": "reference",
                "columns": [{"name": "region_id", "type": "id"}, {"name": "region", "type": "category"}],
            },
            {
                "name": "customers",
                "columns": [
                    {"name": "customer_id", "type": "id", "format": "pattern", "pattern": "C-{digits:7}"},
                    _fk("region_id", "regions", "region_id"),
                    {"name": "age_band", "type": "category"},
                ],
            },
            {
                "name": "accounts",
                "columns": [
                    {"name": "account_id", "type": "id", "start": 1000},
                    _fk("customer_id", "customers", "customer_id"),
                    {"name": "balance_band", "type": "category"},
                ],
            },
            {
                "name": "products",
                "columns": [{"name": "product_id", "type": "id"}, {"name": "family", "type": "category"}],
            },
            {
                "name": "employees",
                "columns": [
                    {"name": "employee_id", "type": "id"},
                    _fk("manager_id", "employees", "employee_id"),
                    {"name": "grade", "type": "category"},
                ],
            },
            {
                "name": "transactions",
                "primary_key": ["account_id", "product_id"],
                "columns": [
                    _fk("account_id", "accounts", "account_id"),
                    _fk("product_id", "products", "product_id"),
                    _fk("handled_by", "employees", "employee_id"),
                    {"name": "amount", "type": "integer"},
                ],
            },
            {
                "name": "refunds",
                "columns": [
                    {"name": "refund_id", "type": "id"},
                    _fk("account_id", "transactions", "account_id"),
                    _fk("product_id", "transactions", "product_id"),
                    {"name": "reason", "type": "category"},
                ],
            },
        ]
    }


def bank_tables(n_customers: int = 800, seed: int = 7) -> Dict[str, pd.DataFrame]:
    """The source tables: the number of accounts and the balance band of each depend on the age band."""
    rng = np.random.default_rng(seed)
    regions = pd.DataFrame({"region_id": np.arange(1, 6), "region": ["north", "south", "east", "west", "centre"]})
    age = rng.integers(3, size=n_customers)
    customers = pd.DataFrame(
        {
            "customer_id": [f"C-{i:07d}" for i in range(n_customers)],
            "region_id": rng.integers(1, 6, size=n_customers),
            "age_band": AGE_BANDS[age],
        }
    )
    degrees = rng.poisson(np.array([0.7, 2.0, 3.5])[age])
    owner = np.repeat(np.arange(n_customers), degrees)
    same = rng.random(len(owner)) < 0.85
    balance = np.where(same, age[owner], rng.integers(3, size=len(owner)))
    accounts = pd.DataFrame(
        {
            "account_id": np.arange(len(owner)) + 1,
            "customer_id": customers["customer_id"].to_numpy()[owner],
            "balance_band": BALANCE_BANDS[balance],
        }
    )
    products = pd.DataFrame({"product_id": np.arange(1, 31), "family": rng.choice(["card", "loan", "saving"], size=30)})
    n_employees = 40
    managers = np.where(np.arange(n_employees) < 3, -1, rng.integers(0, np.maximum(np.arange(n_employees), 1)))
    employees = pd.DataFrame(
        {
            "employee_id": np.arange(1, n_employees + 1),
            "manager_id": pd.array(np.where(managers < 0, 0, managers + 1), dtype="Int64"),
            "grade": rng.choice(["a", "b", "c"], size=n_employees),
        }
    )
    employees.loc[managers < 0, "manager_id"] = pd.NA
    per_account = rng.integers(0, 4, size=len(accounts))
    tx_account = np.repeat(accounts["account_id"].to_numpy(), per_account)
    distinct_products = np.argsort(rng.random((len(accounts), 30)), axis=1)[:, :3] + 1
    tx_product = distinct_products[np.arange(3)[None, :] < per_account[:, None]]
    transactions = pd.DataFrame(
        {
            "account_id": tx_account,
            "product_id": np.asarray(tx_product, dtype=np.int64),
            "handled_by": rng.integers(1, n_employees + 1, size=len(tx_account)),
            "amount": rng.integers(5, 500, size=len(tx_account)),
        }
    )
    refunded = transactions[rng.random(len(transactions)) < 0.2]
    refunds = pd.DataFrame(
        {
            "refund_id": np.arange(1, len(refunded) + 1),
            "account_id": refunded["account_id"].to_numpy(),
            "product_id": refunded["product_id"].to_numpy(),
            "reason": rng.choice(["fraud", "error", "goodwill"], size=len(refunded)),
        }
    )
    return {
        "regions": regions,
        "customers": customers,
        "accounts": accounts,
        "products": products,
        "employees": employees,
        "transactions": transactions,
        "refunds": refunds,
    }


def write_csvs(tables: Dict[str, pd.DataFrame], directory: Path) -> Dict[str, str]:
    """Each table as `<directory>/<name>.csv`; returns name -> path."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frame in tables.items():
        path = directory / f"{name}.csv"
        frame.to_csv(path, index=False)
        paths[name] = str(path)
    return paths


def training_config(paths: Dict[str, str], model_path: Path, epsilon: float = 1000.0, **multi_table) -> Dict[str, Any]:
    """A training config over the CSV files."""
    return {
        "data_schema": bank_schema(),
        "data_input": [{"name": name, "location": path} for name, path in paths.items()],
        "model_output": str(model_path),
        "random_state": 11,
        "model_parameters": {"generator": {"epsilon": epsilon, "n_parents": 2}, "multi_table": multi_table},
        "sample_params": {"magnitude": 0.01},
    }


def generation_config(model_path: Path, outputs: Dict[str, Any], **params) -> Dict[str, Any]:
    """A generation config writing every table to `outputs[name]`."""
    return {
        "model": str(model_path),
        "data_output": [{"name": name, "location": location} for name, location in outputs.items()],
        "random_state": 5,
        "generate_params": params,
    }


def dangling_keys(frames: Dict[str, pd.DataFrame], schema: Dict[str, Any]) -> Dict[str, int]:
    """For every foreign key (column group) of the schema, how many non-null child values name no parent row."""
    tables = {table["name"]: table for table in schema["tables"]}
    result = {}
    for name, table in tables.items():
        groups: Dict[str, list] = {}
        for column in table["columns"]:
            if column["type"] == "foreign_key":
                groups.setdefault(column["ref_table"], []).append(column)
        for parent, columns in groups.items():
            child_cols = [c["name"] for c in columns]
            parent_cols = [c["ref_column"] for c in columns]
            child = frames[name][child_cols].dropna()
            keys = frames[parent][parent_cols].astype(str).agg("|".join, axis=1)
            values = child.astype(str).agg("|".join, axis=1) if len(child) else pd.Series([], dtype=str)
            if len(set(parent_cols)) < len(parent_cols):  # two keys to the same single-column key
                for child_col, parent_col in zip(child_cols, parent_cols):
                    ok = frames[name][child_col].dropna().astype(str).isin(frames[parent][parent_col].astype(str))
                    result[f"{name}.{child_col}"] = int((~ok).sum())
                continue
            result[f"{name}({','.join(child_cols)})"] = int((~values.isin(set(keys))).sum())
    return result


def normalise_keys(frame: pd.DataFrame) -> pd.DataFrame:
    """Integer-valued float key columns (a CSV column with nulls) as nullable integers."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == float and frame[column].dropna().mod(1).eq(0).all():
            frame[column] = frame[column].astype("Int64")
    return frame
