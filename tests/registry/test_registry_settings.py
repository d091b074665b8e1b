"""Where the registry lives without arguments, the S3 store's credentials from `hazy_registry_store`, the SQLite
default enforcing the same rules, publishing after training, and a generation config naming a generator."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from airflow_provider_hazy import api
from airflow_provider_hazy.config import GenerationConfig
from airflow_provider_hazy.registry import NotFound, Registry
from airflow_provider_hazy.registry.publish import register_model


def test_default_registry_is_a_sqlite_file_under_airflow_home_with_the_same_rules(monkeypatch, tmp_path, sample_models):
    for name in ("HAZY_CONN_HAZY_REGISTRY", "AIRFLOW_CONN_HAZY_REGISTRY", "HAZY_REGISTRY_STORE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    with Registry() as registry:
        assert registry.engine.url.database == str(tmp_path / "airflow" / "hazy_registry" / "registry.sqlite")
        registry.create_generator("bank")
        v1 = registry.upload("bank", sample_models[0.5]).version
        v2 = registry.upload("bank", sample_models[2.0]).version
        registry.activate("bank", v1)
        registry.activate("bank", v2)
        assert [v.status for v in registry.versions("bank")] == ["active", "draft"]
        with pytest.raises(sa.exc.IntegrityError):
            with registry.engine.begin() as connection:
                connection.execute(sa.text("UPDATE hazy_versions SET status = 'active'"))
        stored = registry.store.addresses()
    assert {path.stem for path in (tmp_path / "airflow" / "hazy_registry" / "models").glob("*/*.hmf")} == stored


def test_an_s3_store_takes_its_credentials_from_the_hazy_registry_store_source(
    monkeypatch, registry_url, sample_models, s3_store_client, s3_endpoint
):
    client, bucket = s3_store_client
    url = s3_endpoint.replace("http://", "http://AKIDHAZYTEST:secret@") + "?region_name=eu-west-1"
    monkeypatch.setenv("HAZY_CONN_HAZY_REGISTRY_STORE", url)
    monkeypatch.setenv("HAZY_CONN_HAZY_REGISTRY", registry_url)
    monkeypatch.setenv("HAZY_REGISTRY_STORE", f"s3://{bucket}/registry")
    with Registry() as registry:
        model = registry.upload(registry.create_generator("bank").name, sample_models[2.0])
        assert registry.store.location == f"s3://{bucket}/registry/"
    body = client.get_object(Bucket=bucket, Key=f"registry/{model.sha256[:2]}/{model.sha256}.hmf")["Body"].read()
    assert body == sample_models[2.0].read_bytes()


def test_register_model_activates_only_when_the_scores_meet_the_thresholds(registry, sample_models):
    kept = register_model(sample_models[0.5], "bank", activate_when={"histogram_similarity": 1.01}, registry=registry)
    assert kept["activated"] is False and "do not meet" in kept["reason"]
    assert registry.generator("bank").active_version is None
    score = kept["scores"]["histogram_similarity"] - 0.01
    promoted = register_model(
        sample_models[0.5], "bank", activate_when={"histogram_similarity": score}, registry=registry
    )
    assert promoted["activated"] is True and promoted["version"] == 2
    assert registry.generator("bank").active_version == 2
    left = register_model(sample_models[2.0], "bank", registry=registry)
    assert left["activated"] is False and registry.generator("bank").active_version == 2


def test_a_generation_config_names_a_model_or_a_generator_not_both():
    with pytest.raises(ValidationError, match="set one"):
        GenerationConfig(model="m.hmf", generator="bank", data_output=[])
    config = GenerationConfig(
        generator={"name": "bank", "epsilon": 2, "min_scores": {"histogram_similarity": 0.8}}, data_output=[]
    )
    assert config.generator.epsilon == 2.0


def test_generation_from_a_generator_without_an_active_version_fails_with_the_reason(
    monkeypatch, registry_url, tmp_path, registry
):
    registry.create_generator("bank")
    monkeypatch.setenv("HAZY_CONN_HAZY_REGISTRY", registry_url)
    monkeypatch.setenv("HAZY_REGISTRY_STORE", str(registry.store.location))
    with pytest.raises(NotFound, match="generator 'bank' has no active version"):
        api.list_batches({"generator": "bank", "data_output": []})


@pytest.mark.parametrize(
    "value, expected",
    [
        ("postgres://u:p@db:5432/hub", "postgresql+psycopg2://u:p@db:5432/hub"),
        ('{"conn_type": "postgres", "host": "db", "login": "u", "password": "p", "schema": "hub", "port": 5432}',
         "postgresql+psycopg2://u:p@db:5432/hub"),
        ('{"conn_type": "sqlite", "host": "/data/registry.sqlite"}', "sqlite:////data/registry.sqlite"),
        ('{"conn_type": "generic", "extra": {"sqlalchemy_url": "mysql+pymysql://u@db/hub"}}', "mysql+pymysql://u@db/hub"),
    ],
)
def test_the_cli_reads_airflows_hazy_registry_connection_from_the_environment(monkeypatch, value, expected):
    from airflow_provider_hazy.registry.settings import database_url

    monkeypatch.delenv("HAZY_CONN_HAZY_REGISTRY", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_HAZY_REGISTRY", value)
    assert database_url() == expected


def test_epsilon_and_delta_are_totalled_from_the_ledger_entries():
    from airflow_provider_hazy.registry.introspect import ledger_totals

    entries = [
        {"epsilon": 0.25, "mechanism": "gaussian", "delta": 1e-6},
        {"epsilon": 0.25, "mechanism": "laplace"},
        {"epsilon": 0.5, "mechanism": "laplace", "detail": {"delta": 2e-6}},
    ]
    assert ledger_totals({"ledger": {"entries": entries}}) == {"epsilon": 1.0, "delta": 3e-6}
    assert ledger_totals({"ledger": {"entries": entries, "total_delta": 5e-6}})["delta"] == 5e-6
    assert ledger_totals({"total_epsilon": 2.0}) == {"epsilon": 2.0, "delta": 0.0}


@pytest.mark.parametrize(
    "privacy, private, noise",
    [
        ({"noise": "fresh (OS entropy)", "private_noise": True}, True, "fresh (OS entropy)"),
        ({"noise": "reproducible (not private)", "private_noise": False}, False, "reproducible (not private)"),
        ({"ledger": {"noise": "reproducible (not private)"}}, False, "reproducible (not private)"),
        ({}, False, "unrecorded (drawn from random_state)"),
    ],
)
def test_the_summary_says_whether_the_noise_was_private(privacy, private, noise):
    from airflow_provider_hazy.registry.introspect import summarise

    summary = summarise({"synthesiser": "priv_bayes", "privacy": {"total_epsilon": 1.0, **privacy}})
    assert (summary["private_noise"], summary["noise"]) == (private, noise)
