"""One transaction per batch: a failing batch leaves no row, earlier batches stay, the run can go on."""

import time

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from airflow_provider_hazy.config import DataSchema, IfExists
from airflow_provider_hazy.io.sql import SqlTableWriter, SqlWriteError, read_sql_table

TABLE = DataSchema.model_validate(
    {
        "tables": [
            {
                "name": "events",
                "type": "tabular",
                "columns": [{"name": "event_id", "type": "id"}, {"name": "label", "type": "category"}],
            }
        ]
    }
).table("events")


def batch(start: int, rows: int = 1_000) -> pd.DataFrame:
    ids = np.arange(start, start + rows)
    return pd.DataFrame({"event_id": ids, "label": [f"e{i}" for i in ids]})


def row_ids(engine, name) -> list:
    return sorted(pd.concat(list(read_sql_table(engine, name)))["event_id"].tolist())


@pytest.mark.parametrize("method", ["auto", "executemany"])
def test_a_batch_violating_the_primary_key_half_way_is_rolled_back_whole(engine, fresh_table, method):
    if method == "executemany" and engine.dialect.name != "postgresql":
        pytest.skip("executemany is already the method of this database")
    name = fresh_table(engine)
    writer = SqlTableWriter(engine, name, None, TABLE, method=method, executemany_rows=100)
    writer.write_batch(batch(0))
    writer.write_batch(batch(1_000))
    failing = pd.concat([batch(2_000, 500), batch(1_500, 1), batch(2_500, 499)], ignore_index=True)
    with pytest.raises(SqlWriteError, match=rf"table '{name}': batch of 1000 rows rolled back: .*"):
        writer.write_batch(failing)
    assert row_ids(engine, name) == list(range(2_000))
    writer.write_batch(batch(3_000))
    assert row_ids(engine, name) == list(range(2_000)) + list(range(3_000, 4_000))
    assert writer.batches_written == 3 and writer.rows_written == 3_000


def test_a_failing_first_batch_leaves_a_replaced_table_as_it_was(engine, fresh_table):
    if engine.dialect.name == "mysql":
        pytest.skip("MySQL/MariaDB commit DDL implicitly: the table is replaced before the first batch")
    name = fresh_table(engine)
    SqlTableWriter(engine, name, None, TABLE).write_batch(batch(0, 10))
    duplicated = pd.concat([batch(100, 5), batch(100, 5)], ignore_index=True)
    writer = SqlTableWriter(engine, name, None, TABLE, IfExists.REPLACE)
    with pytest.raises(SqlWriteError):
        writer.write_batch(duplicated)
    assert row_ids(engine, name) == list(range(10))
    writer.write_batch(batch(500, 3))  # still the first batch: replaces now
    assert row_ids(engine, name) == [500, 501, 502]


def test_a_failing_first_batch_leaves_no_new_table_where_ddl_is_transactional(engine, fresh_table):
    name = fresh_table(engine)
    writer = SqlTableWriter(engine, name, None, TABLE)
    with pytest.raises(SqlWriteError):
        writer.write_batch(pd.concat([batch(0, 3), batch(0, 3)], ignore_index=True))
    created = sa.inspect(engine).has_table(name)
    assert created == (engine.dialect.name == "mysql")  # MariaDB: created, empty; others: nothing
    writer.write_batch(batch(0, 3))
    assert row_ids(engine, name) == [0, 1, 2]


def test_a_batch_with_values_of_the_wrong_type_is_rolled_back(engine, fresh_table):
    name = fresh_table(engine)
    writer = SqlTableWriter(engine, name, None, TABLE)
    writer.write_batch(batch(0, 5))
    bad = pd.DataFrame({"event_id": ["not-a-number", "x"], "label": ["a", "b"]})
    with pytest.raises(Exception, match=f"table '{name}'"):
        writer.write_batch(bad)
    assert row_ids(engine, name) == list(range(5))


@pytest.mark.slow
def test_a_million_rows_in_batches_to_postgresql(postgres_engine, fresh_table):
    name = fresh_table(postgres_engine)
    rng = np.random.default_rng(7)
    rows, batch_rows = 1_000_000, 100_000
    started = time.perf_counter()
    with SqlTableWriter(postgres_engine, name) as writer:
        for start in range(0, rows, batch_rows):
            frame = pd.DataFrame(
                {
                    "id": np.arange(start, start + batch_rows),
                    "x": rng.normal(size=batch_rows),
                    "k": rng.choice(["red", "green", "blue"], batch_rows),
                    "t": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**8, batch_rows), unit="s"),
                }
            )
            writer.write_batch(frame)
    elapsed = time.perf_counter() - started
    with postgres_engine.connect() as connection:
        count, total = connection.execute(
            sa.select(sa.func.count(), sa.func.sum(sa.column("id"))).select_from(sa.table(name))
        ).one()
    assert count == rows and total == rows * (rows - 1) // 2
    assert writer.batches_written == 10
    assert elapsed < 30, f"{rows} rows took {elapsed:.1f} s"


def test_a_copy_the_server_rejects_mid_stream_leaves_no_row(postgres_engine, fresh_table):
    name = fresh_table(postgres_engine)
    writer = SqlTableWriter(postgres_engine, name, None, TABLE)
    writer.write_batch(batch(0, 10))
    rows = batch(10, 50_000)
    rows.loc[45_000, "label"] = "NUL \x00 byte"  # PostgreSQL text cannot hold it: the COPY fails late
    with pytest.raises(SqlWriteError, match="rolled back"):
        writer.write_batch(rows)
    assert row_ids(postgres_engine, name) == list(range(10))
