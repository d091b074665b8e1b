"""Fidelity at the configurator's defaults on real tables, as a new user gets it: no test tunes to these.

    python bench/fidelity_bench.py                       # tests/data/northwind.sqlite
    python bench/fidelity_bench.py adult.csv --target income
    python bench/fidelity_bench.py --epsilons 1000 --northwind path/to/northwind.sqlite

Downloads nothing. For Northwind (every table, the inferred schema and foreign keys, read from SQLite) and
for every CSV given (one table each, schema inferred by `hazy schema infer`'s rules), it trains with only
`epsilon` set (1 and 1000 unless `--epsilons`), generates at magnitude 1 and prints, per table:

- the row counts (source, synthetic);
- per column, the 1-way TVD on bins independent of the model (`metrics.fidelity`: quantile bins of the
  source plus a bin per point mass, categories by value, nulls apart), and the share of the column's most
  frequent value on both sides;
- the worst 2-way pairs (TVD of the joint histogram on the same bins);
- per foreign key, the degree TVD on log2 bins and the largest degree on both sides;
- train-on-synthetic / test-on-real for `--target` (a column name, or table.column; default: the last
  category column of each table): accuracy of a naive Bayes classifier (`metrics.utility`) trained on the
  synthetic rows and on half of the real rows, both tested on the other half of the real rows.

Timings are wall clock on whatever machine runs it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airflow_provider_hazy import api  # noqa: E402
from airflow_provider_hazy.config.schema import BaseTable, DataSchema  # noqa: E402
from airflow_provider_hazy.metrics.discretise import schema_column_bins  # noqa: E402
from airflow_provider_hazy.metrics.fidelity import degree_tvd, one_way_tvd, two_way_tvd  # noqa: E402
from airflow_provider_hazy.metrics.utility import fit_naive_bayes, predict_naive_bayes  # noqa: E402
from airflow_provider_hazy.schema_infer import infer_schema, infer_schema_from_database  # noqa: E402

NORTHWIND = Path(__file__).resolve().parents[1] / "tests" / "data" / "northwind.sqlite"  # in the repository (MIT)
WORST_PAIRS = 3


def northwind_source(path: Path) -> tuple:
    """(schema, real frames, data_input entries, data_sources) of the SQLite Northwind."""
    import sqlalchemy as sa

    url = f"sqlite:///{path}"
    schema, _ = infer_schema_from_database(url)
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        frames = {name: pd.read_sql_table(name, connection) for name in schema.table_names}
    engine.dispose()
    inputs = [{"name": n, "location": {"source_id": "northwind", "table_name": n}} for n in schema.table_names]
    return schema, frames, inputs, [{"id": "northwind", "connection_url": url}]


def csv_source(path: Path) -> tuple:
    frame = pd.read_csv(path, low_memory=False)
    name = path.name.split(".")[0]
    schema = infer_schema({name: frame})
    return schema, {name: frame}, [{"name": name, "location": str(path)}], []


def synthesise(schema: DataSchema, inputs: List, sources: List, epsilon: float, directory: Path) -> Dict:
    model = directory / f"model_{epsilon:g}.hmf"
    api.train(
        {
            "data_schema": schema.model_dump(mode="json"),
            "data_sources": sources,
            "data_input": inputs,
            "model_output": str(model),
            "model_parameters": {"generator": {"epsilon": epsilon}},
            "random_state": 1,
        }
    )
    outputs = {n: directory / f"{n}_{epsilon:g}.csv".replace(" ", "_") for n in schema.table_names}
    api.generate(
        {
            "model": str(model),
            "random_state": 2,
            "data_output": [
                {"name": n, "location": {"path": str(p), "if_exists": "replace"}} for n, p in outputs.items()
            ],
        }
    )
    return {n: pd.read_csv(p, low_memory=False) for n, p in outputs.items()}


def tstr_accuracy(table: BaseTable, real: pd.DataFrame, synthetic: pd.DataFrame, target: str) -> Optional[tuple]:
    """(accuracy trained on real half, accuracy trained on synthetic), both tested on the other real half."""
    features = [
        c.name
        for c in table.columns
        if c.name != target and c.type not in ("id", "foreign_key", "person", "location") and c.name in synthetic
    ]
    if not features or target not in synthetic:
        return None
    rng = np.random.default_rng(0)
    test_rows = rng.random(len(real)) < 0.5
    train, test = real[~test_rows], real[test_rows]
    bins = {name: schema_column_bins(table, name, train[name]) for name in features + [target]}

    def coded(frame: pd.DataFrame) -> tuple:
        x = np.column_stack([bins[name].codes(frame[name]) for name in features]).astype(np.int64)
        return x, bins[target].codes(frame[target])

    sizes = [bins[name].n_codes for name in features]
    x_test, y_test = coded(test)
    scores = []
    for frame in (train, synthetic):
        x, y = coded(frame)
        model = fit_naive_bayes(x, sizes, y, bins[target].n_codes)
        scores.append(float((predict_naive_bayes(model, x_test) == y_test).mean()))
    return tuple(scores)


def top_share(series: pd.Series) -> tuple:
    counts = series.value_counts(normalize=True, dropna=False)
    return (str(counts.index[0]), float(counts.iloc[0])) if len(counts) else ("", 0.0)


def report(schema: DataSchema, real: Dict, synthetic: Dict, target: Optional[str]) -> None:
    for table in schema.tables:
        name = table.name
        if table.type == "reference" or name not in synthetic:
            continue
        r, s = real[name], synthetic[name]
        print(f"  table {name}: rows {len(r)} -> {len(s)}")
        if len(r) == 0:
            continue
        faked = {c.name for c in table.columns if c.type in ("person", "location")}
        for column, distance in one_way_tvd(table, r, s).items():
            value, real_share = top_share(r[column])
            synthetic_share = (
                float((s[column].astype(str) == value).mean()) if value != "nan" else s[column].isna().mean()
            )
            note = "  (Faker: drawn, not modelled)" if column in faked else ""
            top = f"top value {value[:16]!r}: {real_share:.3f} -> {synthetic_share:.3f}"
            print(f"    {column:24s} 1-way TVD {distance:.3f}   {top}{note}")
        for a, b, distance in two_way_tvd(table, r, s)[:WORST_PAIRS]:
            print(f"    worst pair {a} x {b}: 2-way TVD {distance:.3f}")
        for fk in table.foreign_keys:
            if fk.ref_table not in synthetic:
                continue
            parent_real, parent_synthetic = real[fk.ref_table], synthetic.get(fk.ref_table, real[fk.ref_table])
            found = degree_tvd(parent_real[fk.ref_column], r[fk.name], parent_synthetic[fk.ref_column], s[fk.name])
            print(
                f"    degree {name}.{fk.name} -> {fk.ref_table} ({len(parent_real)} parents): log2 TVD "
                f"{found['tvd']:.3f}, max {found['real_max']} -> {found['synthetic_max']}"
            )
        wanted = target.split(".")[-1] if target and (("." not in target) or target.split(".")[0] == name) else None
        if wanted is None:
            categories = [c.name for c in table.columns if c.type in ("category", "bool")]
            wanted = categories[-1] if categories and not target else None
        if wanted and wanted in r:
            scores = tstr_accuracy(table, r, s, wanted)
            if scores:
                print(f"    target {wanted}: accuracy trained on real {scores[0]:.3f}, on synthetic {scores[1]:.3f}")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("csv", nargs="*", type=Path, help="CSV tables (one table each)")
    parser.add_argument("--northwind", type=Path, default=NORTHWIND, help="the SQLite Northwind ('' to skip)")
    parser.add_argument("--target", help="column (or table.column) for train-on-synthetic / test-on-real")
    parser.add_argument("--epsilons", type=float, nargs="+", default=[1.0, 1000.0])
    args = parser.parse_args(argv)
    datasets: List[tuple] = []
    if str(args.northwind) and args.northwind.exists():
        datasets.append(("northwind", northwind_source(args.northwind)))
    for path in args.csv:
        datasets.append((path.name, csv_source(path)))
    with tempfile.TemporaryDirectory() as scratch:
        for label, (schema, real, inputs, sources) in datasets:
            for epsilon in args.epsilons:
                started = time.perf_counter()
                directory = Path(scratch) / f"{label}_{epsilon:g}"
                directory.mkdir()
                synthetic = synthesise(schema, inputs, sources, epsilon, directory)
                print(f"{label}, epsilon {epsilon:g} (defaults otherwise), {time.perf_counter() - started:.1f} s")
                report(schema, real, synthetic, args.target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
