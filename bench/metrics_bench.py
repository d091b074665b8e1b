"""Speed of the evaluation metrics and of functional validation on a 100,000-row x 30-column table.

Real (training), synthetic and held-out tables of `n_rows` rows each, 30 columns (an id, 11 floats, 6
integers, 4 datetimes, 2 bools, 6 categories of 3 to 300 values, some nulls), plus an `orders` child table
of ~2 rows per parent (for the cross-table and degree metrics). Every metric of `MetricType` runs once
through `evaluate`; then `validate` runs on the synthetic tables.

Run: python bench/metrics_bench.py [n_rows]. Prints seconds per metric and in total.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from airflow_provider_hazy.config.enums import MetricType
from airflow_provider_hazy.config.evaluation import EvaluationConfig
from airflow_provider_hazy.config.schema import DataSchema
from airflow_provider_hazy.metrics import evaluate, validate

N_FLOATS, N_INTEGERS, N_DATETIMES, N_BOOLS = 11, 6, 4, 2
CATEGORY_SIZES = (3, 5, 12, 40, 100, 300)


def make_schema() -> DataSchema:
    columns = [{"name": "id", "type": "id"}]
    columns += [{"name": f"float_{i}", "type": "float"} for i in range(N_FLOATS)]
    columns += [{"name": f"int_{i}", "type": "integer"} for i in range(N_INTEGERS)]
    columns += [{"name": f"when_{i}", "type": "datetime"} for i in range(N_DATETIMES)]
    columns += [{"name": f"flag_{i}", "type": "bool"} for i in range(N_BOOLS)]
    columns += [{"name": f"cat_{i}", "type": "category"} for i in range(len(CATEGORY_SIZES))]
    orders = [
        {"name": "order_id", "type": "id"},
        {"name": "id", "type": "foreign_key", "ref_table": "people", "ref_column": "id"},
        {"name": "amount", "type": "float"},
        {"name": "channel", "type": "category"},
    ]
    return DataSchema.model_validate(
        {"tables": [{"name": "people", "columns": columns}, {"name": "orders", "columns": orders}]}
    )


def make_tables(n_rows: int, rng: np.random.Generator) -> dict:
    latent = rng.normal(size=n_rows)
    data = {"id": np.arange(1, n_rows + 1)}
    for i in range(N_FLOATS):
        values = latent * (i % 3) + rng.normal(size=n_rows) * (1 + i)
        data[f"float_{i}"] = np.where(rng.random(n_rows) < 0.05, np.nan, values)
    for i in range(N_INTEGERS):
        data[f"int_{i}"] = np.clip(np.round(latent * 10 + 40 + rng.normal(size=n_rows) * (i + 1) * 5), 0, None)
        data[f"int_{i}"] = data[f"int_{i}"].astype(np.int64)
    for i in range(N_DATETIMES):
        days = (latent * 300 + rng.normal(size=n_rows) * 200).astype(np.int64)
        data[f"when_{i}"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(days, unit="D")
    for i in range(N_BOOLS):
        data[f"flag_{i}"] = latent + rng.normal(size=n_rows) > 0
    for i, size in enumerate(CATEGORY_SIZES):
        codes = np.clip(((latent + rng.normal(size=n_rows)) * size / 4 + size / 2).astype(int), 0, size - 1)
        data[f"cat_{i}"] = pd.Series(np.array([f"value {j}" for j in range(size)])[codes], dtype="str")
    people = pd.DataFrame(data)
    counts = rng.poisson(np.exp(np.clip(latent, -2, 2)) * 1.5)
    owner = np.repeat(np.arange(n_rows), counts)
    orders = pd.DataFrame(
        {
            "order_id": np.arange(1, len(owner) + 1),
            "id": owner + 1,
            "amount": np.round(np.exp(latent[owner] + rng.normal(size=len(owner))) * 20, 2),
            "channel": pd.Series(np.where(latent[owner] > 0, "web", "shop"), dtype="str"),
        }
    )
    return {"people": people, "orders": orders}


def main(n_rows: int) -> None:
    schema = make_schema()
    real = make_tables(n_rows, np.random.default_rng(1))
    synthetic = make_tables(n_rows, np.random.default_rng(2))
    holdout = make_tables(n_rows, np.random.default_rng(3))
    print(f"people: {n_rows} rows x {real['people'].shape[1]} columns; orders: {len(real['orders'])} rows")
    config = EvaluationConfig.model_validate({"metrics": [{"metric_type": m.value} for m in MetricType]})
    total = 0.0
    results = {}
    rng = np.random.default_rng(0)
    cache: dict = {}
    from airflow_provider_hazy.metrics.evaluate import run_metric

    for params in config.metrics:
        start = time.perf_counter()
        results[params.metric_type.value] = run_metric(params, schema, real, synthetic, holdout, rng, cache)
        seconds = time.perf_counter() - start
        total += seconds
        score = results[params.metric_type.value]["score"]
        print(f"{params.metric_type.value:45s} {seconds:7.2f} s   score {score:.4f}")
    print(f"{'all metrics':45s} {total:7.2f} s")
    start = time.perf_counter()
    evaluate(config, schema, real, synthetic, holdout, np.random.default_rng(0))
    print(f"{'evaluate() end to end':45s} {time.perf_counter() - start:7.2f} s")
    metadata = {"people": {"columns": {"int_0": {"min": 0, "max": 1000, "nullable": False}}}}
    start = time.perf_counter()
    report = validate(schema, synthetic, metadata, {"people": n_rows})
    print(f"{'validate()':45s} {time.perf_counter() - start:7.2f} s   passed {report.passed}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
