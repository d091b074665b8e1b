"""Builds `examples/customers.csv`, the bundled example table (run from the repository root).

The rows are drawn from a small hand-written Bayesian network so that columns depend on each other
(income on segment and age, churn on activity): a synthetic copy that keeps those dependences is
visibly faithful. Nothing here comes from real people.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

N_ROWS = 5000
OUTPUT = Path(__file__).with_name("customers.csv")


def make_customers(n_rows: int = N_ROWS, seed: int = 7) -> pd.DataFrame:
    """The example customers table."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(["retail", "business", "premier"], size=n_rows, p=[0.7, 0.2, 0.1])
    age = np.clip(rng.normal(42, 12, n_rows).round(), 18, 90).astype(int)
    base_income = np.select([segment == "retail", segment == "business"], [28_000, 55_000], 90_000)
    income = np.round(base_income * (1 + (age - 42) / 100) * rng.lognormal(0, 0.25, n_rows), 2)
    income[rng.random(n_rows) < 0.12] = 0.0  # students and the retired: a dominant single value
    region = rng.choice(["north", "south", "east", "west", "london"], size=n_rows, p=[0.2, 0.25, 0.15, 0.15, 0.25])
    signup = pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 3650, n_rows), unit="D")
    is_active = rng.random(n_rows) < np.where(segment == "premier", 0.9, 0.7)
    churned = rng.random(n_rows) < np.where(is_active, 0.05, 0.45)
    last_login = signup + pd.to_timedelta(rng.integers(0, 86_400 * 300, n_rows), unit="s")
    credit_score = np.where(rng.random(n_rows) < 0.05, np.nan, np.clip(rng.normal(650, 80, n_rows), 300, 850).round())
    return pd.DataFrame(
        {
            "customer_id": np.arange(1, n_rows + 1),
            "name": "Customer " + pd.Series(np.arange(1, n_rows + 1)).astype(str),
            "segment": segment,
            "region": region,
            "age": age,
            "income": income,
            "credit_score": pd.array(credit_score, dtype="Int64"),
            "signup_date": signup.strftime("%Y-%m-%d"),
            "last_login": last_login.strftime("%Y-%m-%d %H:%M:%S"),
            "is_active": is_active,
            "churned": churned,
        }
    )


if __name__ == "__main__":
    make_customers().to_csv(OUTPUT, index=False)
    print(f"wrote {OUTPUT}")
