"""PostgreSQL reads through COPY ... TO STDOUT into Arrow (`io.pg_copy_read`): the frames equal those of the
row cursor, column for column and dtype for dtype, with nulls, empty strings, time zones, limits and chunks."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from airflow_provider_hazy.io import pg_copy_read, sql

UTC = dt.timezone.utc
ROWS = [
    (1, 1.5, True, dt.datetime(2024, 1, 2, 3, 4, 5, 600000), dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
     dt.date(2020, 2, 29), "plain", 7),
    (2, None, None, None, None, None, None, None),
    (3, -2.25, False, dt.datetime(1999, 12, 31, 23, 59, 59), dt.datetime(2001, 5, 6, 7, 8, 9, tzinfo=UTC),
     dt.date(1970, 1, 1), "", 9),
    (4, 0.0, True, dt.datetime(2030, 6, 1), dt.datetime(2030, 6, 1, tzinfo=UTC), dt.date(2030, 6, 1),
     'quote " comma , newline\n and é', -3),
]


@pytest.fixture
def every_kind(postgres_engine, fresh_table):
    name = fresh_table(postgres_engine, prefix="hzcopy")
    table = sa.Table(
        name,
        sa.MetaData(),
        sa.Column("id", sa.BigInteger, nullable=False),
        sa.Column("amount", sa.Float),
        sa.Column("flag", sa.Boolean),
        sa.Column("seen", sa.DateTime),
        sa.Column("seen_tz", sa.DateTime(timezone=True)),
        sa.Column("day", sa.Date),
        sa.Column("note", sa.Text),
        sa.Column("small", sa.Integer),
    )
    table.create(postgres_engine)
    keys = [column.name for column in table.columns]
    with postgres_engine.begin() as connection:
        connection.execute(table.insert(), [dict(zip(keys, row)) for row in ROWS])
    return name


def _cursor_frames(engine, name, monkeypatch, **options):
    """The row-cursor path, with the COPY path switched off."""
    with monkeypatch.context() as patch:
        patch.setattr(pg_copy_read, "supported", lambda *_: False)
        return list(sql.read_sql_table(engine, name, **options))


@pytest.mark.parametrize("options", [{}, {"chunk_size": 3}, {"limit": 2}, {"columns": ["note", "id"]}])
def test_copy_frames_equal_the_cursor_frames(postgres_engine, every_kind, monkeypatch, options):
    assert pg_copy_read.supported(postgres_engine, ["int", "str"])
    copied = list(sql.read_sql_table(postgres_engine, every_kind, **options))
    cursor = _cursor_frames(postgres_engine, every_kind, monkeypatch, **options)
    assert [len(frame) for frame in copied] == [len(frame) for frame in cursor]
    for mine, theirs in zip(copied, cursor):
        pd.testing.assert_frame_equal(mine, theirs)


def test_copy_keeps_null_and_empty_text_apart(postgres_engine, every_kind):
    (frame,) = sql.read_sql_table(postgres_engine, every_kind)
    assert frame["note"].isna().tolist() == [False, True, False, False]
    assert frame["note"][2] == "" and frame["note"][3] == 'quote " comma , newline\n and é'


def test_an_empty_table_gives_one_empty_frame_of_the_same_columns(postgres_engine, every_kind, monkeypatch):
    with postgres_engine.begin() as connection:
        connection.execute(sa.text(f'DELETE FROM "{every_kind}"'))
    (copied,) = sql.read_sql_table(postgres_engine, every_kind)
    (cursor,) = _cursor_frames(postgres_engine, every_kind, monkeypatch)
    assert len(copied) == 0 and list(copied.columns) == list(cursor.columns)


def test_a_reader_closed_early_leaves_the_pool_usable(postgres_engine, every_kind):
    chunks = sql.read_sql_table(postgres_engine, every_kind, chunk_size=1)
    next(chunks)
    chunks.close()
    with postgres_engine.connect() as connection:
        assert connection.execute(sa.text(f'SELECT count(*) FROM "{every_kind}"')).scalar_one() == 4
