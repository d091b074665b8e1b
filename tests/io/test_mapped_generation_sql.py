"""Mapped generation of the multi-table sample bank into PostgreSQL and MariaDB, where the created tables
enforce their foreign keys: the prepare step creates the run's staging tables empty (parents first), a batch run twice
(a retry after its rows were committed) deletes its own rows children first and writes them again, and the
target ends, once the publish step has renamed the run's staging tables into place, with exactly the rows of
one unmapped run with the same random_state."""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from airflow_provider_hazy import api, sample_data

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bank_model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bank")
    config = sample_data.training_config(model_output=str(folder / "bank.hmf"))
    config["data_sources"] = [{"id": "source", "connection_url": f"sqlite:///{sample_data.sample_database(folder)}"}]
    return api.train(config)


def _generation(model: Path, url: str, schema: str) -> dict:
    config = sample_data.generation_config(model=str(model), batch_magnitude=0.25)
    config["data_sources"] = [{"id": "target", "connection_url": url}]
    for item in config["data_output"]:
        item["location"]["schema_name"] = schema
    return config


def _schemas(engine: sa.Engine, dialect: str, count: int):
    names = [f"hzmap_{uuid.uuid4().hex[:12]}" for _ in range(count)]
    with engine.begin() as connection:
        for name in names:
            if dialect == "postgresql":
                connection.execute(sa.schema.CreateSchema(name))
            else:
                connection.execute(sa.text(f"CREATE DATABASE `{name}`"))
    return names


def _drop(engine: sa.Engine, dialect: str, names) -> None:
    with engine.begin() as connection:
        for name in names:
            if dialect == "postgresql":
                connection.execute(sa.schema.DropSchema(name, cascade=True))
            else:
                connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))


@pytest.mark.parametrize("database", ["postgres", "mariadb"])
def test_a_retried_batch_replaces_its_rows_under_enforced_foreign_keys(database, bank_model, request):
    engine = request.getfixturevalue(f"{database}_engine")
    url = engine.url.render_as_string(hide_password=False)
    dialect = engine.dialect.name
    mapped_schema, unmapped_schema = _schemas(engine, dialect, 2)
    try:
        mapped = _generation(bank_model, url, mapped_schema)
        prepared = api.generate(mapped, batch_indices=[])
        run_id = prepared["run_id"]
        staging = {name: f"hzm_{run_id}_{name}" for name in sample_data.TABLES}
        assert (
            {name: len(pd.read_sql_table(staging[name], engine, schema=mapped_schema)) for name in sample_data.TABLES}
            == {
                "branches": len(sample_data.sample_frames()["branches"]),
                "customers": 0,
                "accounts": 0,
                "transactions": 0,
            }
            == {name: entry["rows"] for name, entry in prepared["tables"].items()}
        )
        referred = {
            fk["referred_table"]
            for fk in sa.inspect(engine).get_foreign_keys(staging["accounts"], schema=mapped_schema)
        }
        assert referred == {staging["customers"], staging["branches"]}  # the database enforces these keys

        assert api.list_batches(mapped) == [0, 1, 2, 3]
        for index in (0, 1, 1, 2, 3, 3):  # batches 1 and 3 run twice, as retries after a commit would
            api.generate(mapped, batch_indices=[index], run_id=run_id)
        assert set(sa.inspect(engine).get_table_names(schema=mapped_schema)) == set(staging.values())
        assert api.publish(mapped, run_id)["published"] == {name: "created" for name in sample_data.TABLES}
        assert set(sa.inspect(engine).get_table_names(schema=mapped_schema)) == set(sample_data.TABLES)
        referred = {
            fk["referred_table"] for fk in sa.inspect(engine).get_foreign_keys("accounts", schema=mapped_schema)
        }
        assert referred == {"customers", "branches"}  # the published children reference the published parents
        api.generate(_generation(bank_model, url, unmapped_schema))
        for name in sample_data.TABLES:
            key = sample_data.training_config()["data_schema"]["tables"][sample_data.TABLES.index(name)]["primary_key"]
            got = pd.read_sql_table(name, engine, schema=mapped_schema).sort_values(key).reset_index(drop=True)
            want = pd.read_sql_table(name, engine, schema=unmapped_schema).sort_values(key).reset_index(drop=True)
            assert len(got) > 0, name
            pd.testing.assert_frame_equal(got, want, obj=name)
        report = api.validate(mapped)
        assert report["passed"] is True, report["failures"]
    finally:
        _drop(engine, dialect, [mapped_schema, unmapped_schema])
