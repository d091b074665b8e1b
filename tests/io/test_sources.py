"""Data sources resolve to URLs through an injectable resolver; URLs are masked in every message."""

import subprocess
import sys

import pytest
import sqlalchemy as sa

from airflow_provider_hazy.config import SecretDataSource, SecretDataSourceIO
from airflow_provider_hazy.io.sources import (
    DataSourceError,
    DataSources,
    env_resolver,
    mask_url,
    resolve_source_url,
    scrub,
    url_secrets,
)

SECRET = "p@ss:w/rd-Très-secret"
URL = "postgresql://alice:p%40ss%3Aw%2Frd-Tr%C3%A8s-secret@db.example.com:5432/prod"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://alice:hunter22@db:5432/prod", "postgresql://alice:***@db:5432/prod"),
        (
            "mysql+pymysql://root:pw@127.0.0.1/test?charset=utf8mb4",
            "mysql+pymysql://root:***@127.0.0.1/test?charset=utf8mb4",
        ),
        ("http://AKID:se/cret@127.0.0.1:9000?region_name=eu", "http://AKID:***@127.0.0.1:9000?region_name=eu"),
        ("http://:only-secret@host", "http://:***@host"),
        ("s3://AKID:abc%2Fdef@/?region_name=x&session_token=tok123", "s3://AKID:***@/?region_name=x&session_token=***"),
        ("snowflake://u:p@acct/db?password=again", "snowflake://u:***@acct/db?password=***"),
        ("postgresql://alice@db/prod", "postgresql://alice@db/prod"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
        ("not a url at all", "not a url at all"),
    ],
)
def test_mask_url_hides_passwords_and_secret_parameters(url, masked):
    assert mask_url(url) == masked


def test_mask_url_accepts_a_sqlalchemy_url():
    assert mask_url(sa.make_url(URL)) == "postgresql://alice:***@db.example.com:5432/prod"


def test_mask_url_masks_urls_inside_text():
    text = "could not connect to postgresql://alice:hunter22@db/prod: refused"
    assert mask_url(text) == "could not connect to postgresql://alice:***@db/prod: refused"


def test_scrub_removes_the_password_in_every_spelling():
    secrets = url_secrets(URL)
    text = f"failed: password {SECRET!s} or {URL}"
    cleaned = scrub(text, secrets)
    assert SECRET not in cleaned
    assert "p%40ss" not in cleaned


def test_env_resolver_reads_hazy_conn_id(monkeypatch):
    monkeypatch.setenv("HAZY_CONN_WAREHOUSE_EU", URL)
    assert env_resolver(SecretDataSource(id="warehouse-eu")) == URL


def test_env_resolver_error_names_the_source_and_variable(monkeypatch):
    monkeypatch.delenv("HAZY_CONN_MISSING", raising=False)
    with pytest.raises(DataSourceError, match=r"data source 'missing': environment variable HAZY_CONN_MISSING"):
        env_resolver(SecretDataSource(id="missing"))


def test_an_inline_url_wins_over_the_resolver():
    source = SecretDataSourceIO(id="inline", connection_url=URL)

    def resolver(_source):
        raise AssertionError("not called")

    assert resolve_source_url(source, resolver) == URL


def test_an_injected_resolver_receives_the_source():
    seen = []

    def resolver(source):
        seen.append(source.connection_id)
        return "sqlite://"

    assert resolve_source_url(SecretDataSource(id="a", conn_id="airflow_conn"), resolver) == "sqlite://"
    assert seen == ["airflow_conn"]


def test_a_failing_resolver_is_reported_by_source_id_without_the_url():
    def resolver(_source):
        raise RuntimeError(f"cannot reach {URL}")

    with pytest.raises(DataSourceError) as caught:
        resolve_source_url(SecretDataSource(id="prod"), resolver)
    message = str(caught.value)
    assert message.startswith("data source 'prod': cannot resolve")
    assert "p%40ss" not in message and SECRET not in message


def test_an_undeclared_source_id_resolves_from_its_variable(monkeypatch):
    monkeypatch.setenv("HAZY_CONN_LOCAL", "sqlite://")
    sources = DataSources()
    assert sources.url("local") == "sqlite://"


def test_engines_are_built_once_per_source(monkeypatch):
    monkeypatch.setenv("HAZY_CONN_LOCAL", "sqlite://")
    with DataSources([SecretDataSource(id="local")]) as sources:
        assert sources.engine("local") is sources.engine("local")


def test_an_unparseable_url_is_reported_without_the_url(monkeypatch):
    monkeypatch.setenv("HAZY_CONN_BROKEN", "postgresql://alice:hunter22-secret@db:notaport/prod")
    with pytest.raises(DataSourceError) as caught:
        DataSources().engine("broken")
    assert "data source 'broken'" in str(caught.value)
    assert "hunter22-secret" not in str(caught.value)


def test_the_io_layer_does_not_import_airflow():
    code = (
        "import sys\n"
        "import airflow_provider_hazy.io.locations, airflow_provider_hazy.io.sql, airflow_provider_hazy.io.s3\n"
        "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "[]"
