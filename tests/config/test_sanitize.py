"""Secrets: `sanitize()` drops inline connection URLs; dumps and reprs never reveal them."""

import json

import pytest

from airflow_provider_hazy.config import (
    DatabaseReadTableConfig,
    DatabaseWriteTableConfig,
    DataLocationInput,
    DataLocationOutput,
    DataSchema,
    GenerationConfig,
    SecretDataSource,
    SecretDataSourceIO,
    TrainingConfig,
)

PASSWORD = "s3cr3t-Pa55"
URL = f"postgresql://analyst:{PASSWORD}@db.internal:5432/prod"


def training_config_with_inline_secret() -> TrainingConfig:
    """A training config reading through a data source whose connection URL holds a password."""
    return TrainingConfig(
        data_schema=DataSchema.model_validate(
            {"tables": [{"name": "customers", "type": "tabular", "columns": [{"name": "id", "type": "id"}]}]}
        ),
        data_input=[
            DataLocationInput(
                name="customers", location=DatabaseReadTableConfig(source_id="prod", table_name="customers")
            )
        ],
        data_sources=[
            SecretDataSourceIO(id="prod", name="Production", conn_id="postgres_prod", connection_url=URL),
            SecretDataSource(id="lake", name="Lake"),
        ],
    )


def generation_config_with_inline_secret() -> GenerationConfig:
    """A generation config writing through a data source whose connection URL holds a password."""
    return GenerationConfig(
        data_output=[
            DataLocationOutput(
                name="customers", location=DatabaseWriteTableConfig(source_id="target", table_name="customers")
            )
        ],
        data_sources=[SecretDataSourceIO(id="target", connection_url=URL)],
    )


CONFIGS = [training_config_with_inline_secret, generation_config_with_inline_secret]


def test_sanitize_turns_a_secret_data_source_io_into_a_secret_data_source():
    sanitized = training_config_with_inline_secret().sanitize()
    source = sanitized.data_sources[0]
    assert type(source) is SecretDataSource
    assert source == SecretDataSource(id="prod", name="Production", conn_id="postgres_prod")
    assert not hasattr(source, "connection_url")


def test_sanitize_keeps_a_secret_free_data_source_as_it_is():
    assert training_config_with_inline_secret().sanitize().data_sources[1] == SecretDataSource(id="lake", name="Lake")


@pytest.mark.parametrize("build", CONFIGS)
def test_the_password_appears_nowhere_in_a_sanitized_dump(build):
    sanitized = build().sanitize()
    text = sanitized.model_dump_json()
    assert PASSWORD not in text
    assert "connection_url" not in text
    assert PASSWORD not in repr(sanitized)
    assert PASSWORD not in json.dumps(sanitized.model_dump(mode="json"))


@pytest.mark.parametrize("build", CONFIGS)
def test_sanitize_leaves_the_original_unchanged(build):
    config = build()
    config.sanitize()
    source = config.data_sources[0]
    assert type(source) is SecretDataSourceIO
    assert source.connection_url.get_secret_value() == URL


@pytest.mark.parametrize("build", CONFIGS)
def test_sanitize_returns_a_config_of_the_same_class(build):
    config = build()
    assert type(config.sanitize()) is type(config)


@pytest.mark.parametrize("build", CONFIGS)
def test_a_sanitized_config_is_still_valid(build):
    sanitized = build().sanitize()
    assert type(sanitized).model_validate_json(sanitized.model_dump_json()) == sanitized


@pytest.mark.parametrize("build", CONFIGS)
def test_an_unsanitized_dump_masks_the_password(build):
    config = build()
    assert PASSWORD not in config.model_dump_json()
    assert PASSWORD not in json.dumps(config.model_dump(mode="json"))
    assert PASSWORD not in repr(config)
    assert PASSWORD not in str(config)


def test_the_connection_url_is_readable_only_on_request():
    source = SecretDataSourceIO(id="prod", connection_url=URL)
    assert str(source.connection_url) == "**********"
    assert source.connection_url.get_secret_value() == URL


def test_a_data_source_names_its_airflow_connection_by_id_unless_conn_id_is_set():
    assert SecretDataSource(id="prod").connection_id == "prod"
    assert SecretDataSource(id="prod", conn_id="postgres_prod").connection_id == "postgres_prod"


@pytest.mark.parametrize(("source_id", "env_var"), [("prod", "HAZY_CONN_PROD"), ("prod-db.eu", "HAZY_CONN_PROD_DB_EU")])
def test_a_data_source_resolves_outside_airflow_from_an_environment_variable(source_id, env_var):
    assert SecretDataSource(id=source_id).env_var == env_var


def test_a_config_file_written_with_a_masked_secret_is_refused_on_load(tmp_path):
    path = training_config_with_inline_secret().to_file(tmp_path / "train.yaml")
    assert PASSWORD not in path.read_text()
    with pytest.raises(ValueError, match="connection_url is masked"):
        TrainingConfig.from_file(path)
