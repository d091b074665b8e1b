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


# Ranged reads: the heap cut into block ranges, COPYed by several connections in one snapshot ----------------

RANGE_ROWS = 3000  # about 40 heap blocks: 40 ranges of one block each at range_bytes=8192


def _note(i):
    """Every 500th row a long incompressible text (TOASTed); '' and NULL in between."""
    if i % 500 == 1:
        return "".join(chr(0x41 + (i * 7919 + k * 104729) % 50) for k in range(6000))
    if i % 13 == 6:
        return ""
    if i % 17 == 8:
        return None
    return f'row {i}, "quoted"\nline'


def _big_rows(count):
    return [
        {
            "id": i,
            "amount": None if i % 7 == 3 else i / 3,
            "flag": None if i % 11 == 4 else i % 2 == 0,
            "seen": dt.datetime(2020, 1, 1) + dt.timedelta(seconds=37 * i, microseconds=i),
            "seen_tz": None if i % 5 == 2 else dt.datetime(2021, 3, 4, tzinfo=UTC) + dt.timedelta(hours=i),
            "day": dt.date(2000, 1, 1) + dt.timedelta(days=i),
            "note": _note(i),
        }
        for i in range(count)
    ]


@pytest.fixture
def big_table(postgres_engine, fresh_table):
    name = fresh_table(postgres_engine, prefix="hzrange")
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
    )
    table.create(postgres_engine)
    with postgres_engine.begin() as connection:
        connection.execute(table.insert(), _big_rows(RANGE_ROWS))
    return table


def _ranged(engine, table, chunk_size=500, limit=None, connections=2, range_bytes=8192):
    names = [column.name for column in table.columns]
    kinds = [sql.column_kind(column.type, engine.dialect) for column in table.columns]
    qualified = sql.qualified_name(engine.dialect, table.name, None)
    return pg_copy_read.read_chunks(
        engine, qualified, names, kinds, chunk_size, limit, connections=connections, range_bytes=range_bytes
    )


def _whole(frames):
    return pd.concat(list(frames), ignore_index=True)


@pytest.mark.parametrize("connections", [1, 2, 3])
@pytest.mark.parametrize("chunk_size", [333, 10_000])
def test_ranged_frames_equal_the_cursor_frames(
    postgres_engine, big_table, monkeypatch, caplog, connections, chunk_size
):
    with caplog.at_level("DEBUG", logger=pg_copy_read.__name__):
        ranged = list(_ranged(postgres_engine, big_table, chunk_size=chunk_size, connections=connections))
    assert any("ranges over" in record.getMessage() for record in caplog.records)
    cursor = _cursor_frames(postgres_engine, big_table.name, monkeypatch, chunk_size=chunk_size)
    assert [len(frame) for frame in ranged] == [len(frame) for frame in cursor]
    for mine, theirs in zip(ranged, cursor):
        pd.testing.assert_frame_equal(mine, theirs)
    notes = _whole(ranged)["note"]
    assert notes.str.len().max() == 6000 and (notes == "").sum() > 0 and notes.isna().sum() > 0


@pytest.mark.parametrize("limit", [0, 1, 499, 2999, 5000])
def test_a_ranged_read_with_a_limit_gives_the_first_rows(postgres_engine, big_table, monkeypatch, limit):
    ranged = _whole(_ranged(postgres_engine, big_table, chunk_size=300, limit=limit))
    cursor = _whole(_cursor_frames(postgres_engine, big_table.name, monkeypatch, limit=limit))
    assert len(ranged) == min(limit, RANGE_ROWS)
    pd.testing.assert_frame_equal(ranged, cursor)


def test_a_ranged_read_sees_one_snapshot_of_the_table(postgres_engine, big_table, monkeypatch):
    """Rows changed and added by another transaction after the read started are not seen, on any connection."""
    before = _whole(_cursor_frames(postgres_engine, big_table.name, monkeypatch))
    frames = _ranged(postgres_engine, big_table, chunk_size=50, connections=3)
    first = next(frames)
    with postgres_engine.begin() as connection:
        connection.execute(sa.text(f"UPDATE \"{big_table.name}\" SET note = 'changed', amount = -1"))
        connection.execute(sa.text(f'INSERT INTO "{big_table.name}" (id) SELECT g FROM generate_series(1, 5000) g'))
    whole = pd.concat([first, _whole(frames)], ignore_index=True)
    pd.testing.assert_frame_equal(whole, before)
    assert sorted(whole["id"]) == list(range(RANGE_ROWS))


def test_a_ranged_reader_closed_early_returns_its_connections(postgres_engine, big_table):
    pool = postgres_engine.pool
    before = pool.checkedout()
    frames = _ranged(postgres_engine, big_table, chunk_size=10, connections=3)
    next(frames)
    frames.close()
    assert pool.checkedout() == before
    for _ in range(5):  # a cancel sent to a COPY never reaches a later statement on a pooled connection
        with postgres_engine.connect() as connection:
            assert connection.execute(sa.text(f'SELECT count(*) FROM "{big_table.name}"')).scalar_one() == RANGE_ROWS


def test_a_view_is_read_in_one_stream(postgres_engine, big_table, monkeypatch, caplog):
    view = f"{big_table.name}_v"
    with postgres_engine.begin() as connection:
        connection.execute(sa.text(f'CREATE VIEW "{view}" AS SELECT * FROM "{big_table.name}" WHERE id % 2 = 0'))
    try:
        with caplog.at_level("DEBUG", logger=pg_copy_read.__name__):
            streamed = list(sql.read_sql_table(postgres_engine, view, chunk_size=400))
        assert any("one stream" in record.getMessage() for record in caplog.records)
        cursor = _cursor_frames(postgres_engine, view, monkeypatch, chunk_size=400)
        pd.testing.assert_frame_equal(_whole(streamed), _whole(cursor))
        assert len(_whole(streamed)) == RANGE_ROWS // 2
    finally:
        with postgres_engine.begin() as connection:
            connection.execute(sa.text(f'DROP VIEW "{view}"'))


def test_read_connections_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(pg_copy_read.READ_CONNECTIONS_ENV, raising=False)
    assert pg_copy_read.read_connections() == pg_copy_read.DEFAULT_READ_CONNECTIONS
    monkeypatch.setenv(pg_copy_read.READ_CONNECTIONS_ENV, "4")
    assert pg_copy_read.read_connections() == 4
    for bad in ("0", "two"):
        monkeypatch.setenv(pg_copy_read.READ_CONNECTIONS_ENV, bad)
        with pytest.raises(ValueError, match=pg_copy_read.READ_CONNECTIONS_ENV):
            pg_copy_read.read_connections()
