"""Warehouse scale (issue 18): rows per second, seconds and peak memory of every step, with 1, 2 and all workers.

    python bench/scale_bench.py --rows 200000                  # a quick run (about a minute on 2 idle cores)
    python bench/scale_bench.py                                # 1,000,000 rows
    python bench/scale_bench.py --rows 10000000 --workers 1,2  # the 10M table
    python bench/scale_bench.py --rows 1000000 --wide 60 --steps train   # the 1M x 60 training case
    python bench/scale_bench.py --json out/scale.json          # the figures as JSON too

The table: a 15-column census-like table from a generator of its own (`census_table`: age, sex, education,
years of education, occupation, hours per week, income, capital gain, region, a hire date, a last-login
datetime and a marital/relationship pair, each depending on earlier ones), with an integer id. `--wide N`
adds columns copied from earlier ones with noise, up to N modelled columns.

Steps, each in a fresh Python process (`--step NAME`, so its peak memory is its own):
- `copy`: the plain PostgreSQL `COPY ... FROM STDIN (FORMAT csv)` of the table's CSV, the reference speed;
- `read`: the table read back from PostgreSQL in chunks (`io.locations.read_table_chunks`);
- `train`: `api.train` from the PostgreSQL table at the defaults (evaluation included);
- `sample`: sampling and decoding in memory (`TableModel.sample`, one process): the per-core figure, for the
  first 1M-row call of the process (which also pays for touching its memory for the first time: page faults,
  a large and variable share on a virtual machine) and for a second call (a worker's later batches);
- `csv`, `parquet`, `postgres`: `api.generate` at magnitude 1 to a CSV file, a Parquet file and a PostgreSQL
  table, with validation on (the defaults), once per worker count (`HAZY_WORKERS`);
- `validate`: `api.validate` of the PostgreSQL output on its own;
- `customers`: the example customers table (a Faker name, ids, dates, a datetime) generated into PostgreSQL at
  the defaults, its rows/s next to a plain COPY of the same rows from CSV (`vs_copy`: the ratio), per worker
  count. Its rows/s and seconds in the table are those of the whole step (training included).

Figures: rows/s and wall seconds, CPU seconds of the step's process and its children (the worker pool),
the process's peak resident memory (`ru_maxrss`) and the peak of the whole process tree (psutil, sampled
every 0.1 s: workers included). The machine may be shared with other jobs: wall seconds then stretch, the
CPU seconds are the figure to compare (printed next to it). Server: HAZY_BENCH_POSTGRES_URL (default: the
test server of HAZY_TEST_POSTGRES_URL).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get(
    "HAZY_BENCH_POSTGRES_URL",
    os.environ.get("HAZY_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"),
)
TABLE = "scale_census"
REGIONS = ["north", "south", "east", "west", "london", "scotland", "wales", "midlands"]
OCCUPATIONS = [
    "clerical", "craft", "exec", "farming", "handlers", "machine-op", "other", "prof", "protective", "sales",
    "service", "tech", "transport", "armed-forces",
]
EDUCATION = ["none", "primary", "secondary", "college", "bachelors", "masters", "doctorate"]
MARITAL = ["never-married", "married", "divorced", "separated", "widowed"]
RELATIONSHIP = {
    "never-married": "own-child", "married": "spouse", "divorced": "unmarried", "separated": "unmarried",
    "widowed": "unmarried",
}


# The table -------------------------------------------------------------------------------------------------


def census_table(n_rows: int, wide: int = 0, seed: int = 0) -> pd.DataFrame:
    """`n_rows` census-like rows: an id and 15 dependent columns (plus `wide` - 15 noisy copies when wide > 15)."""
    rng = np.random.default_rng(seed)
    age = np.clip(rng.normal(40, 13, n_rows), 17, 90).astype(np.int64)
    sex = rng.random(n_rows) < 0.5
    education = np.clip((rng.normal(3, 1.3, n_rows) + (age > 30)).astype(np.int64), 0, len(EDUCATION) - 1)
    years = np.clip(education * 3 + 6 + rng.integers(0, 3, n_rows), 0, 22)
    occupation = (education * 2 + rng.integers(0, 5, n_rows)) % len(OCCUPATIONS)
    hours = np.clip(rng.normal(38 + 4 * sex, 9, n_rows), 1, 99).astype(np.int64)
    income = np.round(np.exp(9.2 + 0.18 * education + 0.01 * hours + rng.normal(0, 0.4, n_rows)), 2)
    gain = np.where(rng.random(n_rows) < 0.9, 0.0, np.round(rng.exponential(3000 + income * 0.05), 2))
    region = rng.integers(0, len(REGIONS), n_rows)
    marital = np.where(age < 25, 0, rng.integers(0, len(MARITAL), n_rows))
    hired = np.datetime64("2000-01-01") + (rng.integers(0, 8000, n_rows) + (age - 17) * 20).astype("timedelta64[D]")
    login = np.datetime64("2024-01-01T00:00:00") + rng.integers(0, 365 * 86400, n_rows).astype("timedelta64[s]")
    marital_text = np.array(MARITAL, dtype=object)[marital]
    frame = pd.DataFrame(
        {
            "person_id": np.arange(1, n_rows + 1),
            "age": age,
            "sex": np.where(sex, "male", "female"),
            "education": np.array(EDUCATION, dtype=object)[education],
            "education_years": years,
            "occupation": np.array(OCCUPATIONS, dtype=object)[occupation],
            "hours_per_week": hours,
            "income": income,
            "capital_gain": gain,
            "region": np.array(REGIONS, dtype=object)[region],
            "hired_on": hired,
            "last_login": login,
            "marital_status": marital_text,
            "relationship": pd.Series(marital_text).map(RELATIONSHIP).to_numpy(),
            "is_manager": (occupation == OCCUPATIONS.index("exec")) | (rng.random(n_rows) < 0.05),
            "high_earner": income > 40_000,
        }
    )
    numeric = ["age", "education_years", "hours_per_week", "income", "capital_gain"]
    for j in range(max(0, wide - 15)):
        base = frame[numeric[j % len(numeric)]].to_numpy(dtype=np.float64)
        frame[f"extra_{j:02d}"] = np.round(base * (1 + 0.1 * rng.standard_normal(n_rows)), 1)
    return frame


def schema_columns(frame: pd.DataFrame) -> List[Dict[str, Any]]:
    kinds = {
        "person_id": "id", "hired_on": "date", "last_login": "datetime", "is_manager": "bool", "high_earner": "bool",
    }
    columns = []
    for name in frame.columns:
        if name in kinds:
            kind = kinds[name]
        elif pd.api.types.is_integer_dtype(frame[name]):
            kind = "integer"
        elif pd.api.types.is_float_dtype(frame[name]):
            kind = "float"
        else:
            kind = "category"
        columns.append({"name": name, "type": kind})
    return columns


# Steps (each in its own process) ---------------------------------------------------------------------------


def _engine():
    from airflow_provider_hazy.io.sql import engine_from_url

    return engine_from_url(POSTGRES_URL)


def _sources() -> List[Dict[str, str]]:
    return [{"id": "bench", "connection_url": POSTGRES_URL}]


def _training(work: Path, frame_columns: List[Dict[str, Any]]) -> Dict[str, Any]:
    return {
        "model_output": str(work / "census.hmf"),
        "random_state": 1,
        "data_sources": _sources(),
        "data_schema": {"tables": [{"name": TABLE, "type": "tabular", "columns": frame_columns}]},
        "data_input": [{"name": TABLE, "location": {"source_id": "bench", "table_name": TABLE}}],
    }


def _generation(work: Path, location: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "model": str(work / "census.hmf"),
        "random_state": 2,
        "data_sources": _sources(),
        "data_output": [{"name": TABLE, "location": location}],
        "generation_state_path": str(work / "state.json"),
    }


def step_build(work: Path, rows: int, wide: int) -> Dict[str, Any]:
    frame = census_table(rows, wide)
    frame.to_csv(work / "census.csv", index=False)
    (work / "columns.json").write_text(json.dumps(schema_columns(frame)))
    return {"rows": rows}


def step_copy(work: Path, rows: int) -> Dict[str, Any]:
    """Create the source table and COPY the CSV into it: the plain COPY reference."""
    import sqlalchemy as sa

    columns = json.loads((work / "columns.json").read_text())
    sql_types = {
        "id": "bigint", "integer": "bigint", "float": "double precision", "category": "text", "bool": "boolean",
        "date": "date", "datetime": "timestamp",
    }
    engine = _engine()
    with engine.begin() as connection:
        connection.execute(sa.text(f'DROP TABLE IF EXISTS "{TABLE}"'))
        body = ", ".join(f'"{c["name"]}" {sql_types[c["type"]]}' for c in columns)
        connection.execute(sa.text(f'CREATE TABLE "{TABLE}" ({body})'))
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor, open(work / "census.csv", encoding="utf-8") as handle:
            cursor.copy_expert(f'COPY "{TABLE}" FROM STDIN (FORMAT csv, HEADER true)', handle)
        raw.commit()
    finally:
        raw.close()
    return {"rows": rows}


def step_read(work: Path, rows: int) -> Dict[str, Any]:
    from airflow_provider_hazy.config.data_location import DatabaseReadTableConfig, SecretDataSourceIO
    from airflow_provider_hazy.io.locations import read_table_chunks
    from airflow_provider_hazy.io.sources import DataSources

    location = DatabaseReadTableConfig(source_id="bench", table_name=TABLE)
    with DataSources([SecretDataSourceIO(**source) for source in _sources()]) as sources:
        read = sum(len(chunk) for chunk in read_table_chunks(TABLE, location, chunk_size=100_000, sources=sources))
    return {"rows": read}


def step_train(work: Path, rows: int) -> Dict[str, Any]:
    from airflow_provider_hazy import api

    api.train(_training(work, json.loads((work / "columns.json").read_text())))
    return {"rows": rows, "model_mb": round((work / "census.hmf").stat().st_size / 1e6, 1)}


def step_sample(work: Path, rows: int) -> Dict[str, Any]:
    from airflow_provider_hazy.pipeline.model import load_model

    model = load_model(work / "census.hmf")
    table = model.tables[TABLE]
    rng = np.random.default_rng(0)
    table.sample(min(rows, 10_000), 0, rng)  # warm-up
    started = time.process_time()
    frame = table.sample(rows, 0, rng)
    first = time.process_time() - started
    del frame
    started = time.process_time()  # again: a worker's later batches reuse the memory the first one touched
    frame = table.sample(rows, 0, rng)
    again = time.process_time() - started
    return {
        "rows": len(frame),
        "sample_cpu_s": round(first, 3),
        "again_cpu_s": round(again, 3),
        "again_rows_per_cpu_s": round(len(frame) / max(again, 1e-9)),
    }


def step_write(work: Path, rows: int, target: str) -> Dict[str, Any]:
    from airflow_provider_hazy import api

    locations = {
        "csv": {"path": str(work / "out.csv"), "if_exists": "replace"},
        "parquet": {"path": str(work / "out.parquet"), "if_exists": "replace"},
        "postgres": {"source_id": "bench", "table_name": f"{TABLE}_out", "if_exists": "replace"},
    }
    state = api.generate(_generation(work, locations[target]))
    validation = state.get("validation") or {}
    return {
        "rows": state["tables"][TABLE]["rows"],
        "batches": len(state["tables"][TABLE]["batches"]),
        "validation_passed": validation.get("passed"),
    }


def step_validate(work: Path, rows: int) -> Dict[str, Any]:
    from airflow_provider_hazy import api

    location = {"source_id": "bench", "table_name": f"{TABLE}_out", "if_exists": "replace"}
    report = api.validate(_generation(work, location))
    return {"rows": rows, "passed": report.get("passed")}


def step_customers(work: Path, rows: int) -> Dict[str, Any]:
    """The example customers table (a Faker name, ids, dates, a datetime): `rows` generated into PostgreSQL at
    the defaults (validation on), against a plain COPY of the same rows from CSV into a table of the same
    columns. Training and the CSV are made first, outside the figures."""
    import sqlalchemy as sa

    from airflow_provider_hazy import api
    from airflow_provider_hazy.config import TrainingConfig

    training = TrainingConfig.from_file(ROOT / "examples" / "training.yaml").model_dump(mode="json")
    training.update(model_output=str(work / "customers.hmf"))
    training["data_input"] = [{"name": "customers", "location": str(ROOT / "examples" / "customers.csv")}]
    api.train(TrainingConfig.model_validate(training))
    magnitude = rows / 5000
    generation = {
        "model": str(work / "customers.hmf"),
        "random_state": 4,
        "data_sources": _sources(),
        "generate_params": {"magnitude": magnitude},
        "data_output": [
            {"name": "customers", "location": {"path": str(work / "customers_out.csv"), "if_exists": "replace"}}
        ],
        "validation": None,
    }
    api.generate(generation)
    engine = _engine()
    with engine.begin() as connection:
        connection.execute(sa.text('DROP TABLE IF EXISTS "customers_copy"'))
        connection.execute(
            sa.text(
                'CREATE TABLE "customers_copy" (customer_id bigint, name text, segment text, region text, age bigint, '
                "income double precision, credit_score bigint, signup_date date, last_login timestamp, "
                "is_active boolean, churned boolean)"
            )
        )
    raw = engine.raw_connection()
    started = time.perf_counter()
    try:
        with raw.cursor() as cursor, open(work / "customers_out.csv", encoding="utf-8") as handle:
            cursor.copy_expert('COPY "customers_copy" FROM STDIN (FORMAT csv, HEADER true)', handle)
        raw.commit()
    finally:
        raw.close()
    copy_seconds = time.perf_counter() - started
    generation["data_output"] = [
        {"name": "customers", "location": {"source_id": "bench", "table_name": "customers_out", "if_exists": "replace"}}
    ]
    generation.pop("validation")
    generation["generation_state_path"] = str(work / "customers_state.json")
    started = time.perf_counter()
    state = api.generate(generation)
    seconds = time.perf_counter() - started
    written = state["tables"]["customers"]["rows"]
    return {
        "rows": written,
        "generate_rows_per_s": round(written / seconds),
        "copy_rows_per_s": round(written / copy_seconds),
        "vs_copy": round(copy_seconds / seconds, 2),
        "validation_passed": (state.get("validation") or {}).get("passed"),
    }


STEPS = {
    "build": lambda work, rows: step_build(work, rows, int(os.environ.get("HAZY_BENCH_WIDE", "0"))),
    "copy": step_copy,
    "read": step_read,
    "train": step_train,
    "sample": step_sample,
    "csv": lambda work, rows: step_write(work, rows, "csv"),
    "parquet": lambda work, rows: step_write(work, rows, "parquet"),
    "postgres": lambda work, rows: step_write(work, rows, "postgres"),
    "validate": step_validate,
    "customers": step_customers,
}
PER_WORKER_STEPS = ("csv", "parquet", "postgres", "customers")


class TreePeak:
    """The peak resident memory of this process and its descendants, sampled in a thread."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for process in [me, *me.children(recursive=True)]:
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(0.1)

    def __enter__(self) -> TreePeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def run_step(name: str, work: Path, rows: int) -> Dict[str, Any]:
    """Run one step here and return its figures (called in the child process); the package is imported
    before the clock starts."""
    import airflow_provider_hazy.api  # noqa: F401

    started, cpu = time.perf_counter(), time.process_time()
    with TreePeak() as tree:
        result = STEPS[name](work, rows)
    seconds = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    result.update(
        seconds=round(seconds, 2),
        cpu_s=round(time.process_time() - cpu + children.ru_utime + children.ru_stime, 2),
        rows_per_s=round(result["rows"] / seconds) if seconds > 0 else None,
        peak_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        tree_peak_mb=round(tree.peak / 1024**2),
    )
    if "sample_cpu_s" in result:
        result["rows_per_cpu_s"] = round(result["rows"] / max(result["sample_cpu_s"], 1e-9))
    return result


def in_child(name: str, work: Path, rows: int, workers: Optional[str]) -> Dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if workers is not None:
        env["HAZY_WORKERS"] = workers
    command = [sys.executable, __file__, "--step", name, "--work", str(work), "--rows", str(rows)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=7200)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the source table (default 1,000,000)")
    parser.add_argument("--wide", type=int, default=0, help="modelled columns (adds noisy copies beyond 15)")
    parser.add_argument("--workers", default="1,2,all", help="worker counts for the generate steps (default 1,2,all)")
    default_steps = ",".join(step for step in STEPS if step != "build")
    parser.add_argument("--steps", default=default_steps, help=f"steps to run (default {default_steps})")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        print(json.dumps(run_step(args.step, Path(args.work), args.rows)))
        return

    from airflow_provider_hazy.pipeline.workers import available_cpus

    steps = [step for step in args.steps.split(",") if step]
    all_workers = str(available_cpus())
    counts = list(dict.fromkeys(all_workers if w == "all" else w for w in args.workers.split(",")))
    results: List[Dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="hazy-scale-") as folder:
        work = Path(folder)
        started = time.perf_counter()
        os.environ["HAZY_BENCH_WIDE"] = str(args.wide)
        built = in_child("build", work, args.rows, None)  # in a child: this process stays small
        if "error" in built:
            raise SystemExit(f"building the table failed: {built['error']}")
        n_columns = len(json.loads((work / "columns.json").read_text()))
        print(
            f"table: {args.rows:,} rows x {n_columns} columns, built in {time.perf_counter() - started:.1f} s; "
            f"{available_cpus()} CPUs; load {os.getloadavg()[0]:.1f}"
        )
        for step in ["copy"] + [s for s in steps if s not in ("copy", "build")]:
            for workers in counts if step in PER_WORKER_STEPS else [None]:
                figures = {"step": step, "workers": workers or "-", **in_child(step, work, args.rows, workers)}
                results.append(figures)
                print(_row(figures), flush=True)
    header = (
        f"{'step':<9} {'workers':>7} {'rows':>11} {'rows/s':>10} {'wall s':>8} {'cpu s':>8} "
        f"{'peak MB':>8} {'tree MB':>8}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for figures in results:
        print(_row(figures))
    copy = next((r for r in results if r["step"] == "copy" and "rows_per_s" in r), None)
    for figures in results:
        if figures["step"] == "postgres" and copy and figures.get("rows_per_s"):
            ratio = figures["rows_per_s"] / copy["rows_per_s"]
            print(f"postgres with {figures['workers']} worker(s): {ratio:.2f} x the plain COPY")
    report = {
        "rows": args.rows, "wide": args.wide, "cpus": available_cpus(), "load": os.getloadavg()[0], "steps": results
    }
    print("\n" + json.dumps(report))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


def _row(figures: Dict[str, Any]) -> str:
    if "error" in figures:
        return f"{figures['step']:<9} {figures['workers']:>7} error: {figures['error']}"
    extra = ""
    if "rows_per_cpu_s" in figures:
        extra = (
            f"  ({figures['rows_per_cpu_s']:,} rows per CPU second; "
            f"{figures['again_rows_per_cpu_s']:,} for a second call)"
        )
    if "vs_copy" in figures:
        extra = (
            f"  (generate {figures['generate_rows_per_s']:,} rows/s, plain COPY {figures['copy_rows_per_s']:,} "
            f"rows/s: {figures['vs_copy']} x)"
        )
    return (
        f"{figures['step']:<9} {figures['workers']:>7} {figures['rows']:>11,} {figures['rows_per_s'] or 0:>10,} "
        f"{figures['seconds']:>8} {figures['cpu_s']:>8} {figures['peak_mb']:>8} {figures['tree_peak_mb']:>8}{extra}"
    )


if __name__ == "__main__":
    main()
