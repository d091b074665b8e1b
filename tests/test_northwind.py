"""Acceptance test of issue 6 on the real Northwind database, through the `hazy` command line.

`hazy schema infer sqlite:///northwind.sqlite` writes the schema; a training config reads every table from
the SQLite source (`HAZY_CONN_NORTHWIND`) and `hazy train` trains it at epsilon 1 and 1000; `hazy generate`
writes every table into a fresh PostgreSQL schema (`HAZY_CONN_PG`). Checked in PostgreSQL with SQL: every
table present (the empty ones too), every foreign key resolving (anti-joins: `Order Details` -> Orders and
Products, the self-reference `Employees.ReportsTo`, the link table `EmployeeTerritories`), primary keys
unique; every source column modelled or left out with a note saying why (the BLOB columns). A 10% subset
of Orders trains and generates with no dangling key and is the same for the same random_state.
"""

from __future__ import annotations

import contextlib
import io
import uuid
from pathlib import Path
from typing import Dict, Iterator, List

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from service_checks import POSTGRES_URL, northwind_path, server_engine

from airflow_provider_hazy import api
from airflow_provider_hazy.cli import main
from airflow_provider_hazy.config import TrainingConfig
from airflow_provider_hazy.config.schema import DataSchema
from airflow_provider_hazy.core.subsetting import subset_tables
from airflow_provider_hazy.io.sources import DataSources
from airflow_provider_hazy.io.sql import engine_from_url
from airflow_provider_hazy.pipeline.sources import read_source_frames

pytestmark = pytest.mark.slow

EMPTY_TABLES = {"CustomerCustomerDemo", "CustomerDemographics"}
BLOB_COLUMNS = [("Categories", "Picture"), ("Employees", "Photo")]


@pytest.fixture(scope="module")
def northwind() -> Path:
    return northwind_path()


@pytest.fixture(scope="module")
def postgres() -> Iterator[sa.Engine]:
    engine = server_engine(POSTGRES_URL, "PostgreSQL")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def environment(northwind: Path) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HAZY_CONN_NORTHWIND", f"sqlite:///{northwind}")
        patch.setenv("HAZY_CONN_PG", POSTGRES_URL)
        yield


@pytest.fixture(scope="module")
def inferred(northwind: Path, tmp_path_factory, environment) -> Dict[str, object]:
    """`hazy schema infer` on Northwind: the schema file, the schema and the notes it printed."""
    path = tmp_path_factory.mktemp("northwind") / "schema.yaml"
    notes = io.StringIO()
    with contextlib.redirect_stderr(notes):
        assert main(["schema", "infer", f"sqlite:///{northwind}", "-o", str(path)]) == 0
    schema = DataSchema.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    return {"path": path, "schema": schema, "notes": notes.getvalue().splitlines()}


def _training_config(schema_path: Path, model: Path, epsilon: float, **extra) -> Dict[str, object]:
    schema = yaml.safe_load(schema_path.read_text(encoding="utf-8"))
    names = [table["name"] for table in schema["tables"]]
    return {
        "data_schema": schema,
        "data_sources": [{"id": "northwind"}],
        "data_input": [{"name": n, "location": {"source_id": "northwind", "table_name": n}} for n in names],
        "model_output": str(model),
        "model_parameters": {"generator": {"epsilon": epsilon}},
        "evaluation": None,
        "sample_params": None,
        "random_state": 11,
        **extra,
    }


def _train_and_generate(inferred: Dict[str, object], directory: Path, pg_schema: str, epsilon: float, **extra) -> Path:
    """`hazy train` then `hazy generate` into the PostgreSQL schema `pg_schema` (every table)."""
    model = directory / "model.hmf"
    training = directory / "train.yaml"
    training.write_text(yaml.safe_dump(_training_config(inferred["path"], model, epsilon, **extra)), encoding="utf-8")
    assert main(["train", str(training)]) == 0
    names = inferred["schema"].table_names
    generation = {
        "model": str(model),
        "data_sources": [{"id": "pg"}],
        "data_output": [
            {"name": n, "location": {"source_id": "pg", "schema_name": pg_schema, "table_name": n}} for n in names
        ],
        "generation_state_path": str(directory / "state.json"),
        "random_state": 5,
    }
    path = directory / "generate.yaml"
    path.write_text(yaml.safe_dump(generation), encoding="utf-8")
    assert main(["generate", str(path)]) == 0
    return model


@pytest.fixture(scope="module")
def pg_schema(postgres: sa.Engine) -> Iterator[str]:
    """A fresh PostgreSQL schema per generation run, dropped with everything in it afterwards."""
    created: List[str] = []

    def make() -> str:
        name = f"hz_nw_{uuid.uuid4().hex[:10]}"
        with postgres.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{name}"'))
        created.append(name)
        return name

    yield make
    with postgres.begin() as connection:
        for name in created:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _dangling(connection: sa.Connection, pg_schema: str, schema: DataSchema) -> Dict[str, int]:
    """Per foreign key (`child.column -> parent.column`), the non-null child values with no parent row."""
    found = {}
    for table in schema.tables:
        for fk in table.foreign_keys:
            child, parent = f"{_q(pg_schema)}.{_q(table.name)}", f"{_q(pg_schema)}.{_q(fk.ref_table)}"
            sql = (
                f"SELECT COUNT(*) FROM {child} c WHERE c.{_q(fk.name)} IS NOT NULL AND NOT EXISTS "
                f"(SELECT 1 FROM {parent} p WHERE p.{_q(fk.ref_column)} = c.{_q(fk.name)})"
            )
            found[f"{table.name}.{fk.name} -> {fk.ref_table}.{fk.ref_column}"] = connection.execute(
                sa.text(sql)
            ).scalar_one()
    return found


def _duplicate_keys(connection: sa.Connection, pg_schema: str, schema: DataSchema) -> Dict[str, int]:
    found = {}
    for table in schema.tables:
        keys = table.key_columns
        if not keys:
            continue
        columns = ", ".join(_q(k) for k in keys)
        sql = (
            f"SELECT COUNT(*) FROM (SELECT {columns} FROM {_q(pg_schema)}.{_q(table.name)} "
            f"GROUP BY {columns} HAVING COUNT(*) > 1) d"
        )
        found[table.name] = connection.execute(sa.text(sql)).scalar_one()
    return found


def _row_counts(connection: sa.Connection, pg_schema: str, schema: DataSchema) -> Dict[str, int]:
    return {
        t.name: connection.execute(sa.text(f"SELECT COUNT(*) FROM {_q(pg_schema)}.{_q(t.name)}")).scalar_one()
        for t in schema.tables
    }


def test_every_source_column_is_modelled_or_left_out_with_the_reason(inferred, northwind) -> None:
    schema: DataSchema = inferred["schema"]
    notes: List[str] = inferred["notes"]
    engine = engine_from_url(f"sqlite:///{northwind}")
    try:
        inspector = sa.inspect(engine)
        source = {name: [c["name"] for c in inspector.get_columns(name)] for name in inspector.get_table_names()}
    finally:
        engine.dispose()
    assert set(schema.table_names) == set(source) and len(source) == 13
    unexplained = [
        f"{table}.{column}"
        for table, columns in source.items()
        for column in columns
        if column not in {c.name for c in schema.table(table).columns}
        and not any(f"table '{table}', column '{column}': left out (" in note for note in notes)
    ]
    assert unexplained == []
    for table, column in BLOB_COLUMNS:
        assert column not in {c.name for c in schema.table(table).columns}
        note = next(n for n in notes if f"table '{table}', column '{column}'" in n)
        assert "binary data (BLOB), which cannot be modelled" in note
    for table in EMPTY_TABLES:
        assert any(f"table '{table}'" in n and "no rows" in n for n in notes), notes
        assert schema.table(table).type == "reference"


@pytest.mark.parametrize("epsilon", [1.0, 1000.0])
def test_northwind_trains_and_generates_into_postgres_with_every_key_resolving(
    inferred, postgres, pg_schema, tmp_path, epsilon
) -> None:
    target = pg_schema()
    model = _train_and_generate(inferred, tmp_path, target, epsilon)
    schema: DataSchema = inferred["schema"]
    assert api.load_model(model).total_epsilon == pytest.approx(epsilon)  # the whole model's budget
    with postgres.connect() as connection:
        present = set(sa.inspect(connection).get_table_names(schema=target))
        assert present == set(schema.table_names)
        counts = _row_counts(connection, target, schema)
        assert {name for name, rows in counts.items() if rows == 0} == EMPTY_TABLES
        dangling = _dangling(connection, target, schema)
        assert "Order Details.OrderID -> Orders.OrderID" in dangling
        assert "Order Details.ProductID -> Products.ProductID" in dangling
        assert "Employees.ReportsTo -> Employees.EmployeeID" in dangling
        assert "EmployeeTerritories.TerritoryID -> Territories.TerritoryID" in dangling
        assert dangling == {key: 0 for key in dangling}
        assert _duplicate_keys(connection, target, schema) == {t.name: 0 for t in schema.tables if t.key_columns}
        for table in schema.tables:  # every modelled column of the schema is written
            written = {c["name"] for c in sa.inspect(connection).get_columns(table.name, schema=target)}
            assert {c.name for c in table.columns} <= written, table.name
        if epsilon == 1000.0:  # the self-reference is used, with about the source's null rate (1 of 9)
            managed = connection.execute(
                sa.text(f'SELECT COUNT("ReportsTo") FROM {_q(target)}."Employees"')
            ).scalar_one()
            assert managed >= counts["Employees"] // 2
    state = yaml.safe_load((tmp_path / "state.json").read_text(encoding="utf-8"))
    assert state["validation"]["passed"], state["validation"]


def test_a_tenth_of_orders_trains_and_generates_with_no_dangling_key(inferred, postgres, pg_schema, tmp_path) -> None:
    subsetting = {"target_table": "Orders", "fraction": 0.1}
    target = pg_schema()
    model = _train_and_generate(inferred, tmp_path, target, 1000.0, database_subsetting_params=subsetting)
    manifest = api.load_model(model).manifest
    assert manifest["subset"]["tables"]["Orders"]["rows"] == 83  # round(0.1 * 830)
    schema: DataSchema = inferred["schema"]
    with postgres.connect() as connection:
        dangling = _dangling(connection, target, schema)
        assert dangling == {key: 0 for key in dangling}
        assert set(sa.inspect(connection).get_table_names(schema=target)) == set(schema.table_names)
        orders = _row_counts(connection, target, schema)["Orders"]
    assert 40 <= orders <= 200  # about the subset's 83 orders, not Northwind's 830


def test_the_orders_subset_is_the_same_for_the_same_random_state(inferred, environment, tmp_path) -> None:
    config = TrainingConfig.model_validate(
        _training_config(
            inferred["path"],
            tmp_path / "m.hmf",
            1.0,
            database_subsetting_params={"target_table": "Orders", "fraction": 0.1},
        )
    )
    with DataSources(config.data_sources) as sources:
        frames = read_source_frames(config, sources)

    def kept(random_state: int) -> Dict[str, pd.DataFrame]:
        params = config.database_subsetting_params
        result = subset_tables(frames, config.data_schema, params, train_test_split=False, random_state=random_state)
        return result.train

    first, again, other = kept(3), kept(3), kept(4)
    assert len(first["Orders"]) == 83
    assert all(first[name].equals(again[name]) for name in first)
    assert not first["Orders"]["OrderID"].equals(other["Orders"]["OrderID"])
    assert set(first["Order Details"]["OrderID"]) <= set(first["Orders"]["OrderID"])  # children follow
    assert set(first["Orders"]["CustomerID"].dropna()) <= set(first["Customers"]["CustomerID"])  # parents kept


def test_the_source_cache_gives_the_same_northwind_model_as_a_read(
    inferred, environment, tmp_path, monkeypatch, reproducible_noise
) -> None:
    """Dates, money, free text and text ids survive the Parquet cache: a warm run encodes exactly what the
    cold run read from SQLite."""
    model = tmp_path / "model.hmf"
    config = _training_config(inferred["path"], model, 1000.0)
    config["model_parameters"]["multi_table"] = {"use_cache": True}
    monkeypatch.setenv("HAZY_CACHE_DIR", str(tmp_path / "cache"))
    runs = []
    for _ in range(2):
        model.unlink(missing_ok=True)
        runs.append(Path(api.train(config)).read_bytes())
    assert len(list((tmp_path / "cache").iterdir())) == 1
    assert runs[0] == runs[1]
