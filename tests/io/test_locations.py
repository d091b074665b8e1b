"""One interface over files, S3 and SQL: locations dispatch by type; errors name the table, never a secret."""

import logging

import pandas as pd
import pytest
import sqlalchemy as sa

from airflow_provider_hazy.config import (
    DatabaseReadTableConfig,
    DatabaseWriteTableConfig,
    DataSchema,
    IfExists,
    PathReadTableConfig,
    PathWriteTableConfig,
    SecretDataSource,
    SecretDataSourceIO,
)
from airflow_provider_hazy.io.locations import (
    location_kind,
    location_label,
    open_writer,
    order_tables_for_write,
    read_table,
    read_table_chunks,
)
from airflow_provider_hazy.io.sources import DataSources

PASSWORD = "Hunter2-Sup3r-s3cret"
FRAME = pd.DataFrame({"id": [1, 2, 3], "name": ["a", "b", None]})
SCHEMA = DataSchema.model_validate(
    {
        "tables": [
            {
                "name": "orders",
                "type": "tabular",
                "columns": [
                    {"name": "order_id", "type": "id"},
                    {"name": "customer_id", "type": "foreign_key", "ref_table": "customers", "ref_column": "id"},
                    {"name": "parent", "type": "foreign_key", "ref_table": "orders", "ref_column": "order_id"},
                ],
            },
            {"name": "audit", "type": "tabular", "columns": [{"name": "n", "type": "integer"}]},
            {"name": "customers", "type": "tabular", "columns": [{"name": "id", "type": "id"}]},
            {
                "name": "lines",
                "type": "tabular",
                "columns": [
                    {"name": "line_id", "type": "id"},
                    {"name": "order_id", "type": "foreign_key", "ref_table": "orders", "ref_column": "order_id"},
                ],
            },
        ]
    }
)


def postgres_url_with_password(engine) -> str:
    """The test server's URL with a password (the server trusts loopback, so any password connects)."""
    return engine.url.set(password=PASSWORD).render_as_string(hide_password=False)


def test_tables_are_ordered_parents_first():
    assert order_tables_for_write(SCHEMA) == ["audit", "customers", "orders", "lines"]


@pytest.mark.parametrize(
    ("location", "kind"),
    [
        ("data/t.csv", "file"),
        ("s3://b/t.parquet", "s3"),
        (PathReadTableConfig(path="s3://b/t.csv", source_id="minio"), "s3"),
        (DatabaseReadTableConfig(source_id="db", table_name="t"), "sql"),
    ],
)
def test_locations_dispatch_by_type(location, kind):
    assert location_kind(location) == kind


def test_a_database_location_is_labelled_without_secrets():
    location = DatabaseWriteTableConfig(source_id="db", schema_name="public", table_name="t")
    assert location_label(location) == "source 'db' table 'public.t'"


@pytest.mark.parametrize("name", ["t.csv", "t.csv.gz", "t.parquet"])
def test_local_files_read_in_chunks(tmp_path, name):
    path = str(tmp_path / name)
    with open_writer("t", path) as writer:
        writer.write_batch(FRAME)
        writer.write_batch(FRAME)
    assert [len(c) for c in read_table_chunks("t", path, chunk_size=4)] == [4, 2]
    assert len(read_table("t", path, nrows=5)) == 5


def test_a_missing_local_file_is_named_with_its_table(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"table 'customers': .*no such table file"):
        read_table("customers", str(tmp_path / "none.csv"))


def test_other_schemes_are_refused_by_table():
    with pytest.raises(NotImplementedError, match="table 't': gs:// locations are not supported"):
        read_table("t", "gs://bucket/t.csv")


def test_database_locations_resolve_through_hazy_conn_variables(monkeypatch, engine, fresh_table):
    name = fresh_table(engine)
    monkeypatch.setenv("HAZY_CONN_TARGET_DB", engine.url.render_as_string(hide_password=False))
    output = DatabaseWriteTableConfig(source_id="target.db", table_name=name, if_exists=IfExists.FAIL)
    with open_writer("customers", output) as writer:
        writer.write_batch(FRAME)
        writer.write_batch(FRAME)
    source = DatabaseReadTableConfig(source_id="target.db", table_name=name)
    back = read_table("customers", source)
    assert back["id"].tolist() == [1, 2, 3, 1, 2, 3]
    assert [len(c) for c in read_table_chunks("customers", source, chunk_size=4)] == [4, 2]
    assert len(read_table("customers", source, nrows=2)) == 2


def test_a_declared_inline_source_needs_no_variable(sqlite_engine, fresh_table):
    name = fresh_table(sqlite_engine)
    sources = [SecretDataSourceIO(id="local", connection_url=sqlite_engine.url.render_as_string())]
    with open_writer("t", DatabaseWriteTableConfig(source_id="local", table_name=name), sources=sources) as writer:
        writer.write_batch(FRAME)
    assert len(read_table("t", DatabaseReadTableConfig(source_id="local", table_name=name), sources=sources)) == 3


def test_an_injected_resolver_serves_every_source(sqlite_engine, fresh_table):
    name = fresh_table(sqlite_engine)
    asked = []

    def resolver(source):
        asked.append(source.connection_id)
        return sqlite_engine.url.render_as_string()

    with DataSources([SecretDataSource(id="db", conn_id="airflow_db")], resolver=resolver) as sources:
        with open_writer("t", DatabaseWriteTableConfig(source_id="db", table_name=name), sources=sources) as writer:
            writer.write_batch(FRAME)
        assert len(read_table("t", DatabaseReadTableConfig(source_id="db", table_name=name), sources=sources)) == 3
    assert set(asked) == {"airflow_db"}


def test_open_writer_creates_schema_types_and_foreign_keys(postgres_engine, fresh_table, monkeypatch):
    monkeypatch.setenv("HAZY_CONN_PG", postgres_engine.url.render_as_string(hide_password=False))
    names = {table: fresh_table(postgres_engine) for table in order_tables_for_write(SCHEMA)}
    outputs = {table: DatabaseWriteTableConfig(source_id="pg", table_name=name) for table, name in names.items()}
    data = {
        "audit": pd.DataFrame({"n": [1]}),
        "customers": pd.DataFrame({"id": [1, 2]}),
        "orders": pd.DataFrame({"order_id": [10, 11], "customer_id": [1, 2], "parent": [None, 10]}),
        "lines": pd.DataFrame({"line_id": [100], "order_id": [11]}),
    }
    for table in order_tables_for_write(SCHEMA):
        with open_writer(
            table, outputs[table], table_schema=SCHEMA.table(table), data_schema=SCHEMA, table_locations=outputs
        ) as writer:
            writer.write_batch(data[table])
    inspector = sa.inspect(postgres_engine)
    referred = {fk["referred_table"] for fk in inspector.get_foreign_keys(names["orders"])}
    assert referred == {names["customers"], names["orders"]}
    assert [fk["referred_table"] for fk in inspector.get_foreign_keys(names["lines"])] == [names["orders"]]


def test_s3_locations_use_their_source(monkeypatch, s3_url, s3_bucket):
    monkeypatch.setenv("HAZY_CONN_LAKE", s3_url)
    path = f"s3://{s3_bucket}/out/t.parquet"
    with open_writer("t", PathWriteTableConfig(path=path, source_id="lake")) as writer:
        writer.write_batch(FRAME)
        writer.write_batch(FRAME)
    back = read_table("t", PathReadTableConfig(path=path, source_id="lake"))
    assert back["id"].tolist() == [1, 2, 3, 1, 2, 3]


def test_s3_without_a_source_uses_the_aws_environment(monkeypatch, s3_endpoint, s3_credentials, s3_bucket):
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_credentials[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_credentials[1])
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    path = f"s3://{s3_bucket}/t.csv.gz"
    with open_writer("t", path) as writer:
        writer.write_batch(FRAME)
    assert len(read_table("t", path)) == 3


def test_a_failed_batch_raises_so_the_caller_can_divert_it(monkeypatch, sqlite_engine, fresh_table):
    name = fresh_table(sqlite_engine)
    monkeypatch.setenv("HAZY_CONN_LOCAL", sqlite_engine.url.render_as_string())
    table = DataSchema.model_validate(
        {"tables": [{"name": "t", "type": "tabular", "columns": [{"name": "id", "type": "id"}]}]}
    ).table("t")
    location = DatabaseWriteTableConfig(source_id="local", table_name=name, fail_safe_path="failed/")
    outcomes = []
    with open_writer("t", location, table_schema=table) as writer:
        for batch in ([1, 2], [3, 3], [4]):
            try:
                writer.write_batch(pd.DataFrame({"id": batch}))
                outcomes.append("written")
            except Exception as error:  # noqa: BLE001 - what api.generate does
                outcomes.append(f"failed: {error}")
    assert outcomes[0] == "written" and outcomes[2] == "written"
    assert outcomes[1].startswith(f"failed: table '{name}': batch of 2 rows rolled back: IntegrityError")
    assert sorted(read_table("t", DatabaseReadTableConfig(source_id="local", table_name=name))["id"]) == [1, 2, 4]


def test_the_password_never_appears_in_errors_or_logs(monkeypatch, caplog, postgres_engine, fresh_table):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")
    name = fresh_table(postgres_engine)
    url = postgres_url_with_password(postgres_engine)
    monkeypatch.setenv("HAZY_CONN_PG", url)
    monkeypatch.setenv("HAZY_CONN_CLOSED", url.replace(":5432/", ":1/") if ":5432/" in url else url)
    monkeypatch.setenv("HAZY_CONN_BROKEN", f"postgresql://postgres:{PASSWORD}@127.0.0.1:notaport/test")
    messages = []

    def attempt(call):
        try:
            call()
        except Exception as error:  # noqa: BLE001 - collecting every message
            while error is not None:
                messages.append(f"{type(error).__name__}: {error} {error!r}")
                error = error.__cause__ or error.__context__
        else:
            messages.append("no error")

    table = DataSchema.model_validate(
        {"tables": [{"name": "t", "type": "tabular", "columns": [{"name": "id", "type": "id"}]}]}
    ).table("t")
    with open_writer("t", DatabaseWriteTableConfig(source_id="pg", table_name=name), table_schema=table) as writer:
        writer.write_batch(pd.DataFrame({"id": [1]}))
        attempt(lambda: writer.write_batch(pd.DataFrame({"id": [1]})))
        attempt(lambda: writer.write_batch(pd.DataFrame({"id": ["x"]})))
    attempt(lambda: read_table("t", DatabaseReadTableConfig(source_id="pg", table_name="no_such_table")))
    attempt(lambda: read_table("t", DatabaseReadTableConfig(source_id="closed", table_name=name)))
    attempt(lambda: read_table("t", DatabaseReadTableConfig(source_id="broken", table_name=name)))
    attempt(lambda: open_writer("t", DatabaseWriteTableConfig(source_id="broken", table_name=name)))
    assert len(messages) >= 6 and "no error" not in messages
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for text in messages + [logged, caplog.text]:
        assert PASSWORD not in text


@pytest.mark.parametrize("name", ["t.csv", "t.parquet"])
def test_reading_no_rows_gives_one_empty_frame_with_the_columns(tmp_path, name):
    path = str(tmp_path / name)
    with open_writer("t", path) as writer:
        writer.write_batch(FRAME)
    frame = read_table("t", path, nrows=0)
    assert len(frame) == 0 and list(frame.columns) == ["id", "name"]
