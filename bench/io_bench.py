"""Data-connector throughput: rows per second written and read for a 10-column table.

    python bench/io_bench.py                      # 1,000,000 rows on every target
    python bench/io_bench.py --rows 200000 --targets postgres-copy sqlite
    python bench/io_bench.py --targets --train-rows 10000000   # only the 10,000,000-row training run

Targets: PostgreSQL through COPY and through executemany, MariaDB (executemany), SQLite (executemany) and
S3 Parquet (a moto server on loopback). Writes go through `SqlTableWriter` / `S3TableWriter` in batches of
`--batch-rows` (one transaction each); reads stream through `read_sql_table` / `read_s3_table_chunks` in
chunks of 100,000 rows. Servers: HAZY_BENCH_POSTGRES_URL and HAZY_BENCH_MARIADB_URL (defaults: the local
test servers); an unreachable one is reported and skipped. Target: >= 250,000 rows/s written to
PostgreSQL through COPY (`--copy-format binary`, the default, or `csv`).

Training: `--train-rows N` (default 1,000,000; 0 skips it) builds an N-row, 10-column PostgreSQL table in
SQL (`INSERT ... SELECT generate_series`), trains `api.train` on it through a `SecretDataSource`
(`HAZY_CONN_BENCH_PG`) in a child process, reading in chunks (`--train-chunk-rows`), and prints the
child's peak resident memory. Target: under 2 GB for 10,000,000 rows.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import pandas as pd
import sqlalchemy as sa

from airflow_provider_hazy.io.s3 import S3TableWriter, read_s3_table_chunks, s3_client_from_url
from airflow_provider_hazy.io.sql import SqlTableWriter, engine_from_url, read_sql_table

POSTGRES_URL = os.environ.get("HAZY_BENCH_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("HAZY_BENCH_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
TARGETS = ["postgres-copy", "postgres-executemany", "mariadb", "sqlite", "s3-parquet"]
PG_COPY_TARGET = 250_000
TRAIN_MEMORY_TARGET = 2 * 1024**3
TRAIN_SCHEMA = {
    "tables": [
        {
            "name": "bench",
            "type": "tabular",
            "columns": [
                {"name": "id", "type": "id"},
                {"name": "quantity", "type": "integer"},
                {"name": "price", "type": "float"},
                {"name": "score", "type": "float"},
                {"name": "active", "type": "bool"},
                {"name": "segment", "type": "category"},
                {"name": "city", "type": "category"},
                {"name": "created_at", "type": "datetime"},
                {"name": "updated_at", "type": "datetime"},
                {"name": "birth_date", "type": "date"},
            ],
        }
    ]
}
# 10 columns, deterministic (setseed), with some dependence between them; one statement, no client round trip
TRAIN_TABLE_SQL = """
CREATE TABLE {name} AS
SELECT g AS id,
       q AS quantity,
       round((50 + q / 20000.0 + 30 * random())::numeric, 2)::float8 AS price,
       (random() + random() + random() - 1.5) * 2 AS score,
       random() < 0.7 AS active,
       (ARRAY['retail', 'business', 'private', 'public'])[1 + (q % 4 + 4) % 4] AS segment,
       (ARRAY['London', 'Zürich', 'São Paulo', '東京', 'New York', 'Łódź'])[1 + floor(random() * 6)::int] AS city,
       TIMESTAMP '2005-01-01' + (s || ' seconds')::interval AS created_at,
       TIMESTAMPTZ '2005-01-01 01:00:00+00' + (s || ' seconds')::interval AS updated_at,
       DATE '1940-01-01' + floor(random() * 25000)::int AS birth_date
FROM (SELECT g, floor(random() * 2000000)::bigint - 1000000 AS q, floor(random() * 630720000)::bigint AS s
      FROM generate_series(1, {rows}) AS g) AS source
"""


def make_table(rows: int, seed: int = 0) -> pd.DataFrame:
    """10 columns: keys, integers, floats, a flag, categories, text, naive and aware timestamps, dates."""
    rng = np.random.default_rng(seed)
    seconds = rng.integers(0, 20 * 365 * 86_400, rows)
    start = pd.Timestamp("2005-01-01")
    return pd.DataFrame(
        {
            "id": np.arange(rows, dtype=np.int64),
            "quantity": rng.integers(-1_000_000, 1_000_000, rows),
            "price": rng.gamma(2.0, 50.0, rows).round(2),
            "score": rng.normal(size=rows),
            "active": rng.random(rows) < 0.7,
            "segment": rng.choice(["retail", "business", "private", "public"], rows),
            "city": rng.choice(["London", "Zürich", "São Paulo", "東京", "New York", "Łódź"], rows),
            "created_at": start + pd.to_timedelta(seconds, unit="s"),
            "updated_at": (start + pd.to_timedelta(seconds + 3_600, unit="s")).tz_localize("UTC"),
            "birth_date": (pd.Timestamp("1940-01-01") + pd.to_timedelta(rng.integers(0, 25_000, rows), unit="D")).date,
        }
    )


def batches(frame: pd.DataFrame, batch_rows: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), batch_rows):
        yield frame.iloc[start : start + batch_rows]


def timed(call: Callable[[], int]) -> Tuple[int, float]:
    started = time.perf_counter()
    rows = call()
    return rows, time.perf_counter() - started


def bench_sql(
    url: str, method: str, frame: pd.DataFrame, batch_rows: int, copy_format: str = "binary"
) -> Tuple[float, float]:
    engine = engine_from_url(url)
    with engine.connect() as connection:
        connection.execute(sa.select(sa.literal(1)))
    name = f"hz_bench_{uuid.uuid4().hex[:10]}"
    try:

        def write() -> int:
            with SqlTableWriter(engine, name, method=method, copy_format=copy_format) as writer:
                return sum(writer.write_batch(batch) for batch in batches(frame, batch_rows))

        def read() -> int:
            return sum(len(chunk) for chunk in read_sql_table(engine, name, chunk_size=100_000))

        written, write_seconds = timed(write)
        read_rows, read_seconds = timed(read)
        assert written == read_rows == len(frame), (written, read_rows)
        return written / write_seconds, read_rows / read_seconds
    finally:
        sa.Table(name, sa.MetaData()).drop(engine, checkfirst=True)
        engine.dispose()


def bench_s3_parquet(frame: pd.DataFrame, batch_rows: int) -> Tuple[float, float]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        client = s3_client_from_url(f"http://bench:bench-secret@{host}:{port}?region_name=eu-west-1")
        bucket = f"hazy-bench-{uuid.uuid4().hex[:8]}"
        client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        path = f"s3://{bucket}/bench/table.parquet"

        def write() -> int:
            with S3TableWriter(client, path) as writer:
                return sum(writer.write_batch(batch) for batch in batches(frame, batch_rows))

        def read() -> int:
            return sum(len(chunk) for chunk in read_s3_table_chunks(client, path, chunk_size=100_000))

        written, write_seconds = timed(write)
        read_rows, read_seconds = timed(read)
        return written / write_seconds, read_rows / read_seconds
    finally:
        server.stop()


def run(
    targets: List[str], rows: int, batch_rows: int, copy_format: str = "binary"
) -> Dict[str, Optional[Tuple[float, float]]]:
    frame = make_table(rows)
    print(
        f"table: {rows:,} rows x {frame.shape[1]} columns, batches of {batch_rows:,} rows, "
        f"PostgreSQL COPY format {copy_format}",
        flush=True,
    )
    print(f"{'target':<22}{'written rows/s':>16}{'read rows/s':>14}", flush=True)
    results: Dict[str, Optional[Tuple[float, float]]] = {}
    for target in targets:
        try:
            if target == "postgres-copy":
                result = bench_sql(POSTGRES_URL, "copy", frame, batch_rows, copy_format)
            elif target == "postgres-executemany":
                result = bench_sql(POSTGRES_URL, "executemany", frame, batch_rows)
            elif target == "mariadb":
                result = bench_sql(MARIADB_URL, "executemany", frame, batch_rows)
            elif target == "sqlite":
                with tempfile.TemporaryDirectory() as directory:
                    result = bench_sql(f"sqlite:///{directory}/bench.db", "executemany", frame, batch_rows)
            else:
                result = bench_s3_parquet(frame, batch_rows)
        except sa.exc.OperationalError as error:
            print(f"{target:<22}skipped: server unreachable ({type(error.orig).__name__})", flush=True)
            results[target] = None
            continue
        results[target] = result
        print(f"{target:<22}{result[0]:>16,.0f}{result[1]:>14,.0f}", flush=True)
    copy = results.get("postgres-copy")
    if copy is not None:
        verdict = "met" if copy[0] >= PG_COPY_TARGET else "NOT met"
        print(f"target >= {PG_COPY_TARGET:,} rows/s written to PostgreSQL via COPY: {verdict}")
    return results


def train_in_child(table: str, chunk_rows: int, sample_rows: int) -> None:
    """The child process: train on the PostgreSQL table and print rows, seconds and the model's size."""
    from airflow_provider_hazy import api

    os.environ["HAZY_CONN_BENCH_PG"] = POSTGRES_URL
    with tempfile.TemporaryDirectory() as directory:
        config = {
            "model_output": f"{directory}/bench.hmf",
            "random_state": 0,
            "data_schema": TRAIN_SCHEMA,
            "data_sources": [{"id": "bench-pg"}],
            "data_input": [{"name": "bench", "location": {"source_id": "bench-pg", "table_name": table}}],
            "model_parameters": {
                "generator": {"epsilon": 1.0, "n_bins": 20, "network_sample_rows": sample_rows}
            },
        }
        started = time.perf_counter()
        path = api.train(config, chunk_rows=chunk_rows)
        seconds = time.perf_counter() - started
        info = api.inspect_model(path)
        print(f"trained {info['tables']['bench']['n_rows']:,} rows in {seconds:,.1f} s", flush=True)


def bench_training(rows: int, chunk_rows: int, sample_rows: int) -> Optional[int]:
    """Build the table, train on it in a child process; returns the child's peak RSS in bytes."""
    import resource
    import subprocess

    engine = engine_from_url(POSTGRES_URL)
    name = f"hz_train_{uuid.uuid4().hex[:10]}"
    try:
        started = time.perf_counter()
        with engine.begin() as connection:
            connection.execute(sa.text("SELECT setseed(0.42)"))
            connection.execute(sa.text(TRAIN_TABLE_SQL.format(name=name, rows=int(rows))))
        print(f"training table: {rows:,} rows x 10 columns built in {time.perf_counter() - started:,.1f} s", flush=True)
        command = [sys.executable, __file__, "--train-child", name, "--train-chunk-rows", str(chunk_rows)]
        command += ["--train-sample-rows", str(sample_rows)]
        subprocess.run(command, check=True)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # kilobytes on Linux
        verdict = "met" if peak < TRAIN_MEMORY_TARGET else "NOT met"
        print(
            f"training peak memory (resident, child process): {peak / 1024**2:,.0f} MB; "
            f"target < {TRAIN_MEMORY_TARGET / 1024**3:.0f} GB: {verdict}",
            flush=True,
        )
        return peak
    finally:
        sa.Table(name, sa.MetaData()).drop(engine, checkfirst=True)
        engine.dispose()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the table (default 1,000,000)")
    parser.add_argument("--batch-rows", type=int, default=100_000, help="rows per written batch")
    parser.add_argument("--targets", nargs="*", choices=TARGETS, default=TARGETS)
    parser.add_argument(
        "--train-rows", type=int, default=1_000_000, help="rows of the PostgreSQL training table (0: no training run)"
    )
    parser.add_argument("--train-chunk-rows", type=int, default=100_000, help="rows per chunk read while training")
    parser.add_argument(
        "--train-sample-rows", type=int, default=100_000, help="network_sample_rows of the training run"
    )
    parser.add_argument(
        "--copy-format", choices=["binary", "csv"], default="binary", help="COPY format of postgres-copy"
    )
    parser.add_argument("--train-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.train_child:
        train_in_child(args.train_child, args.train_chunk_rows, args.train_sample_rows)
        return 0
    if args.targets:
        run(args.targets, args.rows, args.batch_rows, args.copy_format)
    if args.train_rows:
        bench_training(args.train_rows, args.train_chunk_rows, args.train_sample_rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
