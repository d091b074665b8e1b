"""A whole synthetic database written in batches into real servers: PostgreSQL -> MariaDB, files -> PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from multitable_data import bank_schema, bank_tables, dangling_keys, normalise_keys, write_csvs

from airflow_provider_hazy import api

pytestmark = pytest.mark.slow


def _train(tmp_path: Path, data_input: list, data_sources: list) -> Path:
    return api.train(
        {
            "data_schema": bank_schema(),
            "data_input": data_input,
            "data_sources": data_sources,
            "model_output": str(tmp_path / "bank.hmf"),
            "random_state": 3,
            "model_parameters": {"generator": {"epsilon": 100.0, "n_parents": 2}},
        }
    )


def _generate_into(model: Path, engine, fresh_table, source_id: str) -> dict:
    names = {table["name"]: fresh_table(engine, prefix=f"hzm_{table['name'][:4]}") for table in bank_schema()["tables"]}
    state = api.generate(
        {
            "model": str(model),
            "data_sources": [{"id": source_id}],
            "data_output": [
                {"name": name, "location": {"source_id": source_id, "table_name": table}}
                for name, table in names.items()
            ],
            "random_state": 1,
            "generate_params": {"batch_magnitude": 0.34},
        }
    )
    assert state["n_batches"] == 3
    for name, table_state in state["tables"].items():
        assert [b["status"] for b in table_state["batches"]] == ["written"] * (1 if name == "regions" else 3)
    with engine.connect() as connection:
        return {name: normalise_keys(pd.read_sql_table(table, connection)) for name, table in names.items()}


def _check_database(frames: dict, source: dict) -> None:
    assert set(frames) == set(source)
    assert all(len(frames[name]) > 0 for name in frames)
    assert set(dangling_keys(frames, bank_schema()).values()) == {0}
    assert not frames["transactions"].duplicated(subset=["account_id", "product_id"]).any()
    assert frames["accounts"]["account_id"].is_unique and frames["customers"]["customer_id"].is_unique


def test_postgres_database_is_synthesised_into_mariadb_in_batches(
    postgres_engine, mariadb_engine, fresh_table, tmp_path, monkeypatch
):
    source = bank_tables(n_customers=200)
    tables = {name: fresh_table(postgres_engine, prefix=f"hzs_{name[:4]}") for name in source}
    for name, frame in source.items():
        frame.to_sql(tables[name], postgres_engine, index=False)
    monkeypatch.setenv("HAZY_CONN_SRC", postgres_engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("HAZY_CONN_DST", mariadb_engine.url.render_as_string(hide_password=False))
    model = _train(
        tmp_path,
        [{"name": name, "location": {"source_id": "src", "table_name": table}} for name, table in tables.items()],
        [{"id": "src"}],
    )
    _check_database(_generate_into(model, mariadb_engine, fresh_table, "dst"), source)


def test_file_database_is_synthesised_into_postgres_in_batches(postgres_engine, fresh_table, tmp_path, monkeypatch):
    source = bank_tables(n_customers=200)
    paths = write_csvs(source, tmp_path / "source")
    monkeypatch.setenv("HAZY_CONN_DST", postgres_engine.url.render_as_string(hide_password=False))
    model = _train(tmp_path, [{"name": name, "location": path} for name, path in paths.items()], [])
    _check_database(_generate_into(model, postgres_engine, fresh_table, "dst"), source)
