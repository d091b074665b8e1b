"""`hazy inspect` / `evaluate` / `validate` / `report` round trips, and planted faults in a written CSV and a
written SQLite table that `hazy validate` must catch, naming table, column and count."""

import json
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import yaml

from airflow_provider_hazy import api
from airflow_provider_hazy.cli import main
from airflow_provider_hazy.config import TrainingConfig

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ROWS = 600


@pytest.fixture
def trained(tmp_path, monkeypatch):
    """A working directory with the example table and a model trained on its first ROWS rows."""
    (tmp_path / "examples").mkdir()
    shutil.copy(EXAMPLES / "customers.csv", tmp_path / "examples" / "customers.csv")
    monkeypatch.chdir(tmp_path)
    config = TrainingConfig.from_file(EXAMPLES / "training.yaml").model_copy(update={"nrows": ROWS})
    api.train(config)
    return tmp_path


def write_yaml(path: str, data: dict) -> str:
    Path(path).write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def generation_file(location, name="gen.yaml", **extra) -> str:
    data = {
        "model": "out/customers.hmf",
        "random_state": 7,
        "generate_params": {"magnitude": 1.0},
        "data_output": [{"name": "customers", "location": location}],
        "generation_state_path": "out/state.json",
        **extra,
    }
    return write_yaml(name, data)


def test_inspect_text_says_the_scores_are_outside_the_budget(trained, capsys):
    assert main(["inspect", "out/customers.hmf"]) == 0
    out = capsys.readouterr().out
    assert "OUTSIDE the privacy budget" in out
    score = api.inspect_model("out/customers.hmf")["evaluation"]["histogram_similarity"]["score"]
    assert f"histogram_similarity: {score:.4f}" in out
    assert main(["inspect", "out/customers.hmf", "--json"]) == 0
    evaluation = json.loads(capsys.readouterr().out)["evaluation"]
    assert evaluation["outside_privacy_budget"] is True
    assert evaluation["histogram_similarity"]["score"] == score


def test_evaluate_then_report_round_trip(trained, capsys):
    source = pd.read_csv("examples/customers.csv")
    source.iloc[:ROWS].to_csv("real.csv", index=False)
    source.iloc[ROWS : ROWS + 300].to_csv("holdout.csv", index=False)
    assert main(["generate", generation_file({"path": "out/synthetic.csv", "if_exists": "replace"})]) == 0
    metrics = [
        {"metric_type": "histogram_similarity"},
        {"metric_type": "mutual_information_similarity"},
        {"metric_type": "predictive_utility", "target": "segment"},
        {"metric_type": "distance_to_closest_record"},
    ]
    config = write_yaml(
        "evaluate.yaml",
        {
            "model": "out/customers.hmf",
            "real": [{"name": "customers", "location": "real.csv"}],
            "synthetic": [{"name": "customers", "location": "out/synthetic.csv"}],
            "holdout": [{"name": "customers", "location": "holdout.csv"}],
            "evaluation": {"metrics": metrics},
            "random_state": 1,
            "output": "out/evaluation.json",
        },
    )
    assert main(["evaluate", config]) == 0
    assert "OUTSIDE the privacy budget" in capsys.readouterr().out
    results = json.loads(Path("out/evaluation.json").read_text())
    assert results["outside_privacy_budget"] is True and results["holdout_rows"] == {"customers": 300}
    assert [key for key in results if key in {m["metric_type"] for m in metrics}] == [m["metric_type"] for m in metrics]
    for metric in metrics:
        assert 0.0 <= results[metric["metric_type"]]["score"] <= 1.0
    # On demand the person column's histogram is kept (the file is the user's, not the model).
    assert "bins" in results["histogram_similarity"]["tables"]["customers"]["columns"]["segment"]

    assert main(["report", "out/evaluation.json", "-o", "out/report.html"]) == 0
    page = Path("out/report.html").read_text()
    assert page.count("<svg") > 10 and "Outside the privacy budget" in page
    assert "distance_to_closest_record" in page and "Predictive utility" in page


def test_report_from_a_model_file(trained):
    assert main(["report", "out/customers.hmf", "-o", "out/model-report.html"]) == 0
    page = Path("out/model-report.html").read_text()
    assert "class='chart heatmap'" in page and "class='chart bars'" in page
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")


def test_report_of_a_model_without_evaluation_is_an_error(trained, capsys):
    config = TrainingConfig.from_file(EXAMPLES / "training.yaml").model_copy(
        update={"nrows": 100, "evaluation": None, "model_output": "out/bare.hmf"}
    )
    api.train(config)
    assert main(["report", "out/bare.hmf", "-o", "out/r.html"]) == 2
    assert "holds no evaluation" in capsys.readouterr().err


def test_evaluate_config_needs_a_schema(trained, capsys):
    config = write_yaml(
        "bad.yaml",
        {"real": [{"name": "t", "location": "a.csv"}], "synthetic": [{"name": "t", "location": "b.csv"}]},
    )
    assert main(["evaluate", config]) == 2
    assert "set data_schema, or model" in capsys.readouterr().err


def failed(out: str) -> list:
    return [line.strip() for line in out.splitlines() if line.strip().startswith("FAILED")]


def test_validate_catches_faults_planted_in_a_written_csv(trained, capsys):
    config = generation_file({"path": "out/synthetic.csv", "if_exists": "replace"})
    assert main(["generate", config]) == 0
    assert main(["validate", config]) == 0
    frame = pd.read_csv("out/synthetic.csv")
    frame.loc[1, "customer_id"] = frame.loc[0, "customer_id"]  # a duplicate key
    frame.loc[[3, 4, 5], "region"] = "moon"  # an unknown category
    frame.loc[[6, 7], "age"] = 500  # outside the model's range
    frame.iloc[:-4].to_csv("out/synthetic.csv", index=False)  # a wrong row count
    capsys.readouterr()
    assert main(["validate", config]) == 4  # EXIT_VALIDATION
    lines = failed(capsys.readouterr().out)
    assert len(lines) == 4, lines
    text = "\n".join(lines)
    assert "table 'customers': row_count failed (4 violation(s)" in text
    assert "table 'customers', column 'customer_id': primary_key_unique failed (1 violation(s)" in text
    assert "table 'customers', column 'region': category_domain failed (3 violation(s), e.g. ['moon'])" in text
    assert "table 'customers', column 'age': numeric_range failed (2 violation(s), e.g. [500])" in text
    report = json.loads(Path("out/state.validation.json").read_text())
    assert report["passed"] is False and report["n_failed"] == 4


def test_validate_catches_faults_planted_in_a_written_sqlite_table(trained, capsys, monkeypatch):
    database = trained / "synthetic.db"
    monkeypatch.setenv("HAZY_CONN_WAREHOUSE", f"sqlite:///{database}")
    location = {"source_id": "warehouse", "table_name": "synthetic_customers", "if_exists": "replace"}
    config = generation_file(location, data_sources=[{"id": "warehouse"}])
    assert main(["generate", config]) == 0
    assert main(["validate", config]) == 0, capsys.readouterr().out
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE synthetic_customers SET segment = 'wholesale' WHERE rowid IN (1, 2)")
        connection.execute("UPDATE synthetic_customers SET name = NULL WHERE rowid = 3")
        # The table was created with the schema's primary key, so the database itself refuses a duplicate key:
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            connection.execute("INSERT INTO synthetic_customers SELECT * FROM synthetic_customers WHERE rowid = 4")
        connection.execute("DELETE FROM synthetic_customers WHERE rowid = 4")
    capsys.readouterr()
    assert main(["validate", config]) == 4  # EXIT_VALIDATION
    text = "\n".join(failed(capsys.readouterr().out))
    assert "table 'customers', column 'segment': category_domain failed (2 violation(s), e.g. ['wholesale'])" in text
    assert "table 'customers', column 'name': not_null failed (1 violation(s)" in text
    assert "table 'customers': row_count failed (1 violation(s), e.g. [599])" in text
