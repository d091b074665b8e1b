"""Speed of the table encoding: fit, encode and decode a 1,000,000-row x 15-column mixed frame.

Run: python bench/bench_encoding.py [n_rows]. Prints seconds per step.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from airflow_provider_hazy.config.model_parameters import PrivBayesConfig
from airflow_provider_hazy.config.schema import TabularTable
from airflow_provider_hazy.core.encoding import fit_table_encoding, prepare_frame
from airflow_provider_hazy.core.privacy import BudgetLedger

TYPES = {
    "id": "id", "segment": "category", "region": "category", "grade": "category", "age": "integer",
    "score": "integer", "income": "float", "ratio": "float", "spend": "float", "active": "bool",
    "churned": "bool", "signup": "date", "last_login": "datetime", "created": "datetime", "born": "date",
}  # fmt: skip


def make_frame(n_rows: int, rng: np.random.Generator) -> pd.DataFrame:
    segments = np.array(["retail", "business", "premium", "student", None], dtype=object)
    regions = np.array([f"region {i}" for i in range(300)], dtype=object)
    return pd.DataFrame(
        {
            "id": np.arange(n_rows),
            "segment": pd.Series(segments[rng.integers(0, 5, n_rows)], dtype="str"),
            "region": pd.Series(regions[rng.integers(0, 300, n_rows)], dtype="str"),
            "grade": rng.integers(0, 20, n_rows),
            "age": rng.integers(18, 90, n_rows),
            "score": np.where(rng.random(n_rows) < 0.1, np.nan, rng.integers(300, 850, n_rows)),
            "income": rng.lognormal(10, 1, n_rows),
            "ratio": rng.normal(0, 1, n_rows),
            "spend": np.where(rng.random(n_rows) < 0.3, 0.0, rng.exponential(100, n_rows)),
            "active": rng.random(n_rows) < 0.3,
            "churned": rng.random(n_rows) < 0.5,
            "signup": pd.Series(np.datetime_as_string(rng.integers(16000, 20000, n_rows).astype("datetime64[D]"))),
            "last_login": pd.Series(rng.integers(1.4e9, 1.7e9, n_rows).astype("datetime64[s]")).dt.strftime(
                "%Y-%m-%d %H:%M:%S"
            ),
            "created": rng.integers(1.4e9, 1.7e9, n_rows).astype("datetime64[s]"),
            "born": rng.integers(-5000, 15000, n_rows).astype("datetime64[D]").astype("datetime64[s]"),
        }
    )


def main(n_rows: int) -> None:
    rng = np.random.default_rng(0)
    table = TabularTable.model_validate({"name": "t", "columns": [{"name": k, "type": v} for k, v in TYPES.items()]})
    frame = prepare_frame(make_frame(n_rows, rng), table)
    for label, processing_epsilon in [("non-private", None), ("processing_epsilon=1", 1.0)]:
        params = PrivBayesConfig(skew_threshold=1.0, single_threshold=0.1)
        started = time.perf_counter()
        encoding = fit_table_encoding(
            frame, table, params, processing_epsilon=processing_epsilon, rng=rng, ledger=BudgetLedger(), table_name="t"
        )
        fitted = time.perf_counter()
        codes = encoding.encode(frame)
        encoded = time.perf_counter()
        encoding.decode(codes, rng)
        decoded = time.perf_counter()
        encoding.generate(codes, 0, rng)
        generated = time.perf_counter()
        print(
            f"{label}: {n_rows} rows x {len(TYPES)} columns: fit {fitted - started:.2f} s, encode "
            f"{encoded - fitted:.2f} s, decode {decoded - encoded:.2f} s, generate {generated - decoded:.2f} s"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
