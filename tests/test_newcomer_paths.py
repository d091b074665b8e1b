"""What a new user meets first: bare `postgresql://`/`postgres://` URLs work with the installed driver;
`s3://` model, state and fail-safe paths are refused before any work (never a local folder named `s3:`);
`hazy check` confirms inputs exist and outputs can be written (within the connect timeout), `--offline`
skips that; a column-key typo is named once; a password with an unencoded `@` is refused with a hint and
never echoed."""

from __future__ import annotations

import shutil
import socket
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from service_checks import POSTGRES_URL, server_engine

from airflow_provider_hazy import api
from airflow_provider_hazy.cli import main
from airflow_provider_hazy.config import TrainingConfig
from airflow_provider_hazy.io.sql import engine_from_url

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def err_lines(capsys) -> list:
    return capsys.readouterr().err.strip().splitlines()


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    (tmp_path / "examples").mkdir()
    shutil.copy(EXAMPLES / "customers.csv", tmp_path / "examples" / "customers.csv")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def training_yaml(**changes) -> str:
    data = yaml.safe_load((EXAMPLES / "training.yaml").read_text(encoding="utf-8"))
    data["nrows"] = 300
    data.update(changes)
    Path("training.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return "training.yaml"


def generation_yaml(**changes) -> str:
    data = yaml.safe_load((EXAMPLES / "generation.yaml").read_text(encoding="utf-8"))
    data.update(changes)
    Path("generation.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return "generation.yaml"


# postgresql:// and postgres://


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_a_bare_postgresql_url_uses_the_installed_driver(scheme):
    server_engine(POSTGRES_URL, "PostgreSQL").dispose()
    url = sa.make_url(POSTGRES_URL).set(drivername=scheme).render_as_string(hide_password=False)
    engine = engine_from_url(url)
    try:
        assert engine.dialect.driver == "psycopg2"
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


# s3:// paths that are not table locations


def test_an_s3_model_output_is_refused_before_training(workdir, capsys):
    assert main(["train", training_yaml(model_output="s3://models/customers.hmf")]) == 2
    [line] = err_lines(capsys)
    assert line.startswith("hazy train: model_output: 's3://models/customers.hmf' is a s3:// URL, but model files")
    assert not Path("s3:").exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"model": "s3://models/customers.hmf"}, "model"),
        ({"generation_state_path": "s3://runs/state.json"}, "generation_state_path"),
        (
            {
                "data_output": [
                    {"name": "customers", "location": {"path": "out/s.csv", "fail_safe_path": "s3://runs/failed"}}
                ]
            },
            "data_output 'customers': fail_safe_path",
        ),
    ],
)
def test_s3_model_state_and_fail_safe_paths_are_refused_before_generating(workdir, capsys, changes, field):
    assert main(["generate", generation_yaml(**changes)]) == 2
    [line] = err_lines(capsys)
    assert line.startswith(f"hazy generate: {field}: 's3://")
    assert not Path("s3:").exists() and not Path("out/s.csv").exists()


# hazy check


def test_check_passes_when_inputs_exist_and_outputs_can_be_written(workdir, capsys):
    assert main(["check", training_yaml()]) == 0
    out = capsys.readouterr().out
    assert "  ok: data_input 'customers': file examples/customers.csv exists" in out
    assert "  ok: model_output: out/customers.hmf can be written" in out


def test_check_names_a_missing_input_file_and_exits_2(workdir, capsys):
    Path("examples/customers.csv").unlink()
    assert main(["check", training_yaml()]) == 2
    assert err_lines(capsys) == ["hazy check: data_input 'customers': file examples/customers.csv does not exist"]
    assert main(["check", training_yaml(), "--offline"]) == 0


def _sqlite_source(monkeypatch, path: Path) -> None:
    monkeypatch.setenv("HAZY_CONN_SHOP", f"sqlite:///{path}")
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE customers (customer_id INTEGER PRIMARY KEY)")


def test_check_names_a_missing_input_table_and_exits_2(workdir, capsys, monkeypatch):
    _sqlite_source(monkeypatch, workdir / "shop.db")
    config = training_yaml(
        data_sources=[{"id": "shop"}],
        data_input=[{"name": "customers", "location": {"source_id": "shop", "table_name": "clients"}}],
    )
    assert main(["check", config]) == 2
    assert err_lines(capsys) == [
        "hazy check: data_input 'customers': table clients does not exist in data source 'shop'"
    ]


def test_check_confirms_a_database_output_is_writable_and_leaves_nothing_behind(workdir, capsys, monkeypatch):
    _sqlite_source(monkeypatch, workdir / "shop.db")
    api.train(TrainingConfig.from_file(training_yaml()))
    output = [{"name": "customers", "location": {"source_id": "shop", "table_name": "synthetic", "if_exists": "fail"}}]
    assert main(["check", generation_yaml(data_sources=[{"id": "shop"}], data_output=output)]) == 0
    assert "  ok: data_output 'customers': data source 'shop' accepts table synthetic" in capsys.readouterr().out
    assert sa.inspect(sa.create_engine(f"sqlite:///{workdir / 'shop.db'}")).get_table_names() == ["customers"]
    output[0]["location"]["table_name"] = "customers"  # exists, and if_exists is fail
    assert main(["check", generation_yaml(data_sources=[{"id": "shop"}], data_output=output)]) == 2
    assert err_lines(capsys) == [
        "hazy check: data_output 'customers': table customers exists in data source 'shop' and if_exists is 'fail'"
    ]


def test_check_names_an_unwritable_output_and_a_missing_model(workdir, capsys):
    Path("a-file").write_text("x", encoding="utf-8")
    output = [{"name": "customers", "location": {"path": "a-file/s.csv", "fail_safe_path": "a-file/failed"}}]
    assert main(["check", generation_yaml(data_output=output, generation_state_path="a-file/state.json")]) == 2
    assert err_lines(capsys) == [
        "hazy check: model: file out/customers.hmf does not exist",
        "hazy check: data_output 'customers': cannot write a-file/s.csv (no writable directory on its path)",
        "hazy check: data_output 'customers': fail_safe_path: cannot write into a-file/failed (no writable "
        "directory on its path)",
        "hazy check: generation_state_path: cannot write a-file/state.json (no writable directory on its path)",
    ]


def test_check_of_a_silent_server_fails_within_the_connect_timeout(workdir, capsys, monkeypatch):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # the kernel accepts; nobody ever answers
    threading.Thread(target=lambda: [listener.accept() for _ in range(8)], daemon=True).start()
    monkeypatch.setenv("HAZY_CONN_SHOP", f"postgresql://app:pw@127.0.0.1:{listener.getsockname()[1]}/shop")
    config = training_yaml(
        data_sources=[{"id": "shop", "connect_timeout": 2}],
        data_input=[{"name": "customers", "location": {"source_id": "shop", "table_name": "customers"}}],
    )
    started = time.monotonic()
    assert main(["check", config]) == 1
    assert time.monotonic() - started < 10
    [line] = err_lines(capsys)
    assert line.startswith("hazy check: data_input 'customers': data source 'shop': cannot connect: OperationalError")
    assert "timeout expired" in line and "pw" not in line.split("cannot connect")[1]
    listener.close()


# column key typos, passwords with '@'


def test_a_column_key_typo_is_named_once(workdir, capsys):
    data = yaml.safe_load((EXAMPLES / "training.yaml").read_text(encoding="utf-8"))
    for column in data["data_schema"]["tables"][0]["columns"][2:5]:
        column["tpye"] = column.pop("type")
    Path("typo.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    assert main(["check", "typo.yaml"]) == 2
    assert err_lines(capsys) == [
        "hazy check: invalid configuration: data_schema.tables.0.tabular: table 'customers': unknown key 'tpye' "
        "(did you mean 'type'?) in column(s) 'segment', 'region', 'age' (column keys: bin_strategy, dob_column, "
        "format, locale, max_cat, n_bins, name, part, pattern, ref_column, ref_table, reference_date, start, type, "
        "value)"
    ]


def test_an_unencoded_at_in_a_source_password_is_refused_with_a_hint_and_never_echoed(workdir, capsys, monkeypatch):
    monkeypatch.setenv("HAZY_CONN_SHOP", "postgresql://app:s3cr@t-pass@127.0.0.1:5432/shop")
    config = training_yaml(
        data_sources=[{"id": "shop"}],
        data_input=[{"name": "customers", "location": {"source_id": "shop", "table_name": "customers"}}],
    )
    assert main(["train", config]) == 2
    captured = capsys.readouterr()
    [line] = captured.err.strip().splitlines()
    assert line == (
        "hazy train: table 'customers': data source 'shop': HAZY_CONN_SHOP: the URL's user or password holds an "
        "unencoded '@': percent-encode it as %40 (in Python: urllib.parse.quote(password, safe='')); the URL is not "
        "shown, it holds a secret"
    )
    assert "s3cr" not in captured.err + captured.out and "t-pass" not in captured.err + captured.out


def test_an_unencoded_at_in_an_inline_url_is_a_config_error_without_the_url(workdir, capsys):
    url = "postgresql://app:s3cr@t-pass@127.0.0.1:5432/shop"
    assert main(["check", training_yaml(data_sources=[{"id": "shop", "connection_url": url}])]) == 2
    err = capsys.readouterr().err
    assert "data_sources.0.SecretDataSourceIO.connection_url: connection_url: the URL's user or password holds an " \
        "unencoded '@'" in err
    assert "s3cr" not in err and "t-pass" not in err
    with pytest.raises(ValueError) as caught:
        TrainingConfig.model_validate(yaml.safe_load(Path("training.yaml").read_text()))
    assert "s3cr" not in str(caught.value)
