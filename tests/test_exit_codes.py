"""`hazy` exit codes mean something (airflow_provider_hazy.outcome): 0 only when every row was written and
validation passed; 3 when rows went to the fail-safe path (files named); 4 when validation failed; 2 for a
configuration or input that does not fit; 1 for a run that failed. One line per error, `--debug` for the
traceback; an unwritable fail-safe path reports the original error, the batch and the path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from airflow_provider_hazy import api
from airflow_provider_hazy.cli import main
from airflow_provider_hazy.config import TrainingConfig
from airflow_provider_hazy.outcome import EXIT_CONFIG, EXIT_FAIL_SAFE, EXIT_RUNTIME, EXIT_VALIDATION

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ROWS = 300


@pytest.fixture
def trained(tmp_path, monkeypatch):
    """A working directory with a customers model and a SQLite target `t` already holding one run's rows."""
    (tmp_path / "examples").mkdir()
    shutil.copy(EXAMPLES / "customers.csv", tmp_path / "examples" / "customers.csv")
    monkeypatch.chdir(tmp_path)
    api.train(TrainingConfig.from_file(EXAMPLES / "training.yaml").model_copy(update={"nrows": ROWS}))
    monkeypatch.setenv("HAZY_CONN_T", f"sqlite:///{tmp_path / 'target.db'}")
    assert main(["generate", generation({"source_id": "t", "table_name": "customers", "if_exists": "replace"})]) == 0
    return tmp_path


def generation(location, name="gen.yaml") -> str:
    data = {
        "model": "out/customers.hmf",
        "random_state": 7,
        "data_sources": [{"id": "t"}],
        "data_output": [{"name": "customers", "location": location}],
        "generation_state_path": "out/state.json",
    }
    Path(name).write_text(yaml.safe_dump(data), encoding="utf-8")
    return name


def error_lines(capsys) -> list:
    return capsys.readouterr().err.strip().splitlines()


def test_rows_in_the_fail_safe_path_exit_3_naming_the_file(trained, capsys):
    # a schema the database does not have: the batch cannot be written and goes to the fail-safe path
    location = {
        "source_id": "t",
        "schema_name": "missing",
        "table_name": "customers",
        "if_exists": "append",
        "fail_safe_path": "out/failed",
    }
    config = generation(location)
    capsys.readouterr()
    assert main(["generate", config]) == EXIT_FAIL_SAFE == 3
    [line] = error_lines(capsys)
    fail_safe_file = json.loads(Path("out/state.json").read_text())["tables"]["customers"]["batches"][0]["destination"]
    assert Path(fail_safe_file).exists()
    assert line.startswith("hazy generate: 1 batch(es), 300 rows, went to the fail-safe path:")
    assert f"table 'customers' batch 0 -> {fail_safe_file}" in line and "unknown database missing" in line


def test_validation_failed_exits_4_naming_the_checks(trained, capsys, monkeypatch):
    from airflow_provider_hazy.pipeline import evaluation

    metadata = evaluation.generation_metadata
    monkeypatch.setattr(  # a model expecting twice the rows: the staging's row count fails validation
        evaluation, "generation_metadata", lambda *args: {**metadata(*args), "rows": 2 * ROWS}
    )
    capsys.readouterr()
    assert main(["generate", generation({"path": "out/s.csv", "if_exists": "append"})]) == EXIT_VALIDATION == 4
    [line] = error_lines(capsys)
    assert line.startswith("hazy generate: validation failed, 1 check(s):")
    assert "row_count failed" in line
    assert not Path("out/s.csv").exists()  # a staging that fails validation is not published


def test_an_unwritable_fail_safe_path_reports_the_original_error_the_batch_and_the_path(trained, capsys):
    Path("a-file").write_text("not a directory", encoding="utf-8")
    config = generation(
        {
            "source_id": "t",
            "schema_name": "missing",
            "table_name": "customers",
            "if_exists": "append",
            "fail_safe_path": "a-file/failed",
        }
    )
    capsys.readouterr()
    assert main(["generate", config]) == EXIT_RUNTIME == 1
    [line] = error_lines(capsys)
    assert "unknown database missing" in line  # the database's error
    assert "batch 0 could not be written to the fail-safe path a-file/failed either: NotADirectoryError" in line
    state = json.loads(Path("out/state.json").read_text())
    assert state["tables"]["customers"]["batches"][0]["status"] == "failed"


def test_an_unset_data_source_exits_2_in_one_line_naming_the_variable(trained, capsys, monkeypatch):
    monkeypatch.delenv("HAZY_CONN_T")
    capsys.readouterr()
    assert main(["generate", generation({"source_id": "t", "table_name": "customers"})]) == EXIT_CONFIG == 2
    assert error_lines(capsys) == [
        "hazy generate: table 'customers': data source 't': environment variable HAZY_CONN_T is not set (set it to "
        "a SQLAlchemy URL or an S3 endpoint URL, or run inside Airflow with a connection 't')"
    ]


def _training_from_table(table_name: str) -> str:
    data = yaml.safe_load((EXAMPLES / "training.yaml").read_text(encoding="utf-8"))
    data["data_sources"] = [{"id": "t"}]
    data["data_input"] = [{"name": "customers", "location": {"source_id": "t", "table_name": table_name}}]
    Path("train.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return "train.yaml"


def test_a_missing_table_exits_2_in_one_line_naming_it(trained, capsys):
    capsys.readouterr()
    assert main(["train", _training_from_table("customerz")]) == EXIT_CONFIG
    assert error_lines(capsys) == ["hazy train: table 'customers': database table 'customerz' does not exist"]


def test_debug_adds_the_traceback_anywhere_on_the_line(trained, capsys):
    capsys.readouterr()
    assert main(["train", _training_from_table("customerz"), "--debug"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "reflect_table" in err
    assert err.strip().splitlines()[-1] == "hazy train: table 'customers': database table 'customerz' does not exist"
    assert main(["--debug", "train", _training_from_table("customerz")]) == EXIT_CONFIG
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_an_invalid_config_prints_one_line_per_problem(tmp_path, capsys):
    path = tmp_path / "training.yaml"
    data = yaml.safe_load((EXAMPLES / "training.yaml").read_text(encoding="utf-8"))
    data["nrows"] = 0
    data["epochs"] = 3
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert main(["train", str(path)]) == EXIT_CONFIG
    lines = error_lines(capsys)
    assert len(lines) == 2
    assert all(line.startswith("hazy train: invalid configuration: ") for line in lines)
    assert any("nrows:" in line for line in lines)
    assert any("epochs: Extra inputs are not permitted" in line for line in lines)


def test_a_database_failure_exits_1_without_the_sql_or_a_traceback(trained, capsys, monkeypatch):
    Path("locked").mkdir()
    monkeypatch.setenv("HAZY_CONN_T", "sqlite:///locked/")  # a directory: SQLite cannot open it
    capsys.readouterr()
    assert main(["train", _training_from_table("customers")]) == EXIT_RUNTIME
    [line] = error_lines(capsys)
    assert line.startswith("hazy train: ") and "unable to open database file" in line
    assert "Traceback" not in line and "[SQL:" not in line
