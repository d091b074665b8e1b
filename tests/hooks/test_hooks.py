"""Airflow connections -> SQLAlchemy engines and boto3 clients; the Airflow resolver; secrets stay secret."""

import logging
import uuid

import pandas as pd
import pytest
import sqlalchemy as sa

from airflow_provider_hazy.config import (
    DatabaseReadTableConfig,
    DatabaseWriteTableConfig,
    PathReadTableConfig,
    PathWriteTableConfig,
    SecretDataSource,
)
from airflow_provider_hazy.hooks import HazyS3Hook, HazySqlHook, airflow_source_resolver
from airflow_provider_hazy.io.locations import open_writer, read_table
from airflow_provider_hazy.io.sources import DataSourceError, DataSources

PASSWORD = "Air-flow-S3cret/pw"
FRAME = pd.DataFrame({"id": [1, 2, 3], "name": ["a", None, "ç"]})


def postgres_uri(url: sa.URL, password: str = PASSWORD) -> str:
    """An Airflow connection URI for the test server, with a password (the server trusts loopback)."""
    return url.set(drivername="postgresql", password=password).render_as_string(hide_password=False)


def unique(prefix: str = "hz") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


# -- HazySqlHook ------------------------------------------------------------------------------------


def test_a_postgres_connection_gives_a_working_engine(airflow_connection, postgres_url):
    airflow_connection("warehouse", postgres_uri(postgres_url))
    hook = HazySqlHook("warehouse")
    url = hook.get_url()
    assert url.drivername == "postgresql+psycopg2" and url.password == PASSWORD
    with hook.get_engine().connect() as connection:
        assert connection.execute(sa.select(sa.literal(1))).scalar() == 1
    assert hook.get_engine() is hook.get_engine()
    assert hook.test_connection() == (True, "Connection successfully tested")


def test_a_mysql_connection_uses_an_installed_driver(airflow_connection, mariadb_url):
    uri = mariadb_url.set(drivername="mysql").render_as_string(hide_password=False) + "?charset=utf8mb4"
    airflow_connection("mart", uri)
    hook = HazySqlHook("mart")
    assert hook.get_url().drivername == "mysql+pymysql"
    assert hook.get_url().query == {"charset": "utf8mb4"}
    with hook.get_engine().connect() as connection:
        assert connection.execute(sa.select(sa.literal(1))).scalar() == 1


def test_a_sqlite_connection_takes_its_path_from_the_host(airflow_connection, tmp_path):
    path = tmp_path / "local.db"
    airflow_connection("local", {"conn_type": "sqlite", "host": str(path)})
    engine = HazySqlHook("local").get_engine()
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE t (a INTEGER)"))
    assert path.exists()


def test_extra_sqlalchemy_url_overrides_and_takes_the_password_field(airflow_connection, postgres_url):
    override = postgres_url.set(password=None).render_as_string()
    airflow_connection(
        "custom",
        {"conn_type": "hazy_sql", "host": "ignored", "password": PASSWORD, "extra": {"sqlalchemy_url": override}},
    )
    url = HazySqlHook("custom").get_url()
    assert (url.host, url.password) == (postgres_url.host, PASSWORD)
    assert HazySqlHook("custom").test_connection()[0]


@pytest.mark.parametrize(
    ("connection", "expected"),
    [
        (
            {
                "conn_type": "mssql",
                "host": "sql.example.com",
                "port": 1433,
                "login": "sa",
                "password": "x",
                "schema": "db",
            },
            "mssql+pymssql://sa:***@sql.example.com:1433/db",
        ),
        (
            {
                "conn_type": "oracle",
                "host": "ora",
                "port": 1521,
                "login": "u",
                "password": "x",
                "extra": {"service_name": "ORCL"},
            },
            "oracle+oracledb://u:***@ora:1521?service_name=ORCL",
        ),
        (
            {
                "conn_type": "snowflake",
                "login": "u",
                "password": "x",
                "schema": "PUBLIC",
                "extra": {"account": "acme", "region": "eu-west-1", "database": "DB", "warehouse": "WH", "role": "R"},
            },
            "snowflake://u:***@acme.eu-west-1/DB/PUBLIC?role=R&warehouse=WH",
        ),
        (
            {
                "conn_type": "postgres",
                "host": "pg",
                "login": "u",
                "password": "x",
                "schema": "db",
                "extra": {"sslmode": "require", "cursor": "dictcursor"},
            },
            "postgresql+psycopg2://u:***@pg/db?sslmode=require",
        ),
        (
            {"conn_type": "hazy_sql", "host": "h", "login": "u", "extra": {"sqlalchemy_scheme": "trino"}},
            "trino://u@h",
        ),
    ],
)
def test_connection_types_map_to_dialects(airflow_connection, connection, expected):
    airflow_connection("mapped", connection)
    assert str(HazySqlHook("mapped").get_url()) == expected


def test_a_type_without_a_dialect_is_refused_by_name(airflow_connection):
    airflow_connection("odd", {"conn_type": "http", "host": "example.com"})
    with pytest.raises(ValueError, match="connection 'odd': connection type 'http' has no SQLAlchemy dialect"):
        HazySqlHook("odd").get_url()


# -- HazyS3Hook -------------------------------------------------------------------------------------


def aws_connection(s3_endpoint: str) -> dict:
    return {
        "conn_type": "aws",
        "login": "AKIDAIRFLOW",
        "password": PASSWORD,
        "extra": {"region_name": "eu-west-1", "endpoint_url": s3_endpoint},
    }


def test_an_aws_connection_gives_a_client_for_its_endpoint(airflow_connection, s3_endpoint):
    airflow_connection("lake", aws_connection(s3_endpoint))
    client = HazyS3Hook("lake").get_client()
    assert client.meta.endpoint_url == s3_endpoint and client.meta.region_name == "eu-west-1"
    credentials = client._request_signer._credentials
    assert (credentials.access_key, credentials.secret_key) == ("AKIDAIRFLOW", PASSWORD)
    bucket = unique("bucket").replace("_", "-")
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert bucket in [b["Name"] for b in client.list_buckets()["Buckets"]]
    assert HazyS3Hook("lake").test_connection() == (True, "Connection successfully tested")


def test_the_amazon_providers_service_config_endpoint_is_honoured(airflow_connection, s3_endpoint):
    airflow_connection(
        "lake2", {"conn_type": "aws", "extra": {"service_config": {"s3": {"endpoint_url": s3_endpoint}}}}
    )
    assert HazyS3Hook("lake2").get_client().meta.endpoint_url == s3_endpoint


# -- the Airflow resolver ---------------------------------------------------------------------------


def test_sources_resolve_through_airflow_connections(airflow_connection, postgres_url, s3_endpoint):
    airflow_connection("warehouse_conn", postgres_uri(postgres_url))
    airflow_connection("lake", aws_connection(s3_endpoint))
    sources = DataSources(
        [SecretDataSource(id="warehouse", conn_id="warehouse_conn"), SecretDataSource(id="lake")],
        resolver=airflow_source_resolver,
    )
    table = unique()
    bucket = unique("bucket").replace("_", "-")
    HazyS3Hook("lake").get_client().create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    try:
        with open_writer("t", DatabaseWriteTableConfig(source_id="warehouse", table_name=table), sources=sources) as w:
            w.write_batch(FRAME)
        back = read_table("t", DatabaseReadTableConfig(source_id="warehouse", table_name=table), sources=sources)
        path = f"s3://{bucket}/t.parquet"
        with open_writer("t", PathWriteTableConfig(path=path, source_id="lake"), sources=sources) as w:
            w.write_batch(back)
        assert read_table("t", PathReadTableConfig(path=path, source_id="lake"), sources=sources)["id"].tolist() == [
            1,
            2,
            3,
        ]
    finally:
        sa.Table(table, sa.MetaData()).drop(sources.engine("warehouse"), checkfirst=True)
        sources.dispose()


def test_a_missing_connection_is_reported_by_source_id():
    with pytest.raises(DataSourceError, match="data source 'nowhere': cannot resolve: .*nowhere"):
        DataSources([SecretDataSource(id="nowhere")], resolver=airflow_source_resolver).url("nowhere")


# -- secrets ----------------------------------------------------------------------------------------


def test_passwords_never_reach_messages_or_logs(airflow_connection, caplog, postgres_url, s3_endpoint):
    caplog.set_level(logging.DEBUG)
    airflow_connection("good", postgres_uri(postgres_url))
    airflow_connection("closed", postgres_uri(postgres_url.set(port=1)))
    airflow_connection(
        "nodriver", {"conn_type": "hazy_sql", "password": PASSWORD, "extra": {"sqlalchemy_scheme": "nosuchdb"}}
    )
    airflow_connection("lake", aws_connection(s3_endpoint))
    messages = []

    def attempt(call):
        try:
            result = call()
        except Exception as error:  # noqa: BLE001 - collecting every message
            while error is not None:
                messages.append(f"{type(error).__name__}: {error} {error!r}")
                error = error.__cause__ or error.__context__
        else:
            messages.append(repr(result))

    attempt(lambda: HazySqlHook("good").get_engine())
    attempt(lambda: HazySqlHook("closed").test_connection())
    attempt(lambda: HazySqlHook("nodriver").get_engine())
    attempt(lambda: HazySqlHook("good").get_url())
    attempt(lambda: str(HazySqlHook("good").get_url()))
    attempt(lambda: HazyS3Hook("lake").get_client())
    sources = DataSources(
        [SecretDataSource(id="closed"), SecretDataSource(id="good")], resolver=airflow_source_resolver
    )
    attempt(lambda: read_table("t", DatabaseReadTableConfig(source_id="closed", table_name="t"), sources=sources))
    attempt(
        lambda: read_table("t", DatabaseReadTableConfig(source_id="good", table_name="no_such_table"), sources=sources)
    )
    attempt(lambda: repr(open_writer("t", DatabaseWriteTableConfig(source_id="good", table_name="t"), sources=sources)))
    sources.dispose()
    assert any("Connection refused" in m or "failed" in m for m in messages)
    for text in messages + [record.getMessage() for record in caplog.records] + [caplog.text]:
        assert PASSWORD not in text
        assert "S3cret" not in text


# -- registration -----------------------------------------------------------------------------------


def test_the_provider_registers_both_hooks_with_their_connection_types():
    import importlib

    from airflow_provider_hazy import get_provider_info

    entries = {entry["connection-type"]: entry for entry in get_provider_info()["connection-types"]}
    assert set(entries) == {"hazy_sql", "hazy_s3"}
    for connection_type, entry in entries.items():
        module, _, name = entry["hook-class-name"].rpartition(".")
        hook_class = getattr(importlib.import_module(module), name)
        assert hook_class.conn_type == connection_type
        assert hook_class.hook_name == entry["hook-name"]
    assert entries["hazy_sql"]["conn-fields"]["sqlalchemy_url"]["schema"]["format"] == "password"
