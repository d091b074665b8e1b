"""PrivBayes end to end on mixed-type tables: training seconds, generated rows per second, peak memory and
mean 1-way / 2-way total variation distance, next to the targets of issue 3.

Run (from the repository root):
    python bench/privbayes_bench.py                 # full grid: 10k, 100k, 1M rows x 15, 30, 60 columns
    python bench/privbayes_bench.py --quick         # 10k x 15, 50k x 15 (the target case), 100k x 30
    python bench/privbayes_bench.py --rows 50000 --cols 15 --rows 100000 --cols 60   # chosen cases
    python bench/privbayes_bench.py --quick --no-datasynthesizer

Data: a random Bayesian network over latent discrete variables (a tree: each column depends on one earlier
column, copying its rescaled value with probability 0.8, else uniform; 2 to 20 values), each latent column
turned into a typed column in turn: category (text), integer, float, bool, date, datetime, with 3 % nulls in
every column but the first. The table then goes through the real pipeline of `api.train`/`api.generate`:
`prepare_frame` -> `fit_table_encoding` (processing_epsilon unset) -> `encode` -> `privbayes.fit`, and
`privbayes.sample` -> `TableEncoding.generate` (decoded typed columns).

Figures:
- train s: encoding fitted and applied, plus `privbayes.fit` (what `api.train` spends outside I/O). Wall
  clock, with the process's CPU seconds (`time.process_time`, all threads) next to it: on a loaded machine
  the CPU figure is the one to compare with a target.
- generate rows/s: `--generate-rows` rows (default 1,000,000) sampled and decoded into a DataFrame; the
  sampling alone (integer codes) is shown too.
- peak MB: each case runs in a fresh Python subprocess; the figure is that process's
  `resource.getrusage(RUSAGE_SELF).ru_maxrss` at the end (peak resident set size, including the ~150 MB of
  Python, NumPy and pandas themselves, shown as "base").
- TVD: mean total variation distance of all 1-way and 2-way marginals between the source and as many
  generated rows, after discretising every column afresh from the source (categories and bools by value,
  numbers and dates by source deciles, null a bin of its own); on at most 100,000 rows of each side.

DataSynthesizer (DataResponsibly, 0.1.13) is compared in correlated attribute mode (k=2, epsilon=1) on the
same 5,000-row, 15-column table, in its own environment, because it pins old libraries:
    python3 -m venv /tmp/ds-venv && /tmp/ds-venv/bin/pip install DataSynthesizer==0.1.13
    python bench/privbayes_bench.py --datasynthesizer-python /tmp/ds-venv/bin/python
Without a working interpreter (default: this one) the comparison is skipped with a message. DataSynthesizer
is not a dependency of this package (not in setup.cfg). 0.1.13 installs cleanly that way (it pulled NumPy
2.4 and pandas 3.1); its type inference then fails on bool columns, so the bench passes every column's
data type explicitly and writes bools as "yes"/"no" text.
The machine may be shared: the figures are wall-clock seconds under whatever load there is.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

TYPES = ("category", "integer", "float", "bool", "date", "datetime")
NULL_RATE = 0.03
TVD_ROWS = 100_000
N_DECILES = 10
FULL_GRID = [(rows, cols) for rows in (10_000, 100_000, 1_000_000) for cols in (15, 30, 60)]
QUICK_GRID = [(10_000, 15), (50_000, 15), (100_000, 30)]
TARGETS = {
    (50_000, 15): "target (k=3, eps 1): train <= 2 s, generate 1,000,000 rows <= 3 s, peak < 1024 MB",
    (100_000, 60): "target: train < 60 s",
}
DS_ROWS, DS_COLS = 5_000, 15


# The table ------------------------------------------------------------------------------------------------


def latent_network(n_rows: int, n_columns: int, rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    """Codes of a random tree network: column j copies a rescaled earlier column with probability 0.8."""
    sizes = [int(size) for size in rng.integers(2, 21, size=n_columns)]
    for j, kind in enumerate(column_types(n_columns)):
        if kind == "bool":
            sizes[j] = 2
    codes = np.empty((n_rows, n_columns), dtype=np.int64, order="F")
    codes[:, 0] = rng.integers(sizes[0], size=n_rows)
    for j in range(1, n_columns):
        parent = int(rng.integers(j))
        follows = rng.random(n_rows) < 0.8
        rescaled = codes[:, parent] * sizes[j] // sizes[parent]
        codes[:, j] = np.where(follows, rescaled, rng.integers(sizes[j], size=n_rows))
    return codes, sizes


def column_types(n_columns: int) -> list[str]:
    return [TYPES[j % len(TYPES)] for j in range(n_columns)]


def mixed_table(n_rows: int, n_columns: int, seed: int = 0) -> tuple[pd.DataFrame, list[dict]]:
    """The typed table and its schema columns (an id column first, then one column per latent variable)."""
    rng = np.random.default_rng(seed)
    codes, _ = latent_network(n_rows, n_columns, rng)
    data: dict[str, object] = {"id": np.arange(1, n_rows + 1)}
    schema: list[dict] = [{"name": "id", "type": "id"}]
    for j, kind in enumerate(column_types(n_columns)):
        name, code = f"{kind}_{j}", codes[:, j]
        if kind == "category":
            values = pd.Series(pd.Categorical.from_codes(code, [f"level_{v}" for v in range(code.max() + 1)]))
            values = values.astype(object)
        elif kind == "integer":
            values = pd.Series(pd.array(code * 10 + rng.integers(0, 10, n_rows), dtype="Int64"))
        elif kind == "float":
            values = pd.Series(np.round(np.exp(code * 0.2 + rng.normal(0, 0.1, n_rows)), 3))
        elif kind == "bool":
            values = pd.Series(pd.array(code == 1, dtype="boolean"))
        elif kind == "date":
            days = code * 30 + rng.integers(0, 30, n_rows)
            values = pd.Series(np.datetime64("2020-01-01") + days.astype("timedelta64[D]"))
        else:
            seconds = code * 3 * 3600 + rng.integers(0, 3 * 3600, n_rows)
            values = pd.Series(np.datetime64("2024-01-01T00:00:00") + seconds.astype("timedelta64[s]"))
        if j:
            values = values.mask(rng.random(n_rows) < NULL_RATE)
        data[name] = values
        schema.append({"name": name, "type": kind})
    return pd.DataFrame(data), schema


# Fidelity -------------------------------------------------------------------------------------------------


def evaluation_codes(source: pd.Series, series: pd.Series, kind: str) -> tuple[np.ndarray, int]:
    """Codes of `series` on bins fitted to `source`: by value for category/bool, by source deciles for the
    others; null is the last code, a value the source lacks the one before."""
    present = source.dropna()
    null = series.isna().to_numpy()
    if kind in ("category", "bool"):
        values = pd.Index(sorted(present.astype(str).unique()))
        n_codes = len(values) + 2
        codes = np.full(len(series), n_codes - 1, dtype=np.int64)
        position = values.get_indexer(series[~null].astype(str))
        codes[~null] = np.where(position >= 0, position, n_codes - 2)
        return codes, n_codes

    def numbers(values: pd.Series) -> np.ndarray:
        if kind in ("date", "datetime"):
            return pd.to_datetime(values).to_numpy("datetime64[s]").astype(np.int64).astype(np.float64)
        return values.astype(np.float64).to_numpy()

    edges = np.unique(np.quantile(numbers(present), np.linspace(0, 1, N_DECILES + 1)[1:-1]))
    n_codes = len(edges) + 2
    codes = np.full(len(series), n_codes - 1, dtype=np.int64)
    codes[~null] = np.searchsorted(edges, numbers(series[~null]), side="right")
    return codes, n_codes


def mean_tvd(source: pd.DataFrame, synthetic: pd.DataFrame, schema: list[dict]) -> tuple[float, float]:
    """(mean 1-way TVD, mean 2-way TVD) over the modelled columns, on at most `TVD_ROWS` rows of each."""
    rng = np.random.default_rng(0)
    if len(source) > TVD_ROWS:
        source = source.iloc[np.sort(rng.choice(len(source), TVD_ROWS, replace=False))]
    if len(synthetic) > TVD_ROWS:
        synthetic = synthetic.iloc[np.sort(rng.choice(len(synthetic), TVD_ROWS, replace=False))]
    real, fake, sizes = [], [], []
    for column in schema[1:]:
        name, kind = column["name"], column["type"]
        real_codes, n_codes = evaluation_codes(source[name], source[name], kind)
        fake_codes, _ = evaluation_codes(source[name], synthetic[name], kind)
        real.append(real_codes)
        fake.append(fake_codes)
        sizes.append(n_codes)

    def tvd(a: np.ndarray, b: np.ndarray, n_cells: int) -> float:
        p = np.bincount(a, minlength=n_cells) / a.size
        q = np.bincount(b, minlength=n_cells) / b.size
        return 0.5 * float(np.abs(p - q).sum())

    one_way = [tvd(a, b, size) for a, b, size in zip(real, fake, sizes)]
    two_way = [
        tvd(real[i] * sizes[j] + real[j], fake[i] * sizes[j] + fake[j], sizes[i] * sizes[j])
        for i, j in itertools.combinations(range(len(sizes)), 2)
    ]
    return float(np.mean(one_way)), float(np.mean(two_way))


# One case, in a fresh process -----------------------------------------------------------------------------


def run_case(n_rows: int, n_columns: int, epsilon: float, n_parents: int, generate_rows: int, n_bins: int) -> dict:
    """Train and generate once; the figures as a dict (printed as JSON by the child process)."""
    from airflow_provider_hazy.config.model_parameters import PrivBayesConfig
    from airflow_provider_hazy.config.schema import TabularTable
    from airflow_provider_hazy.core import privbayes
    from airflow_provider_hazy.core.encoding import fit_table_encoding, prepare_frame
    from airflow_provider_hazy.core.privacy import BudgetLedger

    base_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    frame, schema = mixed_table(n_rows, n_columns)
    table = TabularTable.model_validate({"name": "bench", "columns": schema})
    config = PrivBayesConfig(epsilon=epsilon, n_parents=n_parents, n_bins=n_bins)
    source = prepare_frame(frame, table)
    del frame
    rng = np.random.default_rng(1)
    ledger = BudgetLedger()
    started, started_cpu = time.perf_counter(), time.process_time()
    encoding = fit_table_encoding(source, table, config, processing_epsilon=None, rng=rng, ledger=ledger)
    codes = encoding.encode(source)
    encode_seconds = time.perf_counter() - started
    model = privbayes.fit(
        codes,
        encoding.domain_sizes,
        epsilon=epsilon,
        n_parents=n_parents,
        sample_parents=config.sample_parents,
        hierarchies=encoding.hierarchies(),
        rng=rng,
        ledger=ledger,
        table="bench",
    )
    train_seconds, train_cpu = time.perf_counter() - started, time.process_time() - started_cpu
    del codes
    started, started_cpu = time.perf_counter(), time.process_time()
    synthetic_codes = privbayes.sample(model, generate_rows, np.random.default_rng(2))
    sample_seconds = time.perf_counter() - started
    synthetic = encoding.generate(synthetic_codes, 0, np.random.default_rng(3))
    generate_seconds, generate_cpu = time.perf_counter() - started, time.process_time() - started_cpu
    del synthetic_codes
    one_way, two_way = mean_tvd(source, synthetic, schema)
    return {
        "rows": n_rows,
        "columns": n_columns,
        "code_columns": len(encoding.domain_sizes),
        "epsilon": epsilon,
        "k": n_parents,
        "ledger_total": ledger.total_epsilon,
        "encode_s": encode_seconds,
        "train_s": train_seconds,
        "train_cpu_s": train_cpu,
        "generate_rows": generate_rows,
        "sample_s": sample_seconds,
        "generate_s": generate_seconds,
        "generate_cpu_s": generate_cpu,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "base_mb": base_mb,
        "tvd_1": one_way,
        "tvd_2": two_way,
    }


def in_subprocess(args: list[str], python: str = sys.executable, timeout: float | None = None) -> dict:
    """Run this file with `args` in a fresh interpreter; its last stdout line is a JSON result."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        [python, str(Path(__file__).resolve()), *args], capture_output=True, text=True, env=env, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_case(result: dict) -> None:
    rows_per_second = result["generate_rows"] / result["generate_s"]
    sample_rate = result["generate_rows"] / result["sample_s"]
    print(
        f"{result['rows']:>9,} x {result['columns']:>2} ({result['code_columns']:>2} code cols)"
        f"  train {result['train_s']:7.2f} s (cpu {result['train_cpu_s']:6.2f}; encoding {result['encode_s']:5.2f})"
        f"  generate {result['generate_rows']:,} rows {result['generate_s']:6.2f} s"
        f" (cpu {result['generate_cpu_s']:5.2f})"
        f" = {rows_per_second:>9,.0f} rows/s"
        f" (codes only {result['sample_s']:5.2f} s = {sample_rate:>10,.0f} rows/s)"
        f"  peak {result['peak_mb']:6.0f} MB (base {result['base_mb']:3.0f})"
        f"  TVD 1-way {result['tvd_1']:.3f} 2-way {result['tvd_2']:.3f}",
        flush=True,
    )
    target = TARGETS.get((result["rows"], result["columns"]))
    if target:
        print(f"{'':>13}{target}", flush=True)


# DataSynthesizer ------------------------------------------------------------------------------------------


DATASYNTHESIZER_CHILD = """
import json, sys, time
try:
    from DataSynthesizer.DataDescriber import DataDescriber
    from DataSynthesizer.DataGenerator import DataGenerator
except Exception as error:
    print(json.dumps({"skipped": f"DataSynthesizer is not importable by {sys.executable}: {error!r}"}))
    sys.exit(0)
from DataSynthesizer.datatypes.utils.DataType import DataType
csv_path, description_path, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
types = json.loads(sys.argv[4])
kinds = {"id": "Integer", "integer": "Integer", "float": "Float", "category": "String", "bool": "String",
         "date": "DateTime", "datetime": "DateTime"}
started = time.perf_counter()
describer = DataDescriber(category_threshold=25)
describer.describe_dataset_in_correlated_attribute_mode(
    dataset_file=csv_path, epsilon=1.0, k=2,
    attribute_to_datatype={name: DataType(kinds[kind]) for name, kind in types.items()},
    attribute_to_is_categorical={name: kind in ("category", "bool") for name, kind in types.items()},
    attribute_to_is_candidate_key={"id": True}, seed=0,
)
describer.save_dataset_description_to_file(description_path)
train_seconds = time.perf_counter() - started
started = time.perf_counter()
generator = DataGenerator()
generator.generate_dataset_in_correlated_attribute_mode(int(sys.argv[5]), description_path, seed=0)
generator.save_synthetic_data(out_path)
print(json.dumps({"train_s": train_seconds, "generate_s": time.perf_counter() - started}))
"""


def datasynthesizer_output(synthetic: pd.DataFrame, types: dict[str, str]) -> pd.DataFrame:
    """DataSynthesizer's CSV with its datetimes (written as epoch seconds) turned back into datetimes."""
    for name in (name for name, kind in types.items() if kind in ("date", "datetime")):
        values = synthetic[name]
        if pd.api.types.is_numeric_dtype(values):
            synthetic[name] = pd.to_datetime(values, unit="s", errors="coerce")
        else:
            synthetic[name] = pd.to_datetime(values, errors="coerce")
    return synthetic


def compare_with_datasynthesizer(python: str, epsilon: float = 1.0) -> None:
    print(f"\nDataSynthesizer, correlated attribute mode, k=2, epsilon {epsilon:g}, {DS_ROWS:,} rows x {DS_COLS} cols")
    ours = in_subprocess(["--case", str(DS_ROWS), str(DS_COLS), "--k", "2", "--epsilon", str(epsilon),
                          "--generate-rows", str(DS_ROWS)])
    print(f"  hazy PrivBayes:  train {ours['train_s']:8.2f} s  generate {ours['generate_s']:6.2f} s  "
          f"TVD 1-way {ours['tvd_1']:.3f} 2-way {ours['tvd_2']:.3f}")
    frame, schema = mixed_table(DS_ROWS, DS_COLS)
    types = {column["name"]: column["type"] for column in schema}
    # Bools as "yes"/"no" text: pandas would read True/False back as bool, which DataSynthesizer cannot bin.
    for name in (name for name, kind in types.items() if kind == "bool"):
        frame[name] = frame[name].map({True: "yes", False: "no"}).astype(object)
    with tempfile.TemporaryDirectory() as folder:
        csv_path = Path(folder) / "table.csv"
        frame.to_csv(csv_path, index=False)
        try:
            done = subprocess.run(
                [python, "-c", DATASYNTHESIZER_CHILD, str(csv_path), str(Path(folder) / "description.json"),
                 str(Path(folder) / "synthetic.csv"), json.dumps(types), str(DS_ROWS)],
                capture_output=True, text=True, timeout=3600,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            print(f"  DataSynthesizer: skipped ({error})")
            return
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            tail = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
            print(f"  DataSynthesizer: skipped (it failed: {tail[0]})")
            return
        theirs = json.loads(lines[-1])
        if "skipped" in theirs:
            print(f"  DataSynthesizer: skipped ({theirs['skipped']}); install it as the module docstring says")
            return
        synthetic = datasynthesizer_output(pd.read_csv(Path(folder) / "synthetic.csv"), types)
        one_way, two_way = mean_tvd(frame, synthetic, schema)
    print(f"  DataSynthesizer: train {theirs['train_s']:8.2f} s  generate {theirs['generate_s']:6.2f} s  "
          f"TVD 1-way {one_way:.3f} 2-way {two_way:.3f}")
    print(f"  speed ratio (DataSynthesizer train s / hazy train s): {theirs['train_s'] / ours['train_s']:,.0f}x")


# Command line ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small subset of the grid")
    parser.add_argument("--rows", type=int, action="append", help="rows of a case (pairs with --cols)")
    parser.add_argument("--cols", type=int, action="append", help="columns of a case (pairs with --rows)")
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--k", type=int, default=3, help="n_parents")
    parser.add_argument("--n-bins", type=int, default=100, help="n_bins of numbers and dates (config default 100)")
    parser.add_argument("--generate-rows", type=int, default=1_000_000)
    parser.add_argument("--no-datasynthesizer", action="store_true")
    parser.add_argument("--datasynthesizer-python", default=sys.executable,
                        help="interpreter that has DataSynthesizer installed (default: this one)")
    parser.add_argument("--case", nargs=2, type=int, metavar=("ROWS", "COLS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        result = run_case(args.case[0], args.case[1], args.epsilon, args.k, args.generate_rows, args.n_bins)
        print(json.dumps(result))
        return
    if args.rows or args.cols:
        if not args.rows or not args.cols or len(args.rows) != len(args.cols):
            parser.error("give --rows and --cols the same number of times (one pair per case)")
        grid = list(zip(args.rows, args.cols))
    else:
        grid = QUICK_GRID if args.quick else FULL_GRID
    print(f"PrivBayes bench: k={args.k}, epsilon {args.epsilon:g}, n_bins {args.n_bins}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (wall-clock figures under that load)")
    for n_rows, n_columns in grid:
        case = ["--case", str(n_rows), str(n_columns), "--epsilon", str(args.epsilon), "--k", str(args.k),
                "--generate-rows", str(args.generate_rows), "--n-bins", str(args.n_bins)]
        try:
            print_case(in_subprocess(case))
        except RuntimeError as error:
            print(f"{n_rows:>9,} x {n_columns:>2}: failed ({error})", flush=True)
    if not args.no_datasynthesizer:
        compare_with_datasynthesizer(args.datasynthesizer_python)


if __name__ == "__main__":
    main()
