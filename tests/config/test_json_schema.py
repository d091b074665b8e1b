"""JSON Schema export: every field under `properties`, the reference's constraints, and dumped configs
validate against it with `jsonschema`."""

import jsonschema
import pytest

from airflow_provider_hazy.config import GenerationConfig, TrainingConfig


def validator_for(cls) -> jsonschema.protocols.Validator:
    """A jsonschema validator for the JSON Schema of `cls` (the schema itself checked first)."""
    schema = cls.json_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def definition(schema: dict, name: str) -> dict:
    return schema["$defs"][name]


def non_null(property_schema: dict) -> dict:
    """The non-null branch of an Optional property."""
    branches = [branch for branch in property_schema.get("anyOf", [property_schema]) if branch.get("type") != "null"]
    assert len(branches) == 1
    return branches[0]


@pytest.mark.parametrize("cls", [TrainingConfig, GenerationConfig])
def test_json_schema_is_a_dict_with_every_field_under_properties(cls):
    schema = cls.json_schema()
    assert isinstance(schema, dict)
    assert schema["type"] == "object"
    assert list(schema["properties"]) == list(cls.model_fields)


@pytest.mark.parametrize(
    ("cls", "required"), [(TrainingConfig, ["data_schema", "data_input"]), (GenerationConfig, ["data_output"])]
)
def test_json_schema_requires_the_required_fields(cls, required):
    assert cls.json_schema()["required"] == required


@pytest.mark.parametrize("cls", [TrainingConfig, GenerationConfig])
def test_json_schema_forbids_unknown_fields(cls):
    assert cls.json_schema()["additionalProperties"] is False


def test_json_schema_of_nrows_has_the_reference_exclusive_minimum():
    assert non_null(TrainingConfig.json_schema()["properties"]["nrows"])["exclusiveMinimum"] == 0


@pytest.mark.parametrize(
    ("cls", "definition_name", "field"),
    [
        (TrainingConfig, "SampleParams", "magnitude"),
        (TrainingConfig, "EvalSampleParams", "magnitude"),
        (TrainingConfig, "PrivBayesConfig", "epsilon"),
        (GenerationConfig, "GenSampleParams", "magnitude"),
        (GenerationConfig, "GenSampleParams", "batch_magnitude"),
    ],
)
def test_json_schema_has_the_reference_exclusive_minimum(cls, definition_name, field):
    property_schema = definition(cls.json_schema(), definition_name)["properties"][field]
    assert non_null(property_schema)["exclusiveMinimum"] == 0


def test_json_schema_lists_the_enum_values():
    schema = TrainingConfig.json_schema()
    assert definition(schema, "BinningStrategyType")["enum"] == ["uniform", "quantile"]
    assert definition(schema, "AdjacencyType")["enum"] == ["default", "random", "degree_preserving"]


def test_json_schema_gives_the_reference_defaults():
    schema = TrainingConfig.json_schema()
    priv_bayes = definition(schema, "PrivBayesConfig")["properties"]
    assert priv_bayes["epsilon"]["default"] == 1000.0
    assert priv_bayes["n_parents"]["default"] == 3
    assert priv_bayes["sample_parents"]["default"] == 25
    assert schema["properties"]["empty_strings_as_null"]["default"] is True


def test_a_dumped_rich_training_config_validates_against_the_json_schema(rich_training_config):
    validator_for(TrainingConfig).validate(rich_training_config.model_dump(mode="json"))


def test_a_dumped_rich_generation_config_validates_against_the_json_schema(rich_generation_config):
    validator_for(GenerationConfig).validate(rich_generation_config.model_dump(mode="json"))


def test_the_json_schema_rejects_a_config_with_an_unknown_field(rich_generation_config):
    data = rich_generation_config.model_dump(mode="json")
    data["magnitude"] = 2.0
    with pytest.raises(jsonschema.ValidationError, match="'magnitude' was unexpected"):
        validator_for(GenerationConfig).validate(data)


def test_the_json_schema_rejects_a_zero_nrows(rich_training_config):
    data = rich_training_config.model_dump(mode="json")
    data["nrows"] = 0
    with pytest.raises(jsonschema.ValidationError):
        validator_for(TrainingConfig).validate(data)
