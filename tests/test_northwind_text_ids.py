"""Zero-padded pattern ids on the whole Northwind database, through the `hazy` command line.

`hazy schema infer` types `Territories.TerritoryID` ("01581", ...) as an id with `pattern: '{digits:5}'`.
Northwind trained at the defaults is generated into a SQLite file, a PostgreSQL schema and CSV files, with
the functional validation on (the default): every table of the run passes, and the TerritoryID values
read from each target are 5-digit strings, leading zeros kept. (A CSV read back used to type "05537" as the
number 5537, failing the pattern check: the validator now reads the schema's text columns as text.)
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import uuid
from pathlib import Path
from typing import Dict, Iterator, List

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from service_checks import POSTGRES_URL, northwind_path, server_engine

from airflow_provider_hazy.cli import main
from airflow_provider_hazy.config.schema import DataSchema
from airflow_provider_hazy.metrics.validation import text_columns

pytestmark = pytest.mark.slow

FIVE_DIGITS = re.compile(r"[0-9]{5}")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Iterator[Dict[str, object]]:
    """The inferred schema and a model of every Northwind table at the defaults (evaluation left out)."""
    directory = tmp_path_factory.mktemp("northwind_ids")
    source = f"sqlite:///{northwind_path()}"
    schema_path = directory / "schema.yaml"
    with contextlib.redirect_stderr(io.StringIO()):
        assert main(["schema", "infer", source, "-o", str(schema_path)]) == 0
    schema = yaml.safe_load(schema_path.read_text(encoding="utf-8"))
    names = [table["name"] for table in schema["tables"]]
    training = {
        "data_schema": schema,
        "data_sources": [{"id": "northwind"}],
        "data_input": [{"name": n, "location": {"source_id": "northwind", "table_name": n}} for n in names],
        "model_output": str(directory / "model.hmf"),
        "evaluation": None,
        "random_state": 11,
    }
    (directory / "train.yaml").write_text(yaml.safe_dump(training), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HAZY_CONN_NORTHWIND", source)
        assert main(["train", str(directory / "train.yaml")]) == 0
    yield {"directory": directory, "schema": DataSchema.model_validate(schema), "names": names}


def test_the_inferred_schema_types_territory_ids_as_five_digit_text(trained) -> None:
    schema: DataSchema = trained["schema"]
    column = schema.table("Territories").column("TerritoryID")
    assert column.type == "id" and column.format.value == "pattern" and column.pattern == "{digits:5}"
    assert text_columns(schema, "Territories") == ["TerritoryID"]
    assert text_columns(schema, "EmployeeTerritories") == ["TerritoryID"]  # a foreign key to the text id
    assert text_columns(schema, "Regions") == []


def _generate(trained: Dict[str, object], name: str, output: Dict[str, object]) -> Dict[str, object]:
    """`hazy generate` of every table to `output(table)`; the generation state."""
    directory: Path = trained["directory"]
    generation = {
        "model": str(directory / "model.hmf"),
        "data_sources": output["sources"],
        "data_output": [{"name": n, "location": output["location"](n)} for n in trained["names"]],
        "generation_state_path": str(directory / f"state_{name}.json"),
        "random_state": 5,
    }
    path = directory / f"generate_{name}.yaml"
    path.write_text(yaml.safe_dump(generation), encoding="utf-8")
    assert main(["generate", str(path)]) == 0  # 4 when validation fails
    return json.loads((directory / f"state_{name}.json").read_text(encoding="utf-8"))


def _check(state: Dict[str, object], names: List[str], territory_ids: pd.Series) -> None:
    validation = state["validation"]
    assert validation["passed"] and validation["n_failed"] == 0, validation["failures"]
    report = json.loads(Path(validation["report"]).read_text(encoding="utf-8"))
    assert report["n_checks"] == len(report["checks"]) == validation["n_checks"] > 100
    assert {check["table"] for check in report["checks"]} == set(names)  # every table of the run was checked
    values = territory_ids.tolist()
    assert len(values) == 53 and all(isinstance(v, str) and FIVE_DIGITS.fullmatch(v) for v in values), values
    assert any(v.startswith("0") for v in values)  # leading zeros kept (7 of the 53 with this random_state)


def test_sqlite_target_keeps_five_digit_text_and_validates(trained, monkeypatch) -> None:
    target = trained["directory"] / "out.sqlite"
    monkeypatch.setenv("HAZY_CONN_OUT", f"sqlite:///{target}")
    state = _generate(
        trained, "sqlite", {"sources": [{"id": "out"}], "location": lambda n: {"source_id": "out", "table_name": n}}
    )
    engine = sa.create_engine(f"sqlite:///{target}")
    try:
        with engine.connect() as connection:
            types = connection.execute(sa.text('SELECT DISTINCT typeof("TerritoryID") FROM "Territories"')).all()
            ids = pd.Series(connection.execute(sa.text('SELECT "TerritoryID" FROM "Territories"')).scalars().all())
    finally:
        engine.dispose()
    assert types == [("text",)]
    _check(state, trained["names"], ids)


def test_postgres_target_keeps_five_digit_text_and_validates(trained, monkeypatch) -> None:
    engine = server_engine(POSTGRES_URL, "PostgreSQL")
    schema_name = f"hz_ids_{uuid.uuid4().hex[:10]}"
    with engine.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema_name}"'))
    try:
        monkeypatch.setenv("HAZY_CONN_PG", POSTGRES_URL)
        location = lambda n: {"source_id": "pg", "schema_name": schema_name, "table_name": n}  # noqa: E731
        state = _generate(trained, "postgres", {"sources": [{"id": "pg"}], "location": location})
        with engine.connect() as connection:
            column = next(
                c for c in sa.inspect(connection).get_columns("Territories", schema=schema_name)
                if c["name"] == "TerritoryID"
            )
            ids = pd.Series(
                connection.execute(sa.text(f'SELECT "TerritoryID" FROM "{schema_name}"."Territories"')).scalars().all()
            )
        assert isinstance(column["type"], sa.String) and column["type"].length == 5
        _check(state, trained["names"], ids)
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema_name}" CASCADE'))
        engine.dispose()


def test_csv_target_keeps_leading_zeros_and_validates(trained) -> None:
    folder = trained["directory"] / "csv"
    state = _generate(trained, "csv", {"sources": [], "location": lambda n: str(folder / f"{n.replace(' ', '_')}.csv")})
    ids = pd.read_csv(folder / "Territories.csv", dtype=str)["TerritoryID"]
    _check(state, trained["names"], ids)
