"""api.train / api.generate through the io layer: database tables and S3 objects named by a config.

The data sources are `SecretDataSource`s resolved from `HAZY_CONN_<ID>`; the PostgreSQL source logs in as
a role with a password created for the test, and no model file or generation state may hold it.
"""

from __future__ import annotations

import json
import uuid
import zipfile
from pathlib import Path
from typing import Iterator, Tuple

import pandas as pd
import pytest
import sqlalchemy as sa
from service_checks import POSTGRES_URL

from airflow_provider_hazy import api
from airflow_provider_hazy.cli import main as hazy_main
from airflow_provider_hazy.config import GenerationConfig, TrainingConfig
from airflow_provider_hazy.io.sql import engine_from_url

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCHEMA = {
    "tables": [
        {
            "name": "customers",
            "type": "tabular",
            "columns": [
                {"name": "customer_id", "type": "id"},
                {"name": "segment", "type": "category"},
                {"name": "region", "type": "category"},
                {"name": "age", "type": "integer"},
                {"name": "income", "type": "float"},
                {"name": "signup_date", "type": "date"},
                {"name": "last_login", "type": "datetime"},
                {"name": "is_active", "type": "bool"},
            ],
        }
    ]
}
COLUMNS = [column["name"] for column in SCHEMA["tables"][0]["columns"]]


def _source_frame() -> pd.DataFrame:
    frame = pd.read_csv(EXAMPLES / "customers.csv", usecols=COLUMNS, nrows=1500)
    frame["signup_date"] = pd.to_datetime(frame["signup_date"]).dt.date
    frame["last_login"] = pd.to_datetime(frame["last_login"])
    return frame


@pytest.fixture
def password_role(postgres_engine) -> Iterator[Tuple[str, str]]:
    """A PostgreSQL login role with a password (and rights on schema public), dropped afterwards."""
    role = f"hazy_{uuid.uuid4().hex[:10]}"
    password = f"pw-{uuid.uuid4().hex}"
    with postgres_engine.begin() as connection:
        connection.execute(sa.text(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'"))
        connection.execute(sa.text(f"GRANT ALL ON SCHEMA public TO {role}"))
    yield role, password
    with postgres_engine.begin() as connection:
        connection.execute(sa.text(f"DROP OWNED BY {role}"))
        connection.execute(sa.text(f"DROP ROLE {role}"))


@pytest.fixture
def pg_source(password_role, monkeypatch) -> Tuple[str, str, sa.Engine]:
    """(source id, password, engine as the role): HAZY_CONN_PG_SRC holds the role's URL."""
    role, password = password_role
    url = sa.make_url(POSTGRES_URL).set(username=role, password=password).render_as_string(hide_password=False)
    monkeypatch.setenv("HAZY_CONN_PG_SRC", url)
    engine = engine_from_url(url)
    yield "pg-src", password, engine
    engine.dispose()


def _training(location, tmp_path: Path, sources, **changes) -> TrainingConfig:
    data = {
        "model_output": str(tmp_path / "model.hmf"),
        "random_state": 7,
        "data_schema": SCHEMA,
        "data_input": [{"name": "customers", "location": location}],
        "data_sources": sources,
        "model_parameters": {"generator": {"generator_type": "priv_bayes", "epsilon": 2.0, "n_bins": 10}},
        **changes,
    }
    return TrainingConfig.model_validate(data)


def _generation(location, tmp_path: Path, sources) -> GenerationConfig:
    return GenerationConfig.model_validate(
        {
            "model": str(tmp_path / "model.hmf"),
            "random_state": 3,
            "generate_params": {"magnitude": 1.0, "batch_magnitude": 0.5},
            "data_output": [{"name": "customers", "location": location}],
            "data_sources": sources,
            "generation_state_path": str(tmp_path / "state.json"),
        }
    )


def _assert_no_secret(tmp_path: Path, secret: str) -> None:
    with zipfile.ZipFile(tmp_path / "model.hmf") as archive:
        for name in archive.namelist():
            assert secret.encode() not in archive.read(name), name
    if (tmp_path / "state.json").exists():
        assert secret not in (tmp_path / "state.json").read_text()


@pytest.mark.slow
def test_train_from_postgres_and_generate_into_postgres(pg_source, tmp_path, caplog, reproducible_noise):
    caplog.set_level("DEBUG")
    source_id, password, engine = pg_source
    source_table, target_table = f"src_{uuid.uuid4().hex[:10]}", f"syn_{uuid.uuid4().hex[:10]}"
    try:
        _source_frame().to_sql(source_table, engine, index=False)
        read = {"source_id": source_id, "table_name": source_table}
        model_path = api.train(_training(read, tmp_path, [{"id": source_id}]), chunk_rows=400)
        chunked = model_path.read_bytes()
        # read in chunks through a server-side cursor or at once: the same model file
        assert api.train(_training(read, tmp_path, [{"id": source_id}]), chunk_rows=10**6).read_bytes() == chunked
        info = api.inspect_model(model_path)
        assert info["tables"]["customers"]["n_rows"] == 1500
        write = {"source_id": source_id, "table_name": target_table, "if_exists": "replace"}
        state = api.generate(_generation(write, tmp_path, [{"id": source_id}]))
        assert state["tables"]["customers"]["rows"] == 1500
        assert state["tables"]["customers"]["output"] == f"source '{source_id}' table '{target_table}'"
        with engine.connect() as connection:
            count = connection.execute(sa.text(f'SELECT count(*) FROM "{target_table}"')).scalar()
        assert count == 1500
        # the table was created with the schema's column types
        types = {c["name"]: str(c["type"]) for c in sa.inspect(engine).get_columns(target_table)}
        assert types["age"] in ("BIGINT", "INTEGER") and types["is_active"] == "BOOLEAN"
        assert types["signup_date"] == "DATE" and types["last_login"].startswith("TIMESTAMP")
        assert "DOUBLE" in types["income"] or "FLOAT" in types["income"] or "REAL" in types["income"]
        _assert_no_secret(tmp_path, password)
        assert "data source 'pg-src'" in caplog.text and password not in caplog.text
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f'DROP TABLE IF EXISTS "{source_table}", "{target_table}"'))


@pytest.mark.slow
def test_train_from_mariadb_and_generate_into_mariadb(mariadb_engine, fresh_table, tmp_path, monkeypatch):
    monkeypatch.setenv("HAZY_CONN_MARIA", mariadb_engine.url.render_as_string(hide_password=False))
    source_table, target_table = fresh_table(mariadb_engine), fresh_table(mariadb_engine)
    _source_frame().to_sql(source_table, mariadb_engine, index=False)
    api.train(_training({"source_id": "maria", "table_name": source_table}, tmp_path, [{"id": "maria"}]))
    write = {"source_id": "maria", "table_name": target_table}
    state = api.generate(_generation(write, tmp_path, [{"id": "maria"}]))
    synthetic = pd.read_sql_table(target_table, mariadb_engine)
    assert len(synthetic) == state["tables"]["customers"]["rows"] == 1500
    assert set(synthetic["segment"]) <= set(_source_frame()["segment"])
    assert synthetic["customer_id"].is_unique


def test_generate_into_sqlite_through_the_cli(tmp_path, monkeypatch, capsys):
    csv = tmp_path / "customers.csv"
    _source_frame().to_csv(csv, index=False)
    database = tmp_path / "target.db"
    monkeypatch.setenv("HAZY_CONN_LITE", f"sqlite:///{database}")
    training = tmp_path / "training.json"
    training.write_text(_training(str(csv), tmp_path, []).model_dump_json(exclude_none=True))
    generation = tmp_path / "generation.json"
    write = {"source_id": "lite", "schema_name": None, "table_name": "synthetic_customers"}
    generation.write_text(_generation(write, tmp_path, [{"id": "lite"}]).model_dump_json(exclude_none=True))
    assert hazy_main(["train", str(training)]) == 0
    assert hazy_main(["generate", str(generation)]) == 0
    engine = engine_from_url(f"sqlite:///{database}")
    try:
        synthetic = pd.read_sql_table("synthetic_customers", engine)
    finally:
        engine.dispose()
    assert len(synthetic) == 1500 and list(synthetic.columns) == COLUMNS
    assert json.loads((tmp_path / "state.json").read_text())["tables"]["customers"]["rows"] == 1500


def test_train_from_s3_and_generate_into_s3(s3_url, s3_client, s3_bucket, s3_credentials, tmp_path, monkeypatch):
    monkeypatch.setenv("HAZY_CONN_LAKE", s3_url)
    buffer = _source_frame().to_csv(index=False).encode()
    s3_client.put_object(Bucket=s3_bucket, Key="in/customers.csv", Body=buffer)
    read = {"path": f"s3://{s3_bucket}/in/customers.csv", "source_id": "lake"}
    api.train(_training(read, tmp_path, [{"id": "lake"}]))
    write = {"path": f"s3://{s3_bucket}/out/customers.parquet", "source_id": "lake", "if_exists": "replace"}
    state = api.generate(_generation(write, tmp_path, [{"id": "lake"}]))
    body = s3_client.get_object(Bucket=s3_bucket, Key="out/customers.parquet")["Body"].read()
    synthetic = pd.read_parquet(__import__("io").BytesIO(body))
    assert len(synthetic) == state["tables"]["customers"]["rows"] == 1500
    _assert_no_secret(tmp_path, s3_credentials[1])


def test_unresolvable_source_names_the_source(tmp_path, monkeypatch):
    monkeypatch.delenv("HAZY_CONN_NOWHERE", raising=False)
    config = _training({"source_id": "nowhere", "table_name": "t"}, tmp_path, [{"id": "nowhere"}])
    with pytest.raises(LookupError, match="nowhere.*HAZY_CONN_NOWHERE"):
        api.train(config)
