"""PostgreSQL binary COPY: the same table contents as CSV COPY, CSV for other column types, range errors."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from airflow_provider_hazy.io.sql import SqlTableWriter, SqlWriteError, pg_column_types

I16, I32, I64 = np.iinfo(np.int16), np.iinfo(np.int32), np.iinfo(np.int64)


def typed_table(engine: sa.Engine, name: str, schema_name=None) -> None:
    """A table with every PostgreSQL type the binary encoder handles."""
    sa.Table(
        name,
        sa.MetaData(),
        sa.Column("i2", sa.SmallInteger),
        sa.Column("i4", sa.Integer),
        sa.Column("i8", sa.BigInteger),
        sa.Column("f4", postgresql.REAL),
        sa.Column("f8", sa.Double),
        sa.Column("flag", sa.Boolean),
        sa.Column("body", sa.Text),
        sa.Column("label", sa.String(12)),
        sa.Column("code", sa.CHAR(4)),
        sa.Column("day", sa.Date),
        sa.Column("at", sa.DateTime),
        sa.Column("at_tz", sa.DateTime(timezone=True)),
        schema=schema_name,
    ).create(engine)


def every_type_frame() -> pd.DataFrame:
    """Integer extremes of each width, nulls everywhere, unicode, time zones, dates before 1970 and 2000."""
    return pd.DataFrame(
        {
            "i2": pd.array([I16.min, I16.max, None, 0, -1, 7], dtype="Int64"),
            "i4": pd.array([I32.min, I32.max, 0, None, 1, -7], dtype="Int64"),
            "i8": pd.array([I64.min, I64.max, 0, -1, None, 42], dtype="Int64"),
            "f4": [1.5, -0.25, np.nan, np.inf, 3.0e38, 0.0],
            "f8": [np.pi, -1e308, 5e-324, np.nan, -np.inf, 0.0],
            "flag": pd.array([True, False, None, True, False, True], dtype="boolean"),
            "body": ["Zürich", "東京 🚀", None, "", 'quote " comma , newline \n tab \t', "back\\slash"],
            "label": ["São Paulo", None, "Łódź", "x" * 12, "a", "b"],
            "code": ["ab", "abcd", None, "é", "", "zz"],
            "day": [
                dt.date(1900, 1, 1),
                dt.date(1999, 12, 31),
                dt.date(2000, 1, 1),
                None,
                dt.date(9999, 12, 31),
                dt.date(1970, 1, 1),
            ],
            "at": pd.to_datetime(
                [
                    "1899-12-31 23:59:59.999999",
                    "2000-01-01",
                    None,
                    "2024-02-29 12:00:00.0000015",
                    "1969-12-31 23:59:59.5",
                    "2262-04-11",
                ],
                format="ISO8601",
            ).astype("datetime64[ns]"),  # nanoseconds: rounded to microseconds as PostgreSQL rounds text
            "at_tz": pd.to_datetime(
                ["2021-03-28 01:30", "2021-10-31 02:30", "1950-06-01 12:00", None, "2000-01-01 00:00", "2038-01-19"],
                format="ISO8601",
            ).tz_localize("Europe/Zurich", ambiguous=[True] * 6),
        }
    )


def written(engine: sa.Engine, name: str) -> list:
    """Every row as PostgreSQL's own text of each value (exact: no driver conversion on the way back)."""
    columns = ", ".join(f"{c}::text" for c in every_type_frame().columns)
    with engine.begin() as connection:
        connection.exec_driver_sql("SET TIME ZONE 'UTC'")
        return [
            tuple(row)
            for row in connection.exec_driver_sql(f"SELECT {columns} FROM {name} ORDER BY {name}.i8 NULLS LAST")
        ]


def test_binary_and_csv_copy_write_identical_contents_for_every_type(postgres_engine, fresh_table):
    frame = every_type_frame()
    contents = {}
    for copy_format in ("csv", "binary"):
        name = fresh_table(postgres_engine)
        typed_table(postgres_engine, name)
        writer = SqlTableWriter(postgres_engine, name, if_exists="append", copy_format=copy_format)
        assert writer.write_batch(frame) == len(frame)
        assert writer.binary_batches == (1 if copy_format == "binary" else 0)
        contents[copy_format] = written(postgres_engine, name)
    assert contents["binary"] == contents["csv"]
    rows = contents["binary"]
    assert len(rows) == 6
    assert rows[0][:3] == (str(I16.min), str(I32.min), str(I64.min))
    assert rows[4][6] == "東京 🚀" and rows[4][8] == "abcd"  # i8 max: the fifth in order
    assert rows[0][11] == "2021-03-28 00:30:00+00"  # Europe/Zurich converted to UTC
    assert rows[2][10] is None and rows[2][6] is None


def test_binary_copy_of_a_created_table_in_a_schema(postgres_engine, postgres_schema, fresh_table):
    """The table the writer creates from the first batch (same transaction) is written in binary."""
    frame = every_type_frame().drop(columns=["i2", "i4", "f4", "code"])
    name = fresh_table(postgres_engine, postgres_schema)
    writer = SqlTableWriter(postgres_engine, name, postgres_schema, if_exists="replace")
    writer.write_batch(frame)
    writer.write_batch(frame)
    assert writer.binary_batches == 2
    with postgres_engine.connect() as connection:
        types = pg_column_types(connection, name, postgres_schema)
        count = connection.execute(sa.text(f'SELECT count(*) FROM "{postgres_schema}"."{name}"')).scalar()
    assert types["at_tz"] == "timestamptz" and types["i8"] == "int8" and types["body"] == "text"
    assert count == 2 * len(frame)


def test_a_numeric_column_falls_back_to_csv_copy_and_still_writes(postgres_engine, fresh_table):
    name = fresh_table(postgres_engine)
    sa.Table(name, sa.MetaData(), sa.Column("id", sa.BigInteger), sa.Column("amount", sa.Numeric(10, 2))).create(
        postgres_engine
    )
    writer = SqlTableWriter(postgres_engine, name, if_exists="append")
    writer.write_batch(pd.DataFrame({"id": [1, 2, 3], "amount": [1.25, None, -99999999.99]}))
    assert writer.binary_batches == 0 and writer.rows_written == 3
    with postgres_engine.connect() as connection:
        rows = connection.execute(sa.text(f"SELECT id, amount::text FROM {name} ORDER BY id")).all()
    assert rows == [(1, "1.25"), (2, None), (3, "-99999999.99")]


def test_numbers_in_a_text_column_fall_back_to_csv_copy(postgres_engine, fresh_table):
    name = fresh_table(postgres_engine)
    sa.Table(name, sa.MetaData(), sa.Column("id", sa.BigInteger), sa.Column("label", sa.Text)).create(postgres_engine)
    writer = SqlTableWriter(postgres_engine, name, if_exists="append")
    writer.write_batch(pd.DataFrame({"id": [1, 2], "label": [10, 20]}))
    assert writer.binary_batches == 0
    with postgres_engine.connect() as connection:
        assert connection.execute(sa.text(f"SELECT label FROM {name} ORDER BY id")).scalars().all() == ["10", "20"]


@pytest.mark.parametrize("copy_format", ["binary", "csv"])
def test_an_integer_out_of_the_column_range_fails_clearly_and_rolls_back(postgres_engine, fresh_table, copy_format):
    name = fresh_table(postgres_engine)
    sa.Table(name, sa.MetaData(), sa.Column("id", sa.BigInteger), sa.Column("small", sa.Integer)).create(
        postgres_engine
    )
    writer = SqlTableWriter(postgres_engine, name, if_exists="append", copy_format=copy_format)
    bad = pd.DataFrame({"id": np.arange(1_000), "small": np.arange(1_000) * 3_000_000})  # 3e9 > int4 max
    with pytest.raises(SqlWriteError) as failure:
        writer.write_batch(bad)
    message = str(failure.value)
    assert "batch of 1000 rows rolled back" in message
    assert "out of range for type integer" in message and "small" in message
    writer.write_batch(pd.DataFrame({"id": [5], "small": [I32.max]}))  # the writer goes on
    with postgres_engine.connect() as connection:
        assert connection.execute(sa.text(f"SELECT id, small FROM {name}")).all() == [(5, I32.max)]


def test_a_failed_first_binary_batch_undoes_the_create(postgres_engine, fresh_table):
    name = fresh_table(postgres_engine)
    writer = SqlTableWriter(postgres_engine, name, if_exists="fail")
    with pytest.raises(SqlWriteError, match="rolled back"):
        writer.write_batch(pd.DataFrame({"id": [1, 2], "body": ["ok", "nul \x00 byte"]}))
    assert not sa.inspect(postgres_engine).has_table(name)


def test_all_null_columns_and_second_timestamps_go_binary(postgres_engine, fresh_table):
    name = fresh_table(postgres_engine)
    typed_table(postgres_engine, name)
    frame = pd.DataFrame(
        {
            "i8": [1, 2],
            "body": [None, None],  # object column of nothing but nulls
            "day": [None, None],
            "at": np.array(["1900-01-01T00:00:01", "2100-12-31T23:59:59"], dtype="datetime64[s]"),
        }
    )
    writer = SqlTableWriter(postgres_engine, name, if_exists="append")
    writer.write_batch(frame)
    assert writer.binary_batches == 1
    with postgres_engine.connect() as connection:
        rows = connection.execute(sa.text(f"SELECT i8, body, day, at::text FROM {name} ORDER BY i8")).all()
    assert rows == [(1, None, None, "1900-01-01 00:00:01"), (2, None, None, "2100-12-31 23:59:59")]


def test_dates_and_timestamps_as_text_go_binary_and_equal_csv(postgres_engine, fresh_table):
    """Text dates and datetimes (a CSV source's formats) are parsed once and written in binary: the same
    contents as CSV COPY, where the server parses them. Offsets and compact forms take pandas' parser."""
    frame = pd.DataFrame(
        {
            "i8": [1, 2, 3, 4, 5],
            "day": pd.array(["1899-12-31", "2024-02-29", None, "1969-12-31 23:59:59", "2000-01-01"], dtype="str"),
            "at": pd.array(
                ["2024-02-29 12:34:56", None, "1969-12-31T23:59:59.5", "2000-01-01", "1900-01-01 00:00"], dtype="str"
            ),
        }
    )
    offsets = frame.assign(
        at_tz=pd.array(["2021-03-28 01:30+01:00", None, "2024-01-01T00:00:00Z", "2000-01-01 00:00+05:30", None], "str")
    )
    for batch in (frame, offsets):
        contents = {}
        for copy_format in ("csv", "binary"):
            name = fresh_table(postgres_engine)
            typed_table(postgres_engine, name)
            writer = SqlTableWriter(postgres_engine, name, if_exists="append", copy_format=copy_format)
            writer.write_batch(batch)
            assert writer.binary_batches == (copy_format == "binary")
            columns = ", ".join(f"{c}::text" for c in batch.columns)
            with postgres_engine.begin() as connection:
                connection.exec_driver_sql("SET TIME ZONE 'UTC'")
                contents[copy_format] = connection.exec_driver_sql(f"SELECT {columns} FROM {name} ORDER BY i8").all()
        assert contents["binary"] == contents["csv"]
    assert contents["binary"][0][1:3] == ("1899-12-31", "2024-02-29 12:34:56")
    assert contents["binary"][3][1:3] == ("1969-12-31", "2000-01-01 00:00:00")


def test_copy_format_is_checked(postgres_engine):
    with pytest.raises(ValueError, match="copy_format"):
        SqlTableWriter(postgres_engine, "t", copy_format="text")
