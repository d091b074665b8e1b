"""Registry fixtures, shared by tests/registry and tests/plugins: a fresh PostgreSQL schema per test (its URL
sets the search_path, so other processes can open the same registry), two real models of the sample bank at
two epsilons, a moto S3 server."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Dict, Iterator

import pytest
import sqlalchemy as sa
from service_checks import POSTGRES_URL, server_engine, service_unavailable

from airflow_provider_hazy import api, sample_data

EPSILONS = (0.5, 2.0)


@pytest.fixture
def registry_url() -> Iterator[str]:
    """The URL of a fresh PostgreSQL schema (dropped afterwards); the registry creates its tables there."""
    engine = server_engine(POSTGRES_URL, "PostgreSQL")
    schema = f"hzreg_{uuid.uuid4().hex[:10]}"
    with engine.begin() as connection:
        connection.execute(sa.schema.CreateSchema(schema))
    url = sa.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with engine.begin() as connection:
        connection.execute(sa.schema.DropSchema(schema, cascade=True))
    engine.dispose()


@pytest.fixture(scope="session")
def sample_models(tmp_path_factory) -> Dict[float, Path]:
    """Two real models of the sample bank's customers and accounts, at epsilon 0.5 and 2.0."""
    folder = tmp_path_factory.mktemp("registry-models")
    previous = os.environ.get("HAZY_CONN_SOURCE")
    os.environ["HAZY_CONN_SOURCE"] = f"sqlite:///{sample_data.sample_database()}"
    try:
        models = {}
        for epsilon in EPSILONS:
            config = sample_data.training_config(
                ["branches", "customers", "accounts"],
                model_output=str(folder / f"bank_{epsilon}.hmf"),
                epsilon=epsilon,
                random_state=7,
            )
            models[epsilon] = api.train(config)
        return models
    finally:
        if previous is None:
            os.environ.pop("HAZY_CONN_SOURCE", None)
        else:
            os.environ["HAZY_CONN_SOURCE"] = previous


@pytest.fixture
def registry(registry_url, tmp_path):
    from airflow_provider_hazy.registry import Registry

    opened = Registry(registry_url, tmp_path / "store")
    yield opened
    opened.close()


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


@pytest.fixture
def s3_store_client(s3_endpoint):
    """A boto3 client of the moto server and a fresh bucket name (created)."""
    from airflow_provider_hazy.io.s3 import make_s3_client

    client = make_s3_client(
        endpoint_url=s3_endpoint, access_key="AKIDHAZYTEST", secret_key="secret", region_name="eu-west-1"
    )
    bucket = f"hzreg-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return client, bucket
