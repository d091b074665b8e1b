"""Operators take a config object, a dict or a file; Jinja renders its values; bad configs fail with their
own message; connection ids override the config's data sources without copying a secret into it."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from airflow_provider_hazy import sample_data
from airflow_provider_hazy.config import GenerationConfig, SecretDataSourceIO, TrainingConfig
from airflow_provider_hazy.operators import HazyGenerateOperator, HazySubsetOperator, HazyTrainOperator
from airflow_provider_hazy.operators.configs import apply_connections


def test_jinja_renders_ds_into_a_path_and_params_into_a_nested_number(tmp_path):
    config = sample_data.training_config(
        ["customers"], model_output=str(tmp_path / "{{ ds }}" / "model.hmf"), epsilon="{{ params.epsilon }}"
    )
    operator = HazyTrainOperator(task_id="train", config=config, source_conn_id="{{ params.source }}")
    operator.render_template_fields({"ds": "2024-03-01", "params": {"epsilon": 0.7, "source": "my_db"}})
    loaded = operator.load(TrainingConfig)
    assert loaded.model_parameters.generator.epsilon == 0.7  # the string "0.7" coerced by the config
    assert loaded.model_output == str(tmp_path / "2024-03-01" / "model.hmf")
    assert operator.source_conn_id == "my_db"


def test_config_from_a_yaml_file_and_from_an_object(tmp_path):
    path = TrainingConfig.model_validate(sample_data.training_config(["customers"])).to_file(tmp_path / "t.yaml")
    from_file = HazyTrainOperator(task_id="a", config=str(path)).load(TrainingConfig)
    from_object = HazyTrainOperator(task_id="b", config=from_file).load(TrainingConfig)
    assert from_file == from_object
    assert [item.name for item in from_file.data_input] == ["customers"]


def test_bad_config_fails_with_the_config_error_naming_the_field():
    config = sample_data.training_config(["customers"], epsilon=-1)
    with pytest.raises(ValidationError, match="epsilon"):
        HazyTrainOperator(task_id="train", config=config).execute({})


def test_missing_config_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.yaml"):
        HazyTrainOperator(task_id="train", config=str(tmp_path / "nowhere.yaml")).execute({})


def test_source_conn_id_overrides_an_inline_secret_without_keeping_it():
    data = sample_data.training_config(["customers"])
    data["data_sources"] = [{"id": "source", "connection_url": "postgresql://u:inline-pw@db/prod"}]
    config = TrainingConfig.model_validate(data)
    assert isinstance(config.data_sources[0], SecretDataSourceIO)
    bound, overrides = apply_connections(config, source_conn_id="warehouse")
    assert overrides == {"source": "warehouse"}
    assert [type(s).__name__ for s in bound.data_sources] == ["SecretDataSource"]
    assert bound.data_sources[0].connection_id == "warehouse"
    assert "inline-pw" not in json.dumps(bound.model_dump(mode="json"))


def test_aws_conn_id_binds_every_s3_path():
    data = sample_data.generation_config(["customers"], model="m.hmf")
    data["data_sources"] = []
    data["data_output"] = [{"name": "customers", "location": "s3://bucket/out/customers.parquet"}]
    bound, overrides = apply_connections(GenerationConfig.model_validate(data), aws_conn_id="minio")
    location = bound.data_output[0].location
    assert location.path == "s3://bucket/out/customers.parquet"
    assert overrides == {location.source_id: "minio"}
    assert [s.id for s in bound.data_sources] == [location.source_id]


def test_outlets_name_what_the_operator_writes(tmp_path):
    generation = sample_data.generation_config(["customers", "branches"], model="m.hmf")
    operator = HazyGenerateOperator(task_id="g", config=generation, target_conn_id="warehouse")
    assert sorted(a.uri for a in operator.outlets) == [
        "x-hazy-sql://warehouse/branches",
        "x-hazy-sql://warehouse/customers",
    ]
    training = sample_data.training_config(["customers"], model_output=str(tmp_path / "m.hmf"))
    assert [a.uri for a in HazyTrainOperator(task_id="t", config=training).outlets] == [f"file://{tmp_path}/m.hmf"]
    templated = sample_data.training_config(["customers"], model_output="{{ ds }}/m.hmf")
    assert HazyTrainOperator(task_id="t2", config=templated).outlets == []


def test_constructing_an_operator_reads_nothing(tmp_path):
    missing = str(tmp_path / "absent" / "config.yaml")
    operator = HazySubsetOperator(task_id="s", config=missing, output_dir=str(tmp_path / "out"))
    assert operator.config == missing and not (tmp_path / "out").exists()
