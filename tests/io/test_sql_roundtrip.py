"""SQL tables round-trip every column type, nulls, unicode, time zones and int64 extremes, on each database."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from airflow_provider_hazy.config import DataSchema, IfExists
from airflow_provider_hazy.io.sql import SqlTableWriter, TableExistsError, create_table, read_sql_table

INT64_MIN, INT64_MAX = np.iinfo(np.int64).min, np.iinfo(np.int64).max

SCHEMA = DataSchema.model_validate(
    {
        "tables": [
            {
                "name": "customers",
                "type": "tabular",
                "columns": [
                    {"name": "customer_id", "type": "id", "format": "pattern", "pattern": "CUST-{digits:6}"},
                    {"name": "name", "type": "person"},
                    {"name": "segment", "type": "category"},
                    {"name": "visits", "type": "integer"},
                    {"name": "income", "type": "float"},
                    {"name": "active", "type": "bool"},
                    {"name": "signed_up", "type": "datetime"},
                    {"name": "last_seen", "type": "datetime"},
                    {"name": "dob", "type": "date"},
                    {"name": "age", "type": "age", "dob_column": "dob", "reference_date": "2026-01-01"},
                    {"name": "country", "type": "constant", "value": "GB"},
                ],
            },
            {
                "name": "orders",
                "type": "tabular",
                "columns": [
                    {"name": "order_id", "type": "id"},
                    {
                        "name": "customer_id",
                        "type": "foreign_key",
                        "ref_table": "customers",
                        "ref_column": "customer_id",
                    },
                    {"name": "previous_order", "type": "foreign_key", "ref_table": "orders", "ref_column": "order_id"},
                    {"name": "amount", "type": "float"},
                ],
            },
        ]
    }
)
CUSTOMERS = SCHEMA.table("customers")
ORDERS = SCHEMA.table("orders")


def customers_frame(start: int = 0) -> pd.DataFrame:
    """Six rows with a null in every nullable column, unicode text, both time zones and int64 extremes."""
    return pd.DataFrame(
        {
            "customer_id": [f"CUST-{start + i:06d}" for i in range(6)],
            "name": ["Zoë Ångström", "李小龙", 'O\'Brien, "Bob"\nline two', "", None, "emoji 🎉 tab\tend"],
            "segment": ["a", "b", None, "a", "c", "b"],
            "visits": pd.array([0, INT64_MIN, INT64_MAX, None, -1, 42], dtype="Int64"),
            "income": [0.1, -1e300, 1e-300, np.nan, 123456.789, 1 / 3],
            "active": pd.array([True, False, None, True, False, True], dtype="boolean"),
            "signed_up": pd.to_datetime(
                [
                    "2020-01-01T10:00:00.123456+02:00",
                    "1970-01-01T00:00:00Z",
                    None,
                    "2038-01-19T03:14:08.999999Z",
                    "1901-12-13T20:45:52-05:00",
                    "2024-02-29T23:59:59.5+14:00",
                ],
                format="ISO8601",
                utc=True,
            ),
            "last_seen": pd.to_datetime(
                [
                    "2020-01-01 10:00:00.123456",
                    "1000-01-01 00:00:00",
                    "9999-12-31 23:59:59.999999",
                    None,
                    "2024-02-29 12:00:00",
                    "1970-01-01 00:00:00",
                ],
                format="ISO8601",
            ),
            "dob": [
                dt.date(1990, 5, 17),
                dt.date(1000, 1, 1),
                dt.date(9999, 12, 31),
                None,
                dt.date(2000, 2, 29),
                dt.date(1970, 1, 1),
            ],
            "age": pd.array([35, 120, 0, None, 25, 56], dtype="Int64"),
            "country": ["GB"] * 5 + [None],
        }
    )


def read_all(engine, name, schema_name=None, **kwargs) -> pd.DataFrame:
    return pd.concat(list(read_sql_table(engine, name, schema_name, **kwargs)), ignore_index=True)


def assert_same_values(expected: pd.DataFrame, actual: pd.DataFrame, naive_utc: bool = False) -> None:
    """Equal cell by cell, nulls included (MySQL keeps no time zone: aware values come back as naive UTC)."""
    assert list(actual.columns) == list(expected.columns)
    assert len(actual) == len(expected)
    for name in expected.columns:
        want, got = expected[name], actual[name]
        if isinstance(want.dtype, pd.DatetimeTZDtype) and naive_utc:
            want = want.dt.tz_convert("UTC").dt.tz_localize(None)
        assert want.isna().tolist() == got.isna().tolist(), name
        present = ~want.isna()
        if pd.api.types.is_float_dtype(want.dtype):
            assert np.array_equal(want[present].to_numpy(), got[present].to_numpy(dtype=float)), name
        else:
            assert want[present].tolist() == got[present].tolist(), name


def write_customers(engine, name, frames, if_exists=IfExists.FAIL, **kwargs):
    with SqlTableWriter(engine, name, None, CUSTOMERS, if_exists, data_schema=SCHEMA, **kwargs) as writer:
        for frame in frames:
            writer.write_batch(frame)
    return writer


def test_every_column_type_round_trips(engine, fresh_table):
    name = fresh_table(engine)
    frames = [customers_frame(0), customers_frame(100)]
    write_customers(engine, name, frames)
    back = read_all(engine, name)
    expected = pd.concat(frames, ignore_index=True)
    assert_same_values(expected, back, naive_utc=engine.dialect.name == "mysql")


def test_column_types_come_from_the_schema(engine, fresh_table):
    name = fresh_table(engine)
    write_customers(engine, name, [customers_frame()])
    columns = {c["name"]: c["type"] for c in sa.inspect(engine).get_columns(name)}
    assert isinstance(columns["visits"], sa.BigInteger)
    assert isinstance(columns["age"], sa.Integer)
    assert isinstance(columns["income"], sa.Float)
    assert isinstance(columns["dob"], sa.Date)
    assert isinstance(columns["signed_up"], sa.DateTime)
    assert isinstance(columns["customer_id"], sa.String) and columns["customer_id"].length == len("CUST-000000")
    if engine.dialect.name == "postgresql":
        assert columns["signed_up"].timezone and not columns["last_seen"].timezone
        assert isinstance(columns["active"], sa.Boolean)


def test_text_lengths_are_used_when_known(engine, fresh_table):
    name = fresh_table(engine)
    write_customers(engine, name, [customers_frame()], string_lengths={"name": 40})
    columns = {c["name"]: c["type"] for c in sa.inspect(engine).get_columns(name)}
    assert isinstance(columns["name"], sa.String) and columns["name"].length == 40


def test_primary_and_foreign_keys_are_created(engine, fresh_table):
    customers, orders = fresh_table(engine), fresh_table(engine)
    write_customers(engine, customers, [customers_frame()])
    targets = {"customers": (None, customers), "orders": (None, orders)}
    frame = pd.DataFrame(
        {
            "order_id": [1, 2],
            "customer_id": ["CUST-000000", "CUST-000001"],
            "previous_order": [None, 1],
            "amount": [1.5, 2.5],
        }
    )
    with SqlTableWriter(engine, orders, None, ORDERS, data_schema=SCHEMA, foreign_key_targets=targets) as writer:
        writer.write_batch(frame)
    inspector = sa.inspect(engine)
    assert inspector.get_pk_constraint(customers)["constrained_columns"] == ["customer_id"]
    assert inspector.get_pk_constraint(orders)["constrained_columns"] == ["order_id"]
    foreign = {(fk["referred_table"], tuple(fk["constrained_columns"])) for fk in inspector.get_foreign_keys(orders)}
    assert foreign == {(customers, ("customer_id",)), (orders, ("previous_order",))}
    assert read_all(engine, orders)["previous_order"].tolist()[1] == 1


def test_a_child_row_without_its_parent_is_refused_where_keys_are_enforced(engine, fresh_table):
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite declares foreign keys but enforces them only with PRAGMA foreign_keys=ON")
    customers, orders = fresh_table(engine), fresh_table(engine)
    write_customers(engine, customers, [customers_frame()])
    targets = {"customers": (None, customers)}
    orphan = pd.DataFrame({"order_id": [1], "customer_id": ["CUST-999999"], "previous_order": [None], "amount": [1.0]})
    writer = SqlTableWriter(engine, orders, None, ORDERS, data_schema=SCHEMA, foreign_key_targets=targets)
    with pytest.raises(Exception, match="rolled back"):
        writer.write_batch(orphan)


def test_reads_stream_in_chunks(engine, fresh_table):
    name = fresh_table(engine)
    frame = pd.DataFrame({"id": np.arange(2_500), "x": np.arange(2_500) * 0.5})
    with SqlTableWriter(engine, name) as writer:
        writer.write_batch(frame)
    sizes = [len(chunk) for chunk in read_sql_table(engine, name, chunk_size=1_000)]
    assert sizes == [1_000, 1_000, 500]


def test_reads_select_columns_and_limit_rows(engine, fresh_table):
    name = fresh_table(engine)
    with SqlTableWriter(engine, name) as writer:
        writer.write_batch(pd.DataFrame({"id": [1, 2, 3], "x": ["a", "b", "c"]}))
    back = read_all(engine, name, columns=["x"], limit=2)
    assert list(back.columns) == ["x"] and len(back) == 2


def test_an_empty_table_reads_as_one_empty_typed_frame(engine, fresh_table):
    name = fresh_table(engine)
    create_table(engine, name, None, CUSTOMERS, IfExists.FAIL, frame=customers_frame())
    (frame,) = list(read_sql_table(engine, name))
    assert len(frame) == 0
    assert list(frame.columns) == [c.name for c in CUSTOMERS.columns]
    assert frame["visits"].dtype == np.int64


def test_a_missing_table_or_column_is_named(engine, fresh_table):
    name = fresh_table(engine)
    with pytest.raises(LookupError, match=f"database table '{name}' does not exist"):
        read_sql_table(engine, name)
    with SqlTableWriter(engine, name) as writer:
        writer.write_batch(pd.DataFrame({"id": [1]}))
    with pytest.raises(LookupError, match=r"no column\(s\) \['nope'\]"):
        read_sql_table(engine, name, columns=["nope"])


def test_schema_qualified_names_on_postgresql(postgres_engine, postgres_schema):
    frame = customers_frame()
    with SqlTableWriter(postgres_engine, "customers", postgres_schema, CUSTOMERS) as writer:
        writer.write_batch(frame)
    assert sa.inspect(postgres_engine).has_table("customers", schema=postgres_schema)
    assert not sa.inspect(postgres_engine).has_table("customers")
    assert_same_values(frame, read_all(postgres_engine, "customers", postgres_schema))


@pytest.mark.parametrize("database", ["mariadb", "sqlite"])
def test_schema_qualified_names_elsewhere(request, database, fresh_table):
    engine = request.getfixturevalue(f"{database}_engine")
    schema_name = "test" if database == "mariadb" else "main"
    name = fresh_table(engine, schema_name)
    with SqlTableWriter(engine, name, schema_name) as writer:
        writer.write_batch(pd.DataFrame({"id": [1, 2]}))
    assert read_all(engine, name, schema_name)["id"].tolist() == [1, 2]


def test_if_exists_fail_refuses_an_existing_table(engine, fresh_table):
    name = fresh_table(engine)
    write_customers(engine, name, [customers_frame()])
    with pytest.raises(TableExistsError, match=f"table '{name}': already exists and if_exists is 'fail'"):
        write_customers(engine, name, [customers_frame(100)])


def test_if_exists_replace_recreates_and_append_adds(engine, fresh_table):
    name = fresh_table(engine)
    write_customers(engine, name, [customers_frame(0), customers_frame(100)])
    write_customers(engine, name, [customers_frame(200)], IfExists.REPLACE)
    assert len(read_all(engine, name)) == 6
    write_customers(engine, name, [customers_frame(300)], IfExists.APPEND)
    assert sorted(read_all(engine, name)["customer_id"])[:1] == ["CUST-000200"]
    assert len(read_all(engine, name)) == 12


def test_a_table_without_schema_gets_types_from_the_first_batch(engine, fresh_table):
    name = fresh_table(engine)
    frame = pd.DataFrame(
        {
            "i": [1, 2],
            "f": [0.5, None],
            "b": [True, False],
            "s": ["x", None],
            "t": pd.to_datetime(["2020-01-01", None]),
            "d": [dt.date(2020, 1, 1), None],
        }
    )
    with SqlTableWriter(engine, name) as writer:
        writer.write_batch(frame)
    back = read_all(engine, name)
    assert back["i"].tolist() == [1, 2]
    assert back["b"].tolist() == [True, False]
    assert back["d"].tolist()[0] == dt.date(2020, 1, 1)
    assert back["t"].iloc[0] == pd.Timestamp("2020-01-01")


def test_a_batch_with_an_unknown_column_is_refused_by_name(engine, fresh_table):
    name = fresh_table(engine)
    writer = SqlTableWriter(engine, name)
    writer.write_batch(pd.DataFrame({"id": [1]}))
    with pytest.raises(Exception, match=r"column\(s\) \['extra'\] are not in the target table"):
        writer.write_batch(pd.DataFrame({"id": [2], "extra": [3]}))


@pytest.mark.parametrize("method", ["copy", "executemany"])
def test_postgresql_writes_with_copy_or_executemany(postgres_engine, fresh_table, method):
    name = fresh_table(postgres_engine)
    writer = write_customers(postgres_engine, name, [customers_frame()], method=method)
    assert writer.method == method
    assert_same_values(customers_frame(), read_all(postgres_engine, name))


def test_copy_is_refused_where_it_does_not_exist(sqlite_engine):
    with pytest.raises(ValueError, match="method 'copy' needs PostgreSQL"):
        SqlTableWriter(sqlite_engine, "t", method="copy")


def test_a_multi_table_run_can_replace_parents_before_children(engine, fresh_table):
    customers, orders = fresh_table(engine), fresh_table(engine)
    targets = {"customers": (None, customers), "orders": (None, orders)}
    order_rows = pd.DataFrame(
        {"order_id": [1], "customer_id": ["CUST-000000"], "previous_order": [None], "amount": [1.0]}
    )
    for _run in range(2):
        write_customers(engine, customers, [customers_frame()], IfExists.REPLACE)
        with SqlTableWriter(
            engine, orders, None, ORDERS, IfExists.REPLACE, data_schema=SCHEMA, foreign_key_targets=targets
        ) as writer:
            writer.write_batch(order_rows)
    referred = {fk["referred_table"] for fk in sa.inspect(engine).get_foreign_keys(orders)}
    assert referred == {customers, orders}
    assert len(read_all(engine, orders)) == 1
