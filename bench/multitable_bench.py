"""Multi-table training and generation speed: a 5-table database whose largest table has 1,000,000 rows.

    python bench/multitable_bench.py                    # 1,000,000 transactions
    python bench/multitable_bench.py --rows 200000 --epsilon 1

regions (reference, 8 rows) <- customers (rows / 10) <- accounts (rows / 4) <- transactions (rows) ->
products (500 rows). Sources and outputs are Parquet files in a temporary directory. Prints the training
and generation time and rows/s (all tables' rows over the wall time, reading and writing included).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Dict

import numpy as np
import pandas as pd

from airflow_provider_hazy import api


def _fk(name: str, table: str, column: str) -> dict:
    return {"name": name, "type": "foreign_key", "ref_table": table, "ref_column": column}


SCHEMA = {
    "tables": [
        {
            "name": "regions",
            "type": "reference",
            "columns": [{"name": "region_id", "type": "id"}, {"name": "region", "type": "category"}],
        },
        {
            "name": "customers",
            "columns": [
                {"name": "customer_id", "type": "id"},
                _fk("region_id", "regions", "region_id"),
                {"name": "age", "type": "integer"},
                {"name": "segment", "type": "category"},
            ],
        },
        {
            "name": "accounts",
            "columns": [
                {"name": "account_id", "type": "id"},
                _fk("customer_id", "customers", "customer_id"),
                {"name": "kind", "type": "category"},
                {"name": "balance", "type": "float"},
                {"name": "opened", "type": "date"},
            ],
        },
        {
            "name": "products",
            "columns": [
                {"name": "product_id", "type": "id"},
                {"name": "family", "type": "category"},
                {"name": "price", "type": "float"},
            ],
        },
        {
            "name": "transactions",
            "columns": [
                {"name": "transaction_id", "type": "id"},
                _fk("account_id", "accounts", "account_id"),
                _fk("product_id", "products", "product_id"),
                {"name": "amount", "type": "float"},
                {"name": "channel", "type": "category"},
                {"name": "at", "type": "datetime"},
            ],
        },
    ]
}


def make_database(rows: int, seed: int = 0) -> Dict[str, pd.DataFrame]:
    """The five source tables, the largest (`transactions`) with `rows` rows."""
    rng = np.random.default_rng(seed)
    n_customers, n_accounts, n_products = max(rows // 10, 1), max(rows // 4, 1), 500
    regions = pd.DataFrame({"region_id": np.arange(1, 9), "region": [f"r{i}" for i in range(8)]})
    segment = rng.integers(3, size=n_customers)
    customers = pd.DataFrame(
        {
            "customer_id": np.arange(1, n_customers + 1),
            "region_id": rng.integers(1, 9, n_customers),
            "age": rng.integers(18, 90, n_customers),
            "segment": np.array(["retail", "premier", "business"])[segment],
        }
    )
    weights = np.array([1.0, 2.0, 4.0])[segment]
    owners = rng.choice(n_customers, size=n_accounts, p=weights / weights.sum())
    accounts = pd.DataFrame(
        {
            "account_id": np.arange(1, n_accounts + 1),
            "customer_id": owners + 1,
            "kind": np.where(segment[owners] == 2, "business", rng.choice(["current", "saving"], n_accounts)),
            "balance": rng.lognormal(7 + segment[owners], 1.0),
            "opened": pd.to_datetime("2010-01-01") + pd.to_timedelta(rng.integers(0, 5000, n_accounts), unit="D"),
        }
    )
    products = pd.DataFrame(
        {
            "product_id": np.arange(1, n_products + 1),
            "family": rng.choice(["card", "loan", "fx"], n_products),
            "price": rng.gamma(2.0, 20.0, n_products),
        }
    )
    accounts_of = rng.integers(0, n_accounts, rows)
    transactions = pd.DataFrame(
        {
            "transaction_id": np.arange(1, rows + 1),
            "account_id": accounts_of + 1,
            "product_id": rng.integers(1, n_products + 1, rows),
            "amount": rng.gamma(2.0, 30.0, rows) * (1 + (accounts.kind.to_numpy()[accounts_of] == "business")),
            "channel": rng.choice(["app", "web", "branch"], rows, p=[0.6, 0.3, 0.1]),
            "at": pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 365 * 86400, rows), unit="s"),
        }
    )
    return {
        "regions": regions,
        "customers": customers,
        "accounts": accounts,
        "products": products,
        "transactions": transactions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the largest table")
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--batch-magnitude", type=float, default=0.25)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        tables = make_database(args.rows)
        (root / "source").mkdir()
        for name, frame in tables.items():
            frame.to_parquet(root / "source" / f"{name}.parquet", index=False)
        source_rows = sum(len(frame) for frame in tables.values())
        config = {
            "data_schema": SCHEMA,
            "data_input": [{"name": n, "location": str(root / "source" / f"{n}.parquet")} for n in tables],
            "model_output": str(root / "bank.hmf"),
            "random_state": 0,
            "model_parameters": {"generator": {"epsilon": args.epsilon}},
        }
        started = time.perf_counter()
        model = api.train(config)
        training = time.perf_counter() - started
        started = time.perf_counter()
        state = api.generate(
            {
                "model": str(model),
                "data_output": [{"name": n, "location": str(root / "out" / f"{n}.parquet")} for n in tables],
                "random_state": 1,
                "generate_params": {"batch_magnitude": args.batch_magnitude},
            }
        )
        generation = time.perf_counter() - started
        generated = sum(table["rows"] for table in state["tables"].values())
    print(f"source: {source_rows:,} rows in 5 tables (largest: transactions, {args.rows:,} rows)")
    print(f"training:   {training:8.2f} s  {source_rows / training:12,.0f} rows/s  (epsilon {args.epsilon:g})")
    print(
        f"generation: {generation:8.2f} s  {generated / generation:12,.0f} rows/s  "
        f"({generated:,} rows, {state['n_batches']} batches, Parquet files)"
    )
    for name, table in state["tables"].items():
        print(f"  {name}: {table['rows']:,} rows")


if __name__ == "__main__":
    main()
