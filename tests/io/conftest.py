"""Service fixtures for the connector tests: PostgreSQL, MariaDB, SQLite and an S3 (moto) server on loopback.

Every database test gets fresh, uniquely named tables (`fresh_table`) dropped afterwards. A service that
cannot be reached skips its tests with the reason, except on CI (`CI=true`), where it fails them.
The servers can be pointed elsewhere with HAZY_TEST_POSTGRES_URL and HAZY_TEST_MARIADB_URL.
"""

from __future__ import annotations

import uuid
from typing import Callable, Iterator, List, Optional, Tuple

import pytest
import sqlalchemy as sa
from service_checks import MARIADB_URL, POSTGRES_URL, server_engine, service_unavailable

from airflow_provider_hazy.io.sql import engine_from_url

DATABASES = ["postgres", "mariadb", "sqlite"]


def unique_name(prefix: str = "hz") -> str:
    """A fresh table or schema name."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def _server_engine(url: str, label: str) -> Iterator[sa.Engine]:
    engine = server_engine(url, label)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[sa.Engine]:
    yield from _server_engine(POSTGRES_URL, "PostgreSQL")


@pytest.fixture(scope="session")
def mariadb_engine() -> Iterator[sa.Engine]:
    yield from _server_engine(MARIADB_URL, "MariaDB")


@pytest.fixture
def sqlite_engine(tmp_path) -> Iterator[sa.Engine]:
    engine = engine_from_url(f"sqlite:///{tmp_path / 'test.db'}")
    yield engine
    engine.dispose()


@pytest.fixture(params=DATABASES)
def engine(request) -> sa.Engine:
    """Each database in turn."""
    return request.getfixturevalue(f"{request.param}_engine")


@pytest.fixture
def fresh_table(request) -> Iterator[Callable[..., str]]:
    """`fresh_table(engine, schema_name=None, prefix='hz')` -> a new table name, dropped after the test."""
    created: List[Tuple[sa.Engine, Optional[str], str]] = []

    def make(engine: sa.Engine, schema_name: Optional[str] = None, prefix: str = "hz") -> str:
        name = unique_name(prefix)
        created.append((engine, schema_name, name))
        return name

    yield make
    for engine, schema_name, name in reversed(created):  # children (created later) first
        sa.Table(name, sa.MetaData(), schema=schema_name).drop(engine, checkfirst=True)


@pytest.fixture
def postgres_schema(postgres_engine) -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped (with its tables) after the test."""
    name = unique_name("hzs")
    with postgres_engine.begin() as connection:
        connection.execute(sa.schema.CreateSchema(name))
    yield name
    with postgres_engine.begin() as connection:
        connection.execute(sa.schema.DropSchema(name, cascade=True))


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 (a free port); yields its endpoint URL."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as error:
        service_unavailable(f"moto[server] is not installed: {error}")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


S3_ACCESS_KEY = "AKIDHAZYTEST"
S3_SECRET_KEY = "hazy-test-secret-key"


@pytest.fixture
def s3_credentials() -> Tuple[str, str]:
    """The access key id and secret in `s3_url`."""
    return S3_ACCESS_KEY, S3_SECRET_KEY


@pytest.fixture
def s3_url(s3_endpoint) -> str:
    """The data-source URL of the moto server, with credentials in the userinfo."""
    return s3_endpoint.replace("http://", f"http://{S3_ACCESS_KEY}:{S3_SECRET_KEY}@") + "?region_name=eu-west-1"


@pytest.fixture
def s3_client(s3_url):
    from airflow_provider_hazy.io.s3 import s3_client_from_url

    return s3_client_from_url(s3_url)


@pytest.fixture
def s3_bucket(s3_client) -> Iterator[str]:
    """A fresh bucket, emptied and deleted after the test."""
    name = unique_name("hazy").replace("_", "-")
    s3_client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    yield name
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=name):
        for item in page.get("Contents", []):
            s3_client.delete_object(Bucket=name, Key=item["Key"])
    for upload in s3_client.list_multipart_uploads(Bucket=name).get("Uploads", []):
        s3_client.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
    s3_client.delete_bucket(Bucket=name)
