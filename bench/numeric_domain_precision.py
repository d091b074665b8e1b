"""How far the streamed numeric domain fit is from the exact one above `streaming.DISTINCT_CAP` distinct values.

At most `DISTINCT_CAP` (65,536) distinct values, a streamed column keeps exact distinct counts and gets the
bins of its sorted values. Past it, quantile edges (and skewness) are interpolated within an exact histogram of
`domains.FINE_CELLS` (1,024) equal cells between the minimum and maximum, the crowded cells holding
quantile targets refined in further passes (`core.quantile_cells`). This compares both fits of
`domains.numeric_domain` on the same values (quantile strategy, `n_bins` bins, no DP): for each edge the
empirical CDF at the interpolated edge against the target quantile, and each bin's share of the rows against
1 / n_bins. Run: `python bench/numeric_domain_precision.py [n_rows]`.
"""

from __future__ import annotations

import sys

import numpy as np

from airflow_provider_hazy.core.domains import BinSpec, ValueSummary, count_sorted, numeric_domain


def _run(summary: ValueSummary, sorted_values: np.ndarray, spec: BinSpec):
    """(the domain, how many count queries it asked: passes over a streamed table)."""
    fit = numeric_domain(summary, len(sorted_values), float(len(sorted_values)), False, spec, None)
    asked = 0
    try:
        query = next(fit)
        while True:
            query.answer = count_sorted(query, sorted_values)
            asked += 1
            query = fit.send(query)
    except StopIteration as done:
        return done.value, asked


def compare(name: str, values: np.ndarray, n_bins: int = 20) -> None:
    sorted_values = np.sort(values)
    spec = BinSpec(n_bins=n_bins, default_strategy="quantile")
    exact, _ = _run(ValueSummary.of(sorted_values), sorted_values, spec)
    streamed_summary = ValueSummary(len(values), float(sorted_values[0]), float(sorted_values[-1]), None)
    streamed, passes = _run(streamed_summary, sorted_values, spec)
    n = len(sorted_values)
    cdf = lambda edges: np.searchsorted(sorted_values, edges, side="left") / n  # noqa: E731
    inner_exact, inner_streamed = exact.lower[1:], streamed.lower[1:]
    rank_error = np.abs(cdf(inner_streamed) - cdf(inner_exact))
    shares = np.diff(np.concatenate([[0.0], cdf(inner_streamed), [1.0]]))
    print(
        f"{name:<28} distinct {len(np.unique(values)):>8,}  bins {exact.n_bins}/{streamed.n_bins}  "
        f"max edge rank error {rank_error.max():.4%}  mean {rank_error.mean():.4%}  "
        f"bin share {shares.min():.4f}..{shares.max():.4f} (target {1 / n_bins:.4f})  histogram passes {passes}"
    )


def main() -> None:
    n_rows = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    rng = np.random.default_rng(0)
    compare("normal", rng.normal(50_000, 10_000, n_rows))
    compare("lognormal (sigma 1)", rng.lognormal(10, 1.0, n_rows))
    compare("lognormal (sigma 2)", rng.lognormal(10, 2.0, n_rows))
    compare("pareto (a 1.2, heavy tail)", (rng.pareto(1.2, n_rows) + 1) * 1000)
    compare("uniform", rng.uniform(0, 1e6, n_rows))


if __name__ == "__main__":
    main()
