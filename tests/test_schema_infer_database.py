"""`infer_schema_from_database` and `hazy schema infer DATABASE_URL`: Northwind (SQLite) and a PostgreSQL schema."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
import yaml
from service_checks import POSTGRES_URL, northwind_path, server_engine

from airflow_provider_hazy.cli import main
from airflow_provider_hazy.config import TrainingConfig
from airflow_provider_hazy.config.schema import (
    DataSchema,
    DateColumn,
    ForeignKeyColumn,
    IdColumn,
    IntegerColumn,
    ReferenceTable,
)
from airflow_provider_hazy.io.sql import engine_from_url
from airflow_provider_hazy.schema_infer import infer_schema_from_database


@pytest.fixture(scope="module")
def northwind_url() -> str:
    return f"sqlite:///{northwind_path()}"


@pytest.fixture(scope="module")
def northwind(northwind_url):
    return infer_schema_from_database(northwind_url)


def _fk(table, column: str) -> ForeignKeyColumn:
    found = table.column(column)
    assert isinstance(found, ForeignKeyColumn), found
    return found


def test_northwind_tables_keys_and_foreign_keys(northwind) -> None:
    schema, notes = northwind
    assert len(schema.tables) == 13
    assert "Order Details" in schema.table_names
    details = schema.table("Order Details")
    assert details.key_columns == ["OrderID", "ProductID"]
    assert (_fk(details, "OrderID").ref_table, _fk(details, "OrderID").ref_column) == ("Orders", "OrderID")
    assert (_fk(details, "ProductID").ref_table, _fk(details, "ProductID").ref_column) == ("Products", "ProductID")
    employees = schema.table("Employees")
    assert isinstance(employees.column("EmployeeID"), IdColumn)
    reports_to = _fk(employees, "ReportsTo")
    assert (reports_to.ref_table, reports_to.ref_column) == ("Employees", "EmployeeID")
    link = schema.table("EmployeeTerritories")
    assert link.key_columns == ["EmployeeID", "TerritoryID"]
    assert {fk.ref_table for fk in link.foreign_keys} == {"Employees", "Territories"}
    orders = schema.table("Orders")
    assert {fk.name: fk.ref_table for fk in orders.foreign_keys} == {
        "CustomerID": "Customers",
        "EmployeeID": "Employees",
        "ShipVia": "Shippers",
    }
    assert isinstance(orders.column("OrderDate"), DateColumn)
    assert isinstance(schema.table("Order Details").column("Quantity"), IntegerColumn)
    # free text would copy real notes into the model: left out with the reason, as file inference does
    assert "Notes" not in [c.name for c in employees.columns]
    assert "table 'Employees', column 'Notes': left out (free text" in "\n".join(notes)


def test_northwind_countries_and_cities_that_many_orders_share_are_categories(northwind) -> None:
    """`identifying_columns.coarse_location`: Orders' ship countries (21 in 830 orders) and cities (97% of the
    orders in cities of 5+ orders) are modelled; customers' and suppliers' (most held by one or two rows),
    every address and every postcode stay Faker-drawn locations."""
    schema, _ = northwind
    orders = schema.table("Orders")
    assert orders.column("ShipCountry").type == "category"
    assert orders.column("ShipCity").type == "category"
    assert orders.column("ShipRegion").type == "category"
    for table in ("Customers", "Suppliers", "Employees"):
        for column in ("Country", "City"):
            assert schema.table(table).column(column).type == "location", (table, column)
    for table in schema.tables:
        for column in table.columns:
            if column.name.endswith(("Address", "PostalCode")):
                assert column.type == "location", (table.name, column.name)


def test_northwind_notes_empty_tables_and_blobs(northwind) -> None:
    schema, notes = northwind
    for empty in ("CustomerCustomerDemo", "CustomerDemographics"):
        assert isinstance(schema.table(empty), ReferenceTable)
        assert any(f"table '{empty}': no rows" in note for note in notes)
    assert "Picture" not in [c.name for c in schema.table("Categories").columns]
    assert "Photo" not in [c.name for c in schema.table("Employees").columns]
    for table, column in (("Categories", "Picture"), ("Employees", "Photo")):
        assert any(f"table '{table}', column '{column}': left out (binary data (BLOB)" in note for note in notes)


def test_cli_writes_yaml_that_loads_as_training_schema(northwind_url, tmp_path, capsys) -> None:
    output = tmp_path / "schema.yaml"
    assert main(["schema", "infer", northwind_url, "-o", str(output)]) == 0
    captured = capsys.readouterr()
    assert "Photo" in captured.err and "13 table(s)" in captured.out
    document = yaml.safe_load(output.read_text(encoding="utf-8"))
    schema = DataSchema.model_validate(document)
    inputs = [{"name": name, "location": {"source_id": "northwind", "table_name": name}} for name in schema.table_names]
    config = TrainingConfig.model_validate(
        {"data_schema": document, "data_input": inputs, "data_sources": [{"id": "northwind"}]}
    )
    assert config.data_schema.table("Order Details").key_columns == ["OrderID", "ProductID"]


def test_unknown_table_is_named(northwind_url) -> None:
    with pytest.raises(ValueError, match=r"no table\(s\) \['Nope'\]"):
        infer_schema_from_database(northwind_url, tables=["Nope"])
    schema, notes = infer_schema_from_database(northwind_url, tables=["Orders", "Customers"])
    assert schema.table_names == ["Orders", "Customers"]
    assert [fk.name for fk in schema.table("Orders").foreign_keys] == ["CustomerID"]
    assert any("'Employees' is not in the schema" in note for note in notes)


def test_cycle_between_tables_is_broken_with_a_note(tmp_path) -> None:
    engine = engine_from_url(f"sqlite:///{tmp_path / 'cycle.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE a (id INTEGER PRIMARY KEY, b_id INTEGER REFERENCES b (id))")
        connection.exec_driver_sql("CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a (id))")
        connection.exec_driver_sql("INSERT INTO a VALUES (1, 1), (2, 2)")
        connection.exec_driver_sql("INSERT INTO b VALUES (1, 1), (2, 1)")
    schema, notes = infer_schema_from_database(engine)
    engine.dispose()
    assert sum(len(table.foreign_keys) for table in schema.tables) == 1
    assert any("closes the cycle" in note for note in notes)


@pytest.fixture
def postgres_schema():
    engine = server_engine(POSTGRES_URL, "PostgreSQL")
    name = f"hzinfer_{uuid.uuid4().hex[:12]}"
    with engine.begin() as connection:
        connection.execute(sa.schema.CreateSchema(name))
    yield engine, name
    with engine.begin() as connection:
        connection.execute(sa.schema.DropSchema(name, cascade=True))
    engine.dispose()


def test_postgres_schema_keys_composite_keys_and_types(postgres_schema) -> None:
    engine, name = postgres_schema
    with engine.begin() as connection:
        connection.exec_driver_sql(
            f"CREATE TABLE {name}.customer (code TEXT PRIMARY KEY, born DATE, score DOUBLE PRECISION, photo BYTEA)"
        )
        connection.exec_driver_sql(
            f'CREATE TABLE {name}."order item" (customer_code TEXT REFERENCES {name}.customer (code), '
            f"line INTEGER, amount NUMERIC(10, 2), parent_line INTEGER, PRIMARY KEY (customer_code, line))"
        )
        connection.exec_driver_sql(
            f"CREATE TABLE {name}.refund (id SERIAL PRIMARY KEY, customer_code TEXT, line INTEGER, "
            f'FOREIGN KEY (customer_code, line) REFERENCES {name}."order item" (customer_code, line))'
        )
        connection.exec_driver_sql(
            f"INSERT INTO {name}.customer VALUES ('AB-001', '1980-01-02', 1.5, 'x'), ('AB-002', '1990-03-04', 2.5, 'y')"
        )
        connection.exec_driver_sql(
            f"INSERT INTO {name}.\"order item\" VALUES ('AB-001', 1, 9.99, NULL), ('AB-001', 2, 5.00, 1)"
        )
        connection.exec_driver_sql(f"INSERT INTO {name}.refund (customer_code, line) VALUES ('AB-001', 2)")
        connection.exec_driver_sql(
            f"CREATE TABLE {name}.audit (id INTEGER PRIMARY KEY, ok BOOLEAN, at TIMESTAMP, "
            f"customer_code TEXT REFERENCES {name}.customer (code))"
        )
    schema, notes = infer_schema_from_database(engine, schema_name=name)
    audit = schema.table("audit")
    assert isinstance(audit, ReferenceTable) and any("table 'audit': no rows" in note for note in notes)
    assert [type(column).__name__ for column in audit.columns] == [
        "IdColumn",
        "BoolColumn",
        "DatetimeColumn",
        "ForeignKeyColumn",
    ]
    customer = schema.table("customer")
    assert customer.column("code") == IdColumn(name="code", format="pattern", pattern="AB-{digits:3}")
    assert isinstance(customer.column("born"), DateColumn)
    assert any("'customer', column 'photo': left out (binary data" in note for note in notes)
    item = schema.table("order item")
    assert item.key_columns == ["customer_code", "line"]
    assert isinstance(item.column("line"), IdColumn)
    assert _fk(item, "customer_code").ref_table == "customer"
    refund = schema.table("refund")
    assert {(fk.name, fk.ref_table, fk.ref_column) for fk in refund.foreign_keys} == {
        ("customer_code", "order item", "customer_code"),
        ("line", "order item", "line"),
    }
    assert refund.key_columns == ["id"]


def test_cli_takes_a_data_source_id_resolved_from_the_environment(northwind_url, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HAZY_CONN_NW_DB", northwind_url)
    assert main(["schema", "infer", "nw-db"]) == 0
    schema = DataSchema.model_validate(yaml.safe_load(capsys.readouterr().out))
    assert len(schema.tables) == 13
