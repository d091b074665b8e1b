"""Types are checked, never coerced silently: numbers declared as dates are an error naming the column (unless
a format reads them); dates from year 1 to 9999 round-trip through train and generate; a column all null in
the source is all null in the output; float extremes (+-1e308) train and generate without overflow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from airflow_provider_hazy.cli import main
from airflow_provider_hazy.core.binning import spaced
from airflow_provider_hazy.metrics.discretise import datetime_seconds

ROWS = 600


def write_config(name: str, columns: list, csv: str, epsilon: float = 1.0, **generator) -> str:
    training = {
        "model_output": f"out/{name}.hmf",
        "random_state": 3,
        "data_schema": {"tables": [{"name": "t", "columns": columns}]},
        "data_input": [{"name": "t", "location": csv}],
        "model_parameters": {"generator": {"generator_type": "priv_bayes", "epsilon": epsilon, **generator}},
    }
    Path(f"{name}.yaml").write_text(yaml.safe_dump(training), encoding="utf-8")
    generation = {
        "model": f"out/{name}.hmf",
        "random_state": 5,
        "data_output": [{"name": "t", "location": {"path": f"out/{name}.csv", "if_exists": "replace"}}],
    }
    Path(f"{name}-gen.yaml").write_text(yaml.safe_dump(generation), encoding="utf-8")
    return name


def train_and_generate(name: str) -> pd.DataFrame:
    assert main(["train", f"{name}.yaml"]) == 0
    assert main(["generate", f"{name}-gen.yaml"]) == 0
    return pd.read_csv(f"out/{name}.csv", dtype=str, keep_default_na=False, na_values=[""])


@pytest.fixture(autouse=True)
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("declared", ["date", "datetime"])
def test_an_integer_column_declared_as_a_date_is_an_error_naming_the_column(declared, capsys):
    values = np.random.default_rng(0).integers(20000101, 20241231, ROWS)
    pd.DataFrame({"id": range(ROWS), "when": values}).to_csv("ints.csv", index=False)
    write_config("ints", [{"name": "id", "type": "id"}, {"name": "when", "type": declared}], "ints.csv")
    capsys.readouterr()
    assert main(["train", "ints.yaml"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"hazy train: table 't', column 'when': declared a date/datetime, but holds numbers (e.g. {values[0]}); "
        "set the column's format to say how they read as dates (e.g. '%Y%m%d'), or declare the column integer "
        "or float"
    )
    assert not Path("out/ints.hmf").exists()


def test_an_integer_column_with_a_date_format_is_read_as_dates():
    rng = np.random.default_rng(1)
    days = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 366, ROWS), unit="D")
    pd.DataFrame({"id": range(ROWS), "when": days.strftime("%Y%m%d").astype(int)}).to_csv("ints.csv", index=False)
    columns = [{"name": "id", "type": "id"}, {"name": "when", "type": "date", "format": "%Y%m%d"}]
    synthetic = train_and_generate(write_config("ints", columns, "ints.csv", epsilon=10.0))
    parsed = pd.to_datetime(synthetic["when"], format="%Y%m%d")  # every value reads back with the format
    assert parsed.min() >= pd.Timestamp("2019-12-01") and parsed.max() <= pd.Timestamp("2021-02-01")


def test_dates_from_year_1_to_9999_round_trip_through_train_and_generate():
    rng = np.random.default_rng(2)
    years = np.concatenate([[1, 9999], rng.integers(1, 10000, ROWS - 2)])
    frame = pd.DataFrame(
        {
            "id": range(ROWS),
            "day": [f"{year:04d}-06-15" for year in years],
            "moment": [f"{year:04d}-06-15 12:34:56" for year in years],
        }
    )
    frame.to_csv("ancient.csv", index=False)
    columns = [{"name": "id", "type": "id"}, {"name": "day", "type": "date"}, {"name": "moment", "type": "datetime"}]
    synthetic = train_and_generate(write_config("ancient", columns, "ancient.csv", epsilon=1000.0))
    shapes = {"day": r"\d{4}-\d{2}-\d{2}", "moment": r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"}  # the source's format
    for column, shape in shapes.items():
        assert synthetic[column].str.fullmatch(shape).all()
        years_out = synthetic[column].str.slice(0, 4).astype(int)
        # not clamped to pandas' nanosecond range 1677..2262: the synthetic years spread as the real ones
        assert years_out.min() < 1000 and years_out.max() > 9000, (column, years_out.min(), years_out.max())


def test_a_column_all_null_in_the_source_is_all_null_in_the_output():
    rng = np.random.default_rng(3)
    n = 5000
    frame = pd.DataFrame({"id": range(n), "x": rng.normal(size=n), "c": rng.choice(list("abc"), n)})
    for name in ("f", "i", "cat", "d", "dt", "b"):
        frame[name] = None
    frame.to_csv("nulls.csv", index=False)
    columns = [
        {"name": "id", "type": "id"},
        {"name": "x", "type": "float"},
        {"name": "c", "type": "category"},
        {"name": "f", "type": "float"},
        {"name": "i", "type": "integer"},
        {"name": "cat", "type": "category"},
        {"name": "d", "type": "date"},
        {"name": "dt", "type": "datetime"},
        {"name": "b", "type": "bool"},
    ]
    for split_time in (False, True):
        name = f"nulls{int(split_time)}"
        synthetic = train_and_generate(write_config(name, columns, "nulls.csv", epsilon=1.0, split_time=split_time))
        assert len(synthetic) == n
        assert synthetic[["f", "i", "cat", "d", "dt", "b"]].notna().sum().to_dict() == dict.fromkeys(
            ["f", "i", "cat", "d", "dt", "b"], 0
        )
        assert synthetic[["x", "c"]].notna().all().all()


def test_float_extremes_train_and_generate_finite_values_in_range():
    rng = np.random.default_rng(4)
    pd.DataFrame({"id": range(ROWS), "big": rng.choice([1e308, -1e308, 0.0, 1.0], ROWS)}).to_csv("big.csv", index=False)
    columns = [{"name": "id", "type": "id"}, {"name": "big", "type": "float"}]
    synthetic = train_and_generate(write_config("big", columns, "big.csv"))
    values = synthetic["big"].astype(float)
    assert np.isfinite(values).all() and values.min() >= -1e308 and values.max() <= 1e308


def test_evenly_spaced_edges_do_not_overflow():
    edges = spaced(-1e308, 1e308, 5)
    assert np.isfinite(edges).all()
    np.testing.assert_allclose(edges, [-1e308, -5e307, 0.0, 5e307, 1e308])
    np.testing.assert_array_equal(spaced(0.0, 1.0, 3), np.linspace(0.0, 1.0, 3))


def test_the_evaluation_reads_dates_outside_the_nanosecond_range():
    seconds = datetime_seconds(pd.Series(["0001-01-01", "9999-12-31", None]))
    assert seconds[0] == pytest.approx(-62135596800.0) and seconds[1] == pytest.approx(253402214400.0)
    assert np.isnan(seconds[2])


def test_dates_from_year_1_to_9999_round_trip_through_postgresql(monkeypatch):
    import datetime as dt
    import uuid

    import sqlalchemy as sa
    from service_checks import POSTGRES_URL, server_engine

    engine = server_engine(POSTGRES_URL, "PostgreSQL")
    source, target = f"i15_dates_{uuid.uuid4().hex[:8]}", f"i15_synthetic_{uuid.uuid4().hex[:8]}"
    years = np.concatenate([[1, 9999], np.random.default_rng(5).integers(1, 10000, ROWS - 2)])
    with engine.begin() as connection:
        connection.execute(sa.text(f"CREATE TABLE {source} (id int PRIMARY KEY, d date, t timestamp)"))
        rows = [
            {"id": i, "d": dt.date(int(year), 6, 15), "t": dt.datetime(int(year), 6, 15, 12, 34, 56)}
            for i, year in enumerate(years)
        ]
        connection.execute(sa.text(f"INSERT INTO {source} VALUES (:id, :d, :t)"), rows)
    monkeypatch.setenv("HAZY_CONN_PG", POSTGRES_URL)
    try:
        columns = [{"name": "id", "type": "id"}, {"name": "d", "type": "date"}, {"name": "t", "type": "datetime"}]
        write_config("pg", columns, "unused.csv", epsilon=1000.0)
        training = yaml.safe_load(Path("pg.yaml").read_text())
        training["data_sources"] = [{"id": "pg"}]
        training["data_input"] = [{"name": "t", "location": {"source_id": "pg", "table_name": source}}]
        Path("pg.yaml").write_text(yaml.safe_dump(training))
        generation = yaml.safe_load(Path("pg-gen.yaml").read_text())
        generation["data_sources"] = [{"id": "pg"}]
        location = {"source_id": "pg", "table_name": target, "if_exists": "replace"}
        generation["data_output"] = [{"name": "t", "location": location}]
        Path("pg-gen.yaml").write_text(yaml.safe_dump(generation))
        assert main(["train", "pg.yaml"]) == 0
        assert main(["generate", "pg-gen.yaml"]) == 0
        with engine.connect() as connection:
            low_d, high_d, low_t, high_t, count = connection.execute(
                sa.text(f"SELECT min(d), max(d), min(t), max(t), count(*) FROM {target}")
            ).one()
        assert count == ROWS
        assert low_d.year < 1000 and high_d.year > 9000 and low_t.year < 1000 and high_t.year > 9000
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP TABLE IF EXISTS {source}"))
            connection.execute(sa.text(f"DROP TABLE IF EXISTS {target}"))
        engine.dispose()
