"""The `hazy` command line: `hazy schema training|generation`, `hazy check CONFIG`."""

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from airflow_provider_hazy.cli import main
from airflow_provider_hazy.config import GenerationConfig, TrainingConfig


def write_training_yaml(path: Path) -> Path:
    """A valid two-table training config: customers from a CSV file, orders from a database."""
    path.write_text(
        yaml.safe_dump(
            {
                "model_output": "out/shop.hmf",
                "data_schema": {
                    "tables": [
                        {
                            "name": "customers",
                            "type": "tabular",
                            "columns": [{"name": "customer_id", "type": "id"}, {"name": "segment", "type": "category"}],
                        },
                        {
                            "name": "orders",
                            "type": "tabular",
                            "columns": [
                                {"name": "order_id", "type": "id"},
                                {
                                    "name": "customer_id",
                                    "type": "foreign_key",
                                    "ref_table": "customers",
                                    "ref_column": "customer_id",
                                },
                            ],
                        },
                    ]
                },
                "data_input": [
                    {"name": "customers", "location": "data/customers.csv"},
                    {
                        "name": "orders",
                        "location": {"source_id": "shop", "schema_name": "sales", "table_name": "orders"},
                    },
                ],
                "data_sources": [{"id": "shop", "conn_id": "postgres_shop"}],
                "model_parameters": {"generator": {"generator_type": "priv_bayes", "epsilon": 3.0}},
            }
        ),
        encoding="utf-8",
    )
    return path


def write_generation_json(path: Path) -> Path:
    """A valid generation config writing one table to a file and one to a database."""
    config = {
        "model": "out/shop.hmf",
        "data_output": [
            {"name": "customers", "location": {"path": "out/customers.parquet", "if_exists": "replace"}},
            {"name": "orders", "location": {"source_id": "target", "table_name": "orders", "if_exists": "append"}},
        ],
        "data_sources": [{"id": "target"}],
        "generation_state_path": "out/state.json",
    }
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def check_json_schema(text: str) -> dict:
    """Parse `text` as JSON and check that it is a valid JSON Schema."""
    schema = json.loads(text)
    jsonschema.validators.validator_for(schema).check_schema(schema)
    return schema


# hazy schema


def test_schema_training_prints_the_training_config_json_schema(capsys):
    assert main(["schema", "training"]) == 0
    schema = check_json_schema(capsys.readouterr().out)
    assert schema == TrainingConfig.json_schema()
    assert "data_schema" in schema["properties"]


def test_schema_generation_writes_the_generation_config_json_schema_to_a_file(tmp_path, capsys):
    output = tmp_path / "generation.schema.json"
    assert main(["schema", "generation", "-o", str(output)]) == 0
    assert capsys.readouterr().out == ""
    assert check_json_schema(output.read_text(encoding="utf-8")) == GenerationConfig.json_schema()


def test_schema_of_an_unknown_kind_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["schema", "evaluation"])
    assert caught.value.code == 2
    assert "invalid choice: 'evaluation'" in capsys.readouterr().err


# hazy check


def test_check_says_a_training_yaml_is_valid(tmp_path, capsys):
    path = write_training_yaml(tmp_path / "training.yaml")
    assert main(["check", str(path), "--offline"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"{path}: valid TrainingConfig"


def test_check_says_which_tables_a_training_config_reads_from_where(tmp_path, capsys):
    main(["check", str(write_training_yaml(tmp_path / "training.yaml")), "--offline"])
    out = capsys.readouterr().out
    assert "generator: priv_bayes (epsilon=3.0)" in out
    assert "reads  tabular table 'customers' (2 columns) from data/customers.csv" in out
    assert "reads  tabular table 'orders' (2 columns) from database source 'shop': table sales.orders" in out


def test_check_says_where_a_training_config_writes_the_model(tmp_path, capsys):
    main(["check", str(write_training_yaml(tmp_path / "training.yaml")), "--offline"])
    assert "writes model to out/shop.hmf" in capsys.readouterr().out


def test_check_says_a_generation_json_is_valid(tmp_path, capsys):
    path = write_generation_json(tmp_path / "generation.json")
    assert main(["check", str(path), "--offline"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"{path}: valid GenerationConfig"


def test_check_says_what_a_generation_config_reads_and_writes(tmp_path, capsys):
    main(["check", str(write_generation_json(tmp_path / "generation.json")), "--offline"])
    lines = capsys.readouterr().out.splitlines()[1:]
    assert lines == [
        "reads  model from out/shop.hmf",
        "writes table 'customers' to out/customers.parquet (if_exists=replace)",
        "writes table 'orders' to database source 'target': table orders (if_exists=append)",
        "writes generation state to out/state.json",
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"nrows": 0}, "nrows"),
        ({"epochs": 10}, "epochs"),
        ({"model_parameters": {"generator": {"generator_type": "priv_bayes", "epsilon": -1}}}, "epsilon"),
    ],
)
def test_check_of_an_invalid_training_config_exits_2_naming_the_field(tmp_path, capsys, change, field):
    path = write_training_yaml(tmp_path / "training.yaml")
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text(encoding="utf-8")), **change}), encoding="utf-8")
    assert main(["check", str(path), "--offline"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "hazy check: invalid configuration" in captured.err
    assert field in captured.err


def test_check_of_an_invalid_generation_config_exits_2_naming_the_field(tmp_path, capsys):
    path = tmp_path / "generation.json"
    path.write_text(json.dumps({"data_output": [], "generate_params": {"magnitude": 0}}), encoding="utf-8")
    assert main(["check", str(path), "--offline"]) == 2
    assert "generate_params.magnitude" in capsys.readouterr().err


def test_check_of_a_schema_error_exits_2_naming_the_table(tmp_path, capsys):
    path = write_training_yaml(tmp_path / "training.yaml")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["data_schema"]["tables"][1]["columns"][1]["ref_table"] = "clients"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert main(["check", str(path), "--offline"]) == 2
    assert "table 'orders', column 'customer_id': foreign key to unknown table 'clients'" in capsys.readouterr().err


def test_check_of_a_file_that_is_no_config_exits_2_saying_so(tmp_path, capsys):
    path = tmp_path / "other.yaml"
    path.write_text("name: not a config\n", encoding="utf-8")
    assert main(["check", str(path), "--offline"]) == 2
    assert "neither a training config" in capsys.readouterr().err


def test_check_of_a_file_that_is_not_valid_yaml_exits_2_naming_it(tmp_path, capsys):
    path = tmp_path / "training.yaml"
    path.write_text("data_schema: {tables: [\n", encoding="utf-8")
    assert main(["check", str(path), "--offline"]) == 2
    assert f"{path}: not valid YAML" in capsys.readouterr().err


def test_check_of_a_missing_file_exits_2_naming_it(tmp_path, capsys):
    path = tmp_path / "missing.yaml"
    assert main(["check", str(path), "--offline"]) == 2
    assert str(path) in capsys.readouterr().err


# The installed console script


def test_the_hazy_console_script_prints_the_training_json_schema():
    hazy = Path(sys.executable).parent / "hazy"
    result = subprocess.run([str(hazy), "schema", "training"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert check_json_schema(result.stdout)["title"] == "TrainingConfig"
