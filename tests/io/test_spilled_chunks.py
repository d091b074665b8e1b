"""The training spill (`io.source_cache.SpilledChunks`): a database table's first pass is kept on local disk and
replayed, chunk for chunk and dtype for dtype, without reading the source again; what would not come back
identical is never spilled; the spill is private and deleted."""

from __future__ import annotations

import datetime as dt
import gc
import stat

import pandas as pd
import pytest
import sqlalchemy as sa

from airflow_provider_hazy.config import TrainingConfig
from airflow_provider_hazy.io import sql
from airflow_provider_hazy.io.source_cache import SPILL_DIR_ENV, SPILL_ENV, SpilledChunks
from airflow_provider_hazy.io.sources import DataSources
from airflow_provider_hazy.pipeline.sources import source_chunks

UTC = dt.timezone.utc


class Counted:
    """A chunk source counting the passes it starts."""

    def __init__(self, read):
        self.read = read
        self.passes = 0

    def __call__(self):
        self.passes += 1
        return self.read()


@pytest.fixture
def spill_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(SPILL_DIR_ENV, str(tmp_path / "spill"))
    monkeypatch.delenv(SPILL_ENV, raising=False)
    return tmp_path / "spill"


@pytest.fixture
def pg_table(postgres_engine, fresh_table):
    name = fresh_table(postgres_engine, prefix="hzspill")
    table = sa.Table(
        name,
        sa.MetaData(),
        sa.Column("id", sa.BigInteger, nullable=False),
        sa.Column("amount", sa.Float),
        sa.Column("count", sa.Integer),
        sa.Column("flag", sa.Boolean),
        sa.Column("seen", sa.DateTime),
        sa.Column("seen_tz", sa.DateTime(timezone=True)),
        sa.Column("day", sa.Date),
        sa.Column("note", sa.Text),
    )
    table.create(postgres_engine)
    rows = [
        {
            "id": i,
            "amount": None if i % 4 == 1 else i * 0.1,
            "count": None if 10 <= i < 20 else i,  # a chunk of nulls only: Int64 in one chunk, int64 in others
            "flag": None if i % 9 == 2 else i % 2 == 0,
            "seen": dt.datetime(2020, 1, 1, 0, 0, i % 60, 123456),
            "seen_tz": dt.datetime(2021, 1, 1, i % 24, tzinfo=UTC),
            "day": None if i % 6 == 5 else dt.date(1999, 1, 1) + dt.timedelta(days=i),
            "note": None if i % 5 == 3 else "" if i % 5 == 4 else f"n{i % 7} é",
        }
        for i in range(57)
    ]
    with postgres_engine.begin() as connection:
        connection.execute(table.insert(), rows)
    return name


def _source(engine, name, chunk_size=10):
    return Counted(lambda: sql.read_sql_table(engine, name, chunk_size=chunk_size))


def _assert_same(passes_a, passes_b):
    assert [len(frame) for frame in passes_a] == [len(frame) for frame in passes_b]
    for mine, theirs in zip(passes_a, passes_b):
        pd.testing.assert_frame_equal(mine, theirs)


def test_later_passes_replay_the_first_without_reading_the_source(postgres_engine, pg_table, spill_dir):
    source = _source(postgres_engine, pg_table)
    spilled = SpilledChunks(source, "t")
    first = list(spilled())
    assert spilled.chunks == 6 and source.passes == 1
    assert stat.S_IMODE(spilled.directory.stat().st_mode) == 0o700
    assert spilled.directory.parent == spill_dir
    for _ in range(3):
        _assert_same(list(spilled()), first)
    assert source.passes == 1
    _assert_same(first, list(sql.read_sql_table(postgres_engine, pg_table, chunk_size=10)))
    assert {str(frame["count"].dtype) for frame in first} == {"int64", "Int64"}
    directory = spilled.directory
    spilled.close()
    assert not directory.exists()
    _assert_same(list(spilled()), first)  # closed: the source is read again
    assert source.passes == 2


def test_the_spill_is_deleted_with_its_chunk_source(postgres_engine, pg_table, spill_dir):
    spilled = SpilledChunks(_source(postgres_engine, pg_table), "t")
    list(spilled())
    directory = spilled.directory
    assert directory.exists()
    del spilled
    gc.collect()
    assert not directory.exists()


def test_a_first_pass_stopped_early_spills_nothing(postgres_engine, pg_table, spill_dir):
    source = _source(postgres_engine, pg_table)
    spilled = SpilledChunks(source, "t")
    passing = spilled()
    next(passing)
    passing.close()
    assert spilled.chunks is None and list(spill_dir.iterdir()) == []
    list(spilled())
    list(spilled())
    assert source.passes == 2 and spilled.chunks == 6


def test_chunks_that_would_not_come_back_identical_are_not_spilled(spill_dir):
    frames = [
        pd.DataFrame({"a": [1, 2], "b": pd.Series(["x", "y"], dtype=object)}),  # object text: back as 'str'
        pd.DataFrame({"a": [3], "b": pd.Series(["z"], dtype=object)}),
    ]
    source = Counted(lambda: iter(frames))
    spilled = SpilledChunks(source, "t")
    for _ in range(3):
        _assert_same(list(spilled()), frames)
    assert source.passes == 3 and spilled.disabled and list(spill_dir.iterdir()) == []


def test_hazy_spill_0_reads_the_source_on_every_pass(postgres_engine, pg_table, spill_dir, monkeypatch):
    monkeypatch.setenv(SPILL_ENV, "0")
    source = _source(postgres_engine, pg_table)
    spilled = SpilledChunks(source, "t")
    list(spilled())
    list(spilled())
    assert source.passes == 2 and not spill_dir.exists()


def test_training_chunks_of_a_database_table_are_spilled(postgres_engine, pg_table, spill_dir):
    config = TrainingConfig.model_validate(
        {
            "model_output": "unused.hmf",
            "data_sources": [{"id": "db", "connection_url": postgres_engine.url.render_as_string(False)}],
            "data_schema": {
                "tables": [
                    {
                        "name": "t",
                        "type": "tabular",
                        "columns": [
                            {"name": "id", "type": "id"},
                            {"name": "amount", "type": "float"},
                            {"name": "flag", "type": "bool"},
                            {"name": "seen_tz", "type": "datetime"},
                            {"name": "day", "type": "date"},
                            {"name": "note", "type": "category"},
                        ],
                    }
                ]
            },
            "data_input": [{"name": "t", "location": {"source_id": "db", "table_name": pg_table}}],
        }
    )
    with DataSources(config.data_sources) as sources:
        chunks = source_chunks(config, config.data_schema.tables[0], sources, 25)
        assert isinstance(chunks, SpilledChunks)
        first = list(chunks())
        assert chunks.chunks == 3
        _assert_same(list(chunks()), first)
        assert first[0]["note"].isna().sum() > 0  # '' became null in the prepared frames, as in every pass
