"""PrivBayes core speed on integer codes: fit seconds and sampled rows per second.

Run: python bench/privbayes_core_bench.py
Data: a random tree-shaped Bayesian network (each column depends on one earlier column), domains 2..100.
"""

from __future__ import annotations

import time

import numpy as np

from airflow_provider_hazy.core import privbayes
from airflow_provider_hazy.core.privacy import BudgetLedger

SAMPLE_ROWS = 1_000_000


def tree_codes(n_rows: int, n_columns: int, rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    """Codes where column j copies a scaled earlier column with probability 0.7, else is uniform."""
    domain_sizes = [int(size) for size in rng.integers(2, 101, size=n_columns)]
    codes = np.empty((n_rows, n_columns), dtype=np.int64, order="F")
    codes[:, 0] = rng.integers(domain_sizes[0], size=n_rows)
    for j in range(1, n_columns):
        parent = int(rng.integers(j))
        follows = rng.random(n_rows) < 0.7
        scaled = codes[:, parent] * domain_sizes[j] // domain_sizes[parent]
        codes[:, j] = np.where(follows, scaled, rng.integers(domain_sizes[j], size=n_rows))
    return codes, domain_sizes


def run(n_rows: int, n_columns: int, epsilon: float = 1.0, n_parents: int = 3) -> None:
    codes, domain_sizes = tree_codes(n_rows, n_columns, np.random.default_rng(0))
    hierarchies = [privbayes.ordinal_hierarchy(size) for size in domain_sizes]
    rng = np.random.default_rng(1)
    started = time.perf_counter()
    model = privbayes.fit(
        codes,
        domain_sizes,
        epsilon=epsilon,
        n_parents=n_parents,
        hierarchies=hierarchies,
        rng=rng,
        ledger=BudgetLedger(),
    )
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    privbayes.sample(model, SAMPLE_ROWS, rng)
    sample_seconds = time.perf_counter() - started
    print(
        f"{n_rows:>7} rows x {n_columns:>2} columns, k={n_parents}, epsilon={epsilon:g}: "
        f"fit {fit_seconds:6.2f} s; sample {SAMPLE_ROWS} rows in {sample_seconds:5.2f} s "
        f"({SAMPLE_ROWS / sample_seconds:,.0f} rows/s)"
    )


if __name__ == "__main__":
    run(50_000, 15)
    run(100_000, 60)
