"""Build the bundled sample: a small retail-bank SQLite database, deterministically from this code.

Four tables: `branches` (reference, 12 rows), `customers` (600), `accounts` (~950, each with a customer
and a branch) and `transactions` (~3,000, each on an account). Values are drawn from
`numpy.random.default_rng(SEED)` with dependencies a model can learn (income by segment and age, balance
by income and account type, amount by kind), so the evaluation scores mean something. No downloaded
data; `python -m airflow_provider_hazy.sample_data.build PATH` writes it anywhere.
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Dict, Optional, Union

import numpy as np
import pandas as pd
import sqlalchemy as sa

SEED = 20240601
VERSION = 1
N_CUSTOMERS = 600
FILE_NAME = f"hazy-sample-bank-v{VERSION}.sqlite"

_CITIES = [
    ("London", "South"), ("Bristol", "South"), ("Brighton", "South"), ("Cardiff", "Wales"),
    ("Birmingham", "Midlands"), ("Nottingham", "Midlands"), ("Manchester", "North"), ("Leeds", "North"),
    ("Newcastle", "North"), ("Glasgow", "Scotland"), ("Edinburgh", "Scotland"), ("Belfast", "Northern Ireland"),
]  # fmt: skip
_SEGMENTS = np.array(["retail", "premium", "business"])
_ACCOUNT_TYPES = np.array(["current", "savings", "credit"])
_KINDS = np.array(["card", "transfer", "direct_debit", "cash"])


def sample_frames(seed: int = SEED) -> Dict[str, pd.DataFrame]:
    """The four sample tables as DataFrames (the same for the same seed)."""
    rng = np.random.default_rng(seed)
    branches = pd.DataFrame(
        {
            "branch_id": np.arange(1, len(_CITIES) + 1),
            "city": [city for city, _ in _CITIES],
            "region": [region for _, region in _CITIES],
        }
    )
    segment_codes = rng.choice(3, size=N_CUSTOMERS, p=[0.7, 0.2, 0.1])
    age = np.clip(rng.normal(42, 13, N_CUSTOMERS), 18, 90).round().astype(int)
    income = np.round(np.exp(rng.normal(10.1 + 0.45 * segment_codes + 0.006 * (age - 40), 0.35)), 2)
    signup = [date(2015, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 3200, N_CUSTOMERS)]
    customers = pd.DataFrame(
        {
            "customer_id": np.arange(1, N_CUSTOMERS + 1),
            "segment": _SEGMENTS[segment_codes],
            "age": age,
            "income": income,
            "signup_date": signup,
            "is_active": rng.random(N_CUSTOMERS) < 0.85,
        }
    )
    per_customer = 1 + rng.poisson(0.4 + 0.5 * segment_codes)
    owner = np.repeat(np.arange(N_CUSTOMERS), per_customer)
    n_accounts = len(owner)
    type_codes = rng.choice(3, size=n_accounts, p=[0.55, 0.3, 0.15])
    opened = [signup[o] + timedelta(days=int(d)) for o, d in zip(owner, rng.integers(0, 400, n_accounts))]
    scale = np.where(type_codes == 1, 0.6, np.where(type_codes == 2, -0.1, 0.08))
    balance = np.round(income[owner] * scale * rng.lognormal(0, 0.5, n_accounts), 2)
    accounts = pd.DataFrame(
        {
            "account_id": np.arange(1, n_accounts + 1),
            "customer_id": owner + 1,
            "branch_id": rng.integers(1, len(_CITIES) + 1, n_accounts),
            "account_type": _ACCOUNT_TYPES[type_codes],
            "opened_date": opened,
            "balance": balance,
        }
    )
    per_account = rng.poisson(np.where(type_codes == 1, 1.0, 4.0))
    account = np.repeat(np.arange(n_accounts), per_account)
    n_transactions = len(account)
    kind_codes = rng.choice(4, size=n_transactions, p=[0.55, 0.2, 0.15, 0.1])
    mean_amount = np.array([3.2, 5.5, 4.3, 3.9])[kind_codes]
    amount = np.round(np.exp(rng.normal(mean_amount, 0.6)), 2)
    start = datetime(2024, 1, 1)
    posted = [start + timedelta(minutes=int(m)) for m in rng.integers(0, 366 * 24 * 60, n_transactions)]
    transactions = pd.DataFrame(
        {
            "transaction_id": np.arange(1, n_transactions + 1),
            "account_id": account + 1,
            "kind": _KINDS[kind_codes],
            "amount": amount,
            "posted_at": posted,
        }
    )
    return {"branches": branches, "customers": customers, "accounts": accounts, "transactions": transactions}


def _metadata() -> sa.MetaData:
    metadata = sa.MetaData()
    sa.Table(
        "branches",
        metadata,
        sa.Column("branch_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("city", sa.String(40), nullable=False),
        sa.Column("region", sa.String(40), nullable=False),
    )
    sa.Table(
        "customers",
        metadata,
        sa.Column("customer_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("segment", sa.String(20), nullable=False),
        sa.Column("age", sa.Integer, nullable=False),
        sa.Column("income", sa.Float, nullable=False),
        sa.Column("signup_date", sa.Date, nullable=False),
        sa.Column("is_active", sa.Boolean, nullable=False),
    )
    sa.Table(
        "accounts",
        metadata,
        sa.Column("account_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.customer_id"), nullable=False),
        sa.Column("branch_id", sa.Integer, sa.ForeignKey("branches.branch_id"), nullable=False),
        sa.Column("account_type", sa.String(20), nullable=False),
        sa.Column("opened_date", sa.Date, nullable=False),
        sa.Column("balance", sa.Float, nullable=False),
    )
    sa.Table(
        "transactions",
        metadata,
        sa.Column("transaction_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.account_id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("amount", sa.Float, nullable=False),
        sa.Column("posted_at", sa.DateTime, nullable=False),
    )
    return metadata


def write_sample(engine: sa.Engine, frames: Optional[Dict[str, pd.DataFrame]] = None) -> Dict[str, int]:
    """Create the four tables (with keys) in `engine`'s default schema and fill them; returns row counts."""
    frames = sample_frames() if frames is None else frames
    metadata = _metadata()
    with engine.begin() as connection:
        metadata.create_all(connection)
        for table in metadata.sorted_tables:
            records = frames[table.name].astype(object).to_dict(orient="records")
            connection.execute(table.insert(), records)
    return {name: len(frame) for name, frame in frames.items()}


def default_directory() -> Path:
    """Where the sample is cached: `$AIRFLOW_HOME/hazy_sample`, else `<tmp>/hazy_sample`."""
    home = os.environ.get("AIRFLOW_HOME")
    return Path(home) / "hazy_sample" if home else Path(tempfile.gettempdir()) / "hazy_sample"


def sample_database(directory: Union[str, Path, None] = None) -> Path:
    """The sample SQLite database, built on first use (atomically, so parallel DAG parses are safe)."""
    folder = Path(directory) if directory is not None else default_directory()
    path = folder / FILE_NAME
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{FILE_NAME}.{os.getpid()}.tmp"
    engine = sa.create_engine(f"sqlite:///{partial}")
    try:
        write_sample(engine)
    finally:
        engine.dispose()
    os.replace(partial, path)
    return path


if __name__ == "__main__":
    target = sample_database(sys.argv[1] if len(sys.argv) > 1 else None)
    print(target)
