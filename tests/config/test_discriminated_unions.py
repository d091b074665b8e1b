"""Tagged fields pick the class: `generator_type`, `metric_type`, a column's and a table's `type`, a
post-generation step's `action`; untagged unions (locations, data sources) pick by their fields."""

import json

import pytest
from pydantic import TypeAdapter, ValidationError

from airflow_provider_hazy.config import (
    AgeColumn,
    BoolColumn,
    CastColumn,
    CategoryColumn,
    ClipColumn,
    ColumnType,
    ConstantColumn,
    CrossTableMutualInformationSimilarityParams,
    DatabaseReadTableConfig,
    DatabaseWriteTableConfig,
    DataLocationInput,
    DataLocationOutput,
    DataSchema,
    DateColumn,
    DatetimeColumn,
    DegreeDistributionSimilarityParams,
    DensityDisclosureParams,
    DistanceToClosestRecordParams,
    DropColumns,
    EvaluationConfig,
    FloatColumn,
    ForeignKeyColumn,
    GenerationConfig,
    GenericEndpoint,
    HistogramSimilarityParams,
    IdColumn,
    IndependentConfig,
    IntegerColumn,
    LocationColumn,
    MetricType,
    ModelParameters,
    MutualInformationSimilarityParams,
    PathReadTableConfig,
    PathWriteTableConfig,
    PersonColumn,
    PredictiveUtilityParams,
    PresenceDisclosureParams,
    PrivBayesConfig,
    ReferenceTable,
    RenameColumns,
    SecretDataSource,
    SecretDataSourceIO,
    SequentialTable,
    SqlExpression,
    TablePostGeneration,
    TabularTable,
    TrainingConfig,
)
from airflow_provider_hazy.config.schema import Column

# generator_type


@pytest.mark.parametrize(
    ("generator_type", "cls"), [("priv_bayes", PrivBayesConfig), ("independent", IndependentConfig)]
)
def test_generator_type_selects_the_generator_class(generator_type, cls):
    parameters = ModelParameters.model_validate({"generator": {"generator_type": generator_type, "epsilon": 2.0}})
    assert type(parameters.generator) is cls
    assert parameters.generator.epsilon == 2.0


def test_generator_type_selects_the_generator_class_from_json():
    parameters = ModelParameters.model_validate_json('{"generator": {"generator_type": "independent", "n_bins": 8}}')
    assert parameters.generator == IndependentConfig(n_bins=8)


def test_an_unknown_generator_type_is_rejected_naming_generator_type():
    with pytest.raises(ValidationError) as caught:
        ModelParameters.model_validate({"generator": {"generator_type": "ctgan"}})
    error = caught.value.errors()[0]
    assert error["loc"] == ("generator",)
    assert error["type"] == "unknown_tag"
    assert "'generator_type' must be one of 'priv_bayes', 'independent'" in error["msg"]
    assert error["input"] == {"generator_type": "ctgan"}


def test_a_generator_without_generator_type_is_priv_bayes():
    assert type(ModelParameters.model_validate({"generator": {"epsilon": 1.0}}).generator) is PrivBayesConfig


def test_a_field_of_another_generator_is_rejected():
    with pytest.raises(ValidationError) as caught:
        ModelParameters.model_validate({"generator": {"generator_type": "independent", "n_parents": 2}})
    assert caught.value.errors()[0]["loc"] == ("generator", "independent", "n_parents")


# metric_type

METRICS = [
    ("histogram_similarity", HistogramSimilarityParams),
    ("mutual_information_similarity", MutualInformationSimilarityParams),
    ("cross_table_mutual_information_similarity", CrossTableMutualInformationSimilarityParams),
    ("degree_distribution_similarity", DegreeDistributionSimilarityParams),
    ("predictive_utility", PredictiveUtilityParams),
    ("presence_disclosure", PresenceDisclosureParams),
    ("density_disclosure", DensityDisclosureParams),
    ("distance_to_closest_record", DistanceToClosestRecordParams),
]


@pytest.mark.parametrize(("metric_type", "cls"), METRICS)
def test_metric_type_selects_the_metric_params_class(metric_type, cls):
    evaluation = EvaluationConfig.model_validate({"metrics": [{"metric_type": metric_type, "table": "t"}]})
    (metric,) = evaluation.metrics
    assert type(metric) is cls
    assert metric.metric_type is MetricType(metric_type)
    assert metric.table == "t"


def test_every_metric_type_has_a_params_class():
    assert sorted(metric_type for metric_type, _ in METRICS) == sorted(member.value for member in MetricType)


def test_an_unknown_metric_type_is_rejected_naming_metric_type():
    with pytest.raises(ValidationError) as caught:
        EvaluationConfig.model_validate({"metrics": [{"metric_type": "accuracy"}]})
    error = caught.value.errors()[0]
    assert error["loc"] == ("metrics", 0)
    assert "'metric_type'" in error["msg"]


def test_predictive_utility_takes_a_target_column():
    evaluation = EvaluationConfig.model_validate({"metrics": [{"metric_type": "predictive_utility", "target": "y"}]})
    assert evaluation.metrics[0].target == "y"


def test_a_target_on_another_metric_is_rejected():
    with pytest.raises(ValidationError) as caught:
        EvaluationConfig.model_validate({"metrics": [{"metric_type": "histogram_similarity", "target": "y"}]})
    assert caught.value.errors()[0]["loc"] == ("metrics", 0, "histogram_similarity", "target")


# Column and table `type`

COLUMNS = [
    ({"type": "id"}, IdColumn),
    ({"type": "foreign_key", "ref_table": "t", "ref_column": "key"}, ForeignKeyColumn),
    ({"type": "category"}, CategoryColumn),
    ({"type": "integer"}, IntegerColumn),
    ({"type": "float"}, FloatColumn),
    ({"type": "bool"}, BoolColumn),
    ({"type": "datetime"}, DatetimeColumn),
    ({"type": "date"}, DateColumn),
    ({"type": "person", "part": "email"}, PersonColumn),
    ({"type": "location", "part": "postcode"}, LocationColumn),
    ({"type": "age", "dob_column": "born", "reference_date": "2024-06-30"}, AgeColumn),
    ({"type": "constant", "value": "GB"}, ConstantColumn),
]


@pytest.mark.parametrize(("fields", "cls"), COLUMNS, ids=[cls.__name__ for _, cls in COLUMNS])
def test_column_type_selects_the_column_class(fields, cls):
    assert type(TypeAdapter(Column).validate_python({"name": "c", **fields})) is cls


def test_every_column_type_has_a_column_class():
    assert sorted(fields["type"] for fields, _ in COLUMNS) == sorted(member.value for member in ColumnType)


def test_an_unknown_column_type_is_rejected_naming_type():
    table = {"name": "t", "type": "tabular", "columns": [{"name": "c", "type": "decimal"}]}
    with pytest.raises(ValidationError) as caught:
        DataSchema.model_validate({"tables": [table]})
    error = caught.value.errors()[0]
    assert error["loc"] == ("tables", 0, "tabular", "columns", 0)
    assert "'type'" in error["msg"]
    assert "'decimal'" in error["msg"]


TABLES = [
    ({"type": "tabular"}, TabularTable),
    ({"type": "reference"}, ReferenceTable),
    (
        {
            "type": "sequential",
            "sequence_id": "owner",
            "sort_by": ["at"],
            "columns": [
                {"name": "key", "type": "id"},
                {"name": "owner", "type": "foreign_key", "ref_table": "owners", "ref_column": "id"},
                {"name": "at", "type": "datetime"},
            ],
        },
        SequentialTable,
    ),
]


@pytest.mark.parametrize(("fields", "cls"), TABLES, ids=[cls.__name__ for _, cls in TABLES])
def test_table_type_selects_the_table_class(fields, cls):
    table = {"name": "t", "columns": [{"name": "key", "type": "id"}], **fields}
    owners = {"name": "owners", "columns": [{"name": "id", "type": "id"}]}
    schema = DataSchema.model_validate({"tables": [owners, table]})
    assert type(schema.table("t")) is cls


def test_an_unknown_table_type_is_rejected_naming_type():
    table = {"name": "t", "type": "wide", "columns": [{"name": "key", "type": "id"}]}
    with pytest.raises(ValidationError) as caught:
        DataSchema.model_validate({"tables": [table]})
    error = caught.value.errors()[0]
    assert error["loc"] == ("tables", 0)
    assert "'type'" in error["msg"]


def test_a_table_without_type_is_tabular():
    schema = DataSchema.model_validate({"tables": [{"name": "t", "columns": [{"name": "key", "type": "id"}]}]})
    assert type(schema.table("t")) is TabularTable


# Post-generation `action`

STEPS = [
    ({"action": "drop_columns", "columns": ["a"]}, DropColumns),
    ({"action": "rename_columns", "mapping": {"a": "b"}}, RenameColumns),
    ({"action": "clip", "column": "a", "lower": 0}, ClipColumn),
    ({"action": "cast", "column": "a", "dtype": "int"}, CastColumn),
    ({"action": "sql_expression", "column": "a", "expression": "a * 2"}, SqlExpression),
]


@pytest.mark.parametrize(("step", "cls"), STEPS, ids=[cls.__name__ for _, cls in STEPS])
def test_action_selects_the_post_generation_step_class(step, cls):
    entry = TablePostGeneration.model_validate({"table": "t", "steps": [step]})
    assert type(entry.steps[0]) is cls


def test_an_unknown_action_is_rejected_naming_action():
    with pytest.raises(ValidationError) as caught:
        TablePostGeneration.model_validate({"table": "t", "steps": [{"action": "shuffle"}]})
    assert "'action'" in caught.value.errors()[0]["msg"]


# Locations and data sources (chosen by their fields)


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("data/t.csv", "data/t.csv"),
        ({"path": "s3://b/t.parquet", "source_id": None}, PathReadTableConfig(path="s3://b/t.parquet")),
        (
            {"source_id": "db", "schema_name": "crm", "table_name": "t"},
            DatabaseReadTableConfig(source_id="db", schema_name="crm", table_name="t"),
        ),
    ],
)
def test_an_input_location_is_a_path_string_a_file_or_a_database_table(location, expected):
    assert DataLocationInput.model_validate({"name": "t", "location": location}).location == expected


@pytest.mark.parametrize(
    ("location", "cls"),
    [
        ("out/t.csv", str),
        ({"path": "out/t.csv", "if_exists": "replace"}, PathWriteTableConfig),
        ({"source_id": "db", "table_name": "t", "if_exists": "append"}, DatabaseWriteTableConfig),
    ],
)
def test_an_output_location_is_a_path_string_a_file_or_a_database_table(location, cls):
    assert type(DataLocationOutput.model_validate({"name": "t", "location": location}).location) is cls


def test_an_output_location_with_an_unknown_field_is_rejected():
    with pytest.raises(ValidationError, match="overwrite"):
        DataLocationOutput.model_validate({"name": "t", "location": {"path": "out/t.csv", "overwrite": True}})


@pytest.mark.parametrize(
    ("model_output", "cls"),
    [
        ("model.hmf", str),
        ({"path": "out/model.hmf"}, PathWriteTableConfig),
        ({"url": "https://models.example.com/m.hmf"}, GenericEndpoint),
    ],
)
def test_model_output_is_a_string_a_file_or_an_endpoint(model_output, cls):
    config = TrainingConfig.model_validate(
        {
            "model_output": model_output,
            "data_schema": {"tables": [{"name": "t", "type": "tabular", "columns": [{"name": "x", "type": "bool"}]}]},
            "data_input": [{"name": "t", "location": "t.csv"}],
        }
    )
    assert type(config.model_output) is cls


@pytest.mark.parametrize(("model", "cls"), [("model.hmf", str), ({"path": "s3://m/model.hmf"}, PathReadTableConfig)])
def test_generation_model_is_a_string_or_a_file(model, cls):
    assert type(GenerationConfig.model_validate({"model": model, "data_output": []}).model) is cls


@pytest.mark.parametrize(
    ("source", "cls"),
    [
        ({"id": "prod", "conn_id": "postgres_prod"}, SecretDataSource),
        ({"id": "prod", "connection_url": "postgresql://u:pw@db/prod"}, SecretDataSourceIO),
    ],
)
def test_a_data_source_with_a_connection_url_is_a_secret_data_source_io(source, cls):
    config = GenerationConfig.model_validate({"data_output": [], "data_sources": [source]})
    assert type(config.data_sources[0]) is cls


def test_a_whole_config_selects_nested_classes_from_json_text():
    text = json.dumps(
        {
            "data_schema": {
                "tables": [
                    {"name": "t", "type": "reference", "columns": [{"name": "k", "type": "id", "format": "uuid"}]}
                ]
            },
            "data_input": [{"name": "t", "location": {"path": "t.parquet"}}],
            "model_parameters": {"generator": {"generator_type": "independent"}},
            "evaluation": {"metrics": [{"metric_type": "presence_disclosure"}]},
        }
    )
    config = TrainingConfig.model_validate_json(text)
    assert type(config.data_schema.tables[0]) is ReferenceTable
    assert type(config.data_schema.tables[0].columns[0]) is IdColumn
    assert type(config.model_parameters.generator) is IndependentConfig
    assert type(config.evaluation.metrics[0]) is PresenceDisclosureParams
    assert type(config.data_input[0].location) is PathReadTableConfig
