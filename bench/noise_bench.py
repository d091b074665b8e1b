"""Training time with each noise sampler, on the mixed-type table of `privbayes_bench.py` (1M rows x 15
columns by default), and the raw speed of the samplers per cell.

Run (from the repository root):
    python bench/noise_bench.py                       # 1,000,000 rows x 15 columns, epsilon 1000 and 1
    python bench/noise_bench.py --rows 100000 --epsilon 1

Samplers compared, each through the real training path (`fit_table_encoding` -> `encode` -> `privbayes.fit`,
processing_epsilon unset, the configurator's defaults otherwise):
- before: the sampler this package used until issue 13, continuous Laplace and the exponential mechanism
  drawn from `numpy.random.default_rng(random_state)` (a `NoiseSource` reproducing it exactly; not private
  once the seed is known, which the manifest stored).
- after: `FreshNoise`, the default: OpenDP on OS entropy for selections and for count vectors up to
  `OPENDP_MAX_CELLS` cells, a freshly keyed NumPy Philox discrete Laplace for larger count tables.
- OpenDP only: `FreshNoise(opendp_max_cells=inf)`: every count table through OpenDP. Its time is given by
  the per-cell cost measured here times the cells the ledger recorded (running it takes minutes), unless
  `--run-opendp-only` is given.
The machine may be shared: wall-clock figures under whatever load there is (CPU seconds next to them).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from privbayes_bench import mixed_table  # noqa: E402

from airflow_provider_hazy.config.model_parameters import PrivBayesConfig  # noqa: E402
from airflow_provider_hazy.config.schema import TabularTable  # noqa: E402
from airflow_provider_hazy.core import privbayes  # noqa: E402
from airflow_provider_hazy.core.encoding import fit_table_encoding, prepare_frame  # noqa: E402
from airflow_provider_hazy.core.noise import FreshNoise, NoiseSource  # noqa: E402
from airflow_provider_hazy.core.privacy import BudgetLedger  # noqa: E402


class SeededContinuousNoise(NoiseSource):
    """The sampler before issue 13: `rng.laplace` on every cell and the exponential mechanism's inverse CDF,
    from the generator seeded with random_state."""

    private = False
    description = "before: numpy default_rng(random_state), continuous Laplace"

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def discrete_laplace(self, counts: np.ndarray, scale: float) -> np.ndarray:
        return np.asarray(counts) + self.rng.laplace(0.0, scale, size=np.shape(counts))

    def noisy_max(self, scores: np.ndarray, scale: float) -> int:
        # exponential mechanism with P proportional to exp(score / scale)
        weights = np.exp((scores - scores.max()) / scale)
        cumulative = np.cumsum(weights)
        return int(min(np.searchsorted(cumulative, self.rng.random() * cumulative[-1], side="right"), len(scores) - 1))

    def uniform_index(self, n: int) -> int:
        return int(self.rng.integers(n))


def per_cell_seconds(noise: NoiseSource, n_cells: int) -> float:
    counts = np.random.default_rng(0).integers(0, 1000, n_cells)
    started = time.perf_counter()
    noise.discrete_laplace(counts, 30.0)
    return (time.perf_counter() - started) / n_cells


def train(source, table, config, noise: NoiseSource) -> tuple[float, float, int, int]:
    """(wall s, cpu s, count-table cells, of which through OpenDP) of one training with `noise`."""
    ledger = BudgetLedger(noise=noise)
    rng = np.random.default_rng(1)
    started, started_cpu = time.perf_counter(), time.process_time()
    encoding = fit_table_encoding(source, table, config, processing_epsilon=None, rng=rng, ledger=ledger)
    codes = encoding.encode(source)
    privbayes.fit(
        codes,
        encoding.domain_sizes,
        epsilon=config.epsilon,
        n_parents=config.n_parents,
        sample_parents=config.sample_parents,
        hierarchies=encoding.hierarchies(),
        rng=rng,
        ledger=ledger,
        table="bench",
    )
    seconds, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    cells = [int(entry.detail["cells"]) for entry in ledger.entries if entry.purpose == "conditional"]
    limit = getattr(noise, "opendp_max_cells", 0)
    return seconds, cpu, sum(cells), sum(c for c in cells if c <= limit)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cols", type=int, default=15)
    parser.add_argument("--epsilon", type=float, action="append")
    parser.add_argument("--run-opendp-only", action="store_true")
    args = parser.parse_args()
    epsilons = args.epsilon or [1000.0, 1.0]

    opendp_cell = per_cell_seconds(FreshNoise(opendp_max_cells=2**62), 200_000)
    numpy_cell = per_cell_seconds(FreshNoise(opendp_max_cells=0), 5_000_000)
    before_cell = per_cell_seconds(SeededContinuousNoise(0), 5_000_000)
    print("sampler cost per cell (discrete Laplace, scale 30):")
    print(f"  OpenDP make_laplace (i64 vector)      {opendp_cell * 1e9:10.0f} ns")
    print(f"  NumPy Philox, fresh key (geometric)   {numpy_cell * 1e9:10.0f} ns")
    print(f"  before: numpy rng.laplace (seeded)    {before_cell * 1e9:10.0f} ns")

    frame, schema = mixed_table(args.rows, args.cols)
    table = TabularTable.model_validate({"name": "bench", "columns": schema})
    source = prepare_frame(frame, table)
    del frame
    for epsilon in epsilons:
        config = PrivBayesConfig(epsilon=epsilon)
        print(f"\n{args.rows:,} rows x {args.cols} columns, epsilon {epsilon:g} (k={config.n_parents}, "
              f"{config.n_bins} bins):")
        cases = [("before (seeded numpy Laplace)", SeededContinuousNoise(42)), ("after (FreshNoise)", FreshNoise())]
        if args.run_opendp_only:
            cases.append(("OpenDP only", FreshNoise(opendp_max_cells=2**62)))
        for label, noise in cases:
            seconds, cpu, cells, opendp_cells = train(source, table, config, noise)
            print(f"  {label:32s} train {seconds:7.1f} s (cpu {cpu:6.1f} s); count cells {cells:,}"
                  + (f", {opendp_cells:,} through OpenDP" if isinstance(noise, FreshNoise) else ""))
        if not args.run_opendp_only:
            extra = (cells - opendp_cells) * (opendp_cell - numpy_cell)
            print(f"  {'OpenDP only (estimated)':32s} train ~{seconds + extra:6.0f} s "
                  f"(after + {cells - opendp_cells:,} more cells x {opendp_cell * 1e6:.1f} us)")


if __name__ == "__main__":
    main()
