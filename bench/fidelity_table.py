"""The fidelity table of docs/privacy.md: the mixed-type test table of tests/core/test_fidelity.py (30,000
rows, 12 modelled columns with nulls, drawn from a known network), encoded, fitted and decoded as
`api.train` / `api.generate` do, at the configurator's defaults (only epsilon set) or with the settings
given, scored on the source's deciles (1-way and 2-way TVD, as the test does).

    python bench/fidelity_table.py                          # defaults, epsilon 1 and 1000, fit seeds 0-2
    python bench/fidelity_table.py --set n_bins=10 --set bin_strategy_default=quantile --epsilons 1
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "core")]

from test_fidelity import N_ROWS, TABLE, customers, evaluation_codes, prepare_frame, synthesise, total_variation  # noqa: E402


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epsilons", type=float, nargs="+", default=[1.0, 1000.0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], help="a generator setting, e.g. n_bins=10")
    args = parser.parse_args(argv)
    params = {key: _value(value) for key, value in (item.split("=", 1) for item in args.set)}
    source = prepare_frame(customers(N_ROWS, seed=0), TABLE)
    for epsilon in args.epsilons:
        started = time.perf_counter()
        results = []
        for seed in range(args.seeds):
            synthetic, _ = synthesise(source, epsilon, seed, **params)
            (real, fake), sizes = evaluation_codes(source, [source, synthetic])
            results.append(total_variation(real, fake, sizes))
        one = [r[0] for r in results]
        two = [r[1] for r in results]
        print(
            f"epsilon {epsilon:g} {params or 'defaults'}: 1-way {min(one):.3f}-{max(one):.3f}, "
            f"2-way {min(two):.3f}-{max(two):.3f} (fit seeds 0-{args.seeds - 1}, {time.perf_counter() - started:.1f} s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
