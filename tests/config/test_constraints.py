"""Out-of-range values, unknown fields and wrong enum values are errors that name the field."""

import math
from datetime import date

import pytest
from pydantic import ValidationError

from airflow_provider_hazy.config import (
    AgeColumn,
    BinningStrategyType,
    CategoryColumn,
    ClipColumn,
    DatabaseSubsettingParams,
    DataLocationInput,
    DataSchema,
    DropColumns,
    EvalSampleParams,
    EvaluationConfig,
    FloatColumn,
    GenerationConfig,
    GenSampleParams,
    IdColumn,
    IndependentConfig,
    IntegerColumn,
    ModelParameters,
    MultiTableTrainingParams,
    PathWriteTableConfig,
    PostGenerationConfig,
    PrivBayesConfig,
    RenameColumns,
    SampleParams,
    SecretDataSource,
    SequentialTrainingParams,
    TablePostGeneration,
    TabularTable,
    TrainingConfig,
    ValidationConfig,
)

SAMPLE_PARAMS_CLASSES = [SampleParams, GenSampleParams, EvalSampleParams]


def training_data(**fields) -> dict:
    """A valid training config as a dict (one table `t`), with `fields` added or replaced."""
    data = {
        "data_schema": {"tables": [{"name": "t", "type": "tabular", "columns": [{"name": "x", "type": "integer"}]}]},
        "data_input": [{"name": "t", "location": "t.csv"}],
    }
    data.update(fields)
    return data


def only_error(caught: pytest.ExceptionInfo) -> dict:
    """The single error of a ValidationError."""
    errors = caught.value.errors()
    assert len(errors) == 1, errors
    return errors[0]


# magnitude, batch_magnitude


@pytest.mark.parametrize("cls", SAMPLE_PARAMS_CLASSES)
@pytest.mark.parametrize("magnitude", [0, 0.0, -0.5, -1])
def test_magnitude_must_be_positive(cls, magnitude):
    with pytest.raises(ValidationError) as caught:
        cls(magnitude=magnitude)
    error = only_error(caught)
    assert error["loc"] == ("magnitude",)
    assert error["type"] == "greater_than"


@pytest.mark.parametrize("cls", SAMPLE_PARAMS_CLASSES)
@pytest.mark.parametrize("magnitude", [math.inf, math.nan])
def test_magnitude_must_be_finite(cls, magnitude):
    with pytest.raises(ValidationError) as caught:
        cls(magnitude=magnitude)
    assert only_error(caught)["loc"] == ("magnitude",)


@pytest.mark.parametrize("cls", SAMPLE_PARAMS_CLASSES)
@pytest.mark.parametrize("magnitude", [1e-6, 0.5, 2.0, 100])
def test_any_positive_magnitude_is_accepted(cls, magnitude):
    assert cls(magnitude=magnitude).magnitude == magnitude


@pytest.mark.parametrize("batch_magnitude", [0, -0.25])
def test_batch_magnitude_must_be_positive(batch_magnitude):
    with pytest.raises(ValidationError) as caught:
        GenSampleParams(magnitude=1.0, batch_magnitude=batch_magnitude)
    assert only_error(caught)["loc"] == ("batch_magnitude",)


def test_batch_magnitude_above_magnitude_is_rejected_naming_both():
    with pytest.raises(ValidationError, match=r"batch_magnitude \(2\.5\) must be <= magnitude \(2\.0\)"):
        GenSampleParams(magnitude=2.0, batch_magnitude=2.5)


def test_batch_magnitude_is_checked_against_a_default_magnitude():
    with pytest.raises(ValidationError, match="batch_magnitude"):
        GenSampleParams(batch_magnitude=1.5)


@pytest.mark.parametrize("batch_magnitude", [0.1, 1.0, 2.0])
def test_batch_magnitude_up_to_magnitude_is_accepted(batch_magnitude):
    assert GenSampleParams(magnitude=2.0, batch_magnitude=batch_magnitude).batch_magnitude == batch_magnitude


def test_batch_magnitude_is_checked_inside_a_generation_config():
    data = {"data_output": [], "generate_params": {"magnitude": 1.0, "batch_magnitude": 3.0}}
    with pytest.raises(ValidationError) as caught:
        GenerationConfig.model_validate(data)
    error = only_error(caught)
    assert error["loc"] == ("generate_params",)
    assert "batch_magnitude" in error["msg"]


# nrows, epsilon


@pytest.mark.parametrize("nrows", [0, -1])
def test_nrows_must_be_positive(nrows):
    with pytest.raises(ValidationError) as caught:
        TrainingConfig.model_validate(training_data(nrows=nrows))
    error = only_error(caught)
    assert error["loc"] == ("nrows",)
    assert error["type"] == "greater_than"


def test_one_row_is_a_valid_nrows():
    assert TrainingConfig.model_validate(training_data(nrows=1)).nrows == 1


@pytest.mark.parametrize("cls", [PrivBayesConfig, IndependentConfig])
@pytest.mark.parametrize("epsilon", [0, -1.0, math.inf, math.nan])
def test_epsilon_must_be_positive_and_finite(cls, epsilon):
    with pytest.raises(ValidationError) as caught:
        cls(epsilon=epsilon)
    assert only_error(caught)["loc"] == ("epsilon",)


def test_a_small_epsilon_is_accepted():
    assert PrivBayesConfig(epsilon=0.01).epsilon == 0.01


def test_epsilon_error_inside_a_training_config_gives_the_path_to_the_field():
    generator = {"generator_type": "priv_bayes", "epsilon": 0}
    with pytest.raises(ValidationError) as caught:
        TrainingConfig.model_validate(training_data(model_parameters={"generator": generator}))
    assert only_error(caught)["loc"] == ("model_parameters", "generator", "priv_bayes", "epsilon")
    assert "model_parameters.generator.priv_bayes.epsilon" in str(caught.value)


# Every other declared constraint: (class, field, rejected value, accepted boundary value)

DECLARED_CONSTRAINTS = [
    (PrivBayesConfig, "n_bins", 1, 2),
    (PrivBayesConfig, "max_cat", 0, 1),
    (PrivBayesConfig, "skew_threshold", 0, 0.01),
    (PrivBayesConfig, "single_threshold", 0, 0.01),
    (PrivBayesConfig, "single_threshold", 1, 0.99),
    (PrivBayesConfig, "processing_epsilon", 0, 0.01),
    (PrivBayesConfig, "n_parents", -1, 0),
    (PrivBayesConfig, "network_sample_rows", 0, 1),
    (PrivBayesConfig, "sample_parents", 0, 1),
    (IndependentConfig, "n_bins", 1, 2),
    (IndependentConfig, "max_cat", 0, 1),
    (MultiTableTrainingParams, "parent_compression", -1, 0),
    (MultiTableTrainingParams, "core_version", 0, 1),
    (SequentialTrainingParams, "window_size", 0, 1),
    (SequentialTrainingParams, "n_predict", 0, 1),
]


@pytest.mark.parametrize(("cls", "field", "rejected", "accepted"), DECLARED_CONSTRAINTS)
def test_declared_constraint_rejects_out_of_range_value_naming_the_field(cls, field, rejected, accepted):
    with pytest.raises(ValidationError) as caught:
        cls(**{field: rejected})
    assert only_error(caught)["loc"] == (field,)


@pytest.mark.parametrize(("cls", "field", "rejected", "accepted"), DECLARED_CONSTRAINTS)
def test_declared_constraint_accepts_its_boundary_value(cls, field, rejected, accepted):
    assert getattr(cls(**{field: accepted}), field) == accepted


@pytest.mark.parametrize(
    ("column", "field", "rejected"),
    [
        (CategoryColumn, "max_cat", 0),
        (IntegerColumn, "n_bins", 1),
        (FloatColumn, "n_bins", 1),
    ],
)
def test_column_binning_override_out_of_range_is_rejected_naming_the_field(column, field, rejected):
    with pytest.raises(ValidationError) as caught:
        column(name="c", **{field: rejected})
    assert only_error(caught)["loc"] == (field,)


def test_column_name_must_not_be_empty():
    with pytest.raises(ValidationError) as caught:
        IntegerColumn(name="")
    assert only_error(caught)["loc"] == ("name",)


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"fraction": 0}, ("fraction",)),
        ({"fraction": 1.5}, ("fraction",)),
        ({"n_rows": 0}, ("n_rows",)),
        ({"fraction": 0.5, "test_fraction": 0}, ("test_fraction",)),
        ({"fraction": 0.5, "test_fraction": 1}, ("test_fraction",)),
    ],
)
def test_subsetting_sizes_out_of_range_are_rejected_naming_the_field(fields, loc):
    with pytest.raises(ValidationError) as caught:
        DatabaseSubsettingParams(target_table="t", **fields)
    assert only_error(caught)["loc"] == loc


@pytest.mark.parametrize("fields", [{}, {"fraction": 0.5, "n_rows": 10}])
def test_subsetting_needs_exactly_one_of_fraction_and_n_rows(fields):
    with pytest.raises(ValidationError, match="table 't': set exactly one of fraction and n_rows"):
        DatabaseSubsettingParams(target_table="t", **fields)


def test_subsetting_by_the_whole_table_is_accepted():
    assert DatabaseSubsettingParams(target_table="t", fraction=1.0).fraction == 1.0


def test_clip_lower_above_upper_is_rejected_naming_the_column():
    with pytest.raises(ValidationError, match=r"clip of column 'amount': lower \(5\.0\) > upper \(1\.0\)"):
        ClipColumn(column="amount", lower=5, upper=1)


def test_clip_without_bounds_is_rejected_naming_the_column():
    with pytest.raises(ValidationError, match="clip of column 'amount': set lower, upper or both"):
        ClipColumn(column="amount")


@pytest.mark.parametrize(
    ("build", "loc"),
    [
        (lambda: DropColumns(columns=[]), ("columns",)),
        (lambda: RenameColumns(mapping={}), ("mapping",)),
        (lambda: TablePostGeneration(table="t", steps=[]), ("steps",)),
        (lambda: PostGenerationConfig(tables=[]), ("tables",)),
    ],
)
def test_empty_post_generation_lists_are_rejected_naming_the_field(build, loc):
    with pytest.raises(ValidationError) as caught:
        build()
    assert only_error(caught)["loc"] == loc


def test_a_table_listed_twice_in_post_generation_is_rejected_naming_it():
    steps = [DropColumns(columns=["a"])]
    with pytest.raises(ValidationError, match="post_generation: table 'orders' is listed twice"):
        PostGenerationConfig(
            tables=[TablePostGeneration(table="orders", steps=steps), TablePostGeneration(table="orders", steps=steps)]
        )


@pytest.mark.parametrize("source_id", ["", "prod db", "prod/db", "-x"])
def test_data_source_id_must_be_plain(source_id):
    with pytest.raises(ValidationError) as caught:
        SecretDataSource(id=source_id)
    assert only_error(caught)["loc"] == ("id",)


def test_metadata_values_are_stored_as_strings():
    config = TrainingConfig.model_validate(training_data(metadata={"version": 3, "approved": True}))
    assert config.metadata == {"version": "3", "approved": "True"}


# Unknown fields


@pytest.mark.parametrize(
    "cls",
    [
        PrivBayesConfig,
        IndependentConfig,
        ModelParameters,
        MultiTableTrainingParams,
        SequentialTrainingParams,
        EvaluationConfig,
        EvalSampleParams,
        SampleParams,
        GenSampleParams,
        ValidationConfig,
    ],
)
def test_an_unknown_field_is_rejected_naming_it(cls):
    with pytest.raises(ValidationError) as caught:
        cls(not_a_field=1)
    error = only_error(caught)
    assert error["loc"] == ("not_a_field",)
    assert error["type"] == "extra_forbidden"


def test_an_unknown_top_level_field_of_a_training_config_is_rejected_naming_it():
    with pytest.raises(ValidationError) as caught:
        TrainingConfig.model_validate(training_data(epsilon=1.0))
    assert only_error(caught)["loc"] == ("epsilon",)


def test_an_unknown_top_level_field_of_a_generation_config_is_rejected_naming_it():
    with pytest.raises(ValidationError) as caught:
        GenerationConfig.model_validate({"data_output": [], "magnitude": 2.0})
    assert only_error(caught)["loc"] == ("magnitude",)


def test_a_misspelt_nested_field_is_rejected_with_its_full_path():
    generator = {"generator_type": "priv_bayes", "epsilom": 1.0}
    with pytest.raises(ValidationError) as caught:
        TrainingConfig.model_validate(training_data(model_parameters={"generator": generator}))
    assert only_error(caught)["loc"] == ("model_parameters", "generator", "priv_bayes", "epsilom")


def test_an_unknown_column_field_is_rejected_with_its_full_path():
    column = {"name": "x", "type": "integer", "nbins": 5}
    table = {"name": "t", "type": "tabular", "columns": [column]}
    with pytest.raises(ValidationError) as caught:
        DataSchema.model_validate({"tables": [table]})
    assert only_error(caught)["loc"] == ("tables", 0, "tabular", "columns", 0, "integer", "nbins")


def test_an_unknown_data_input_field_is_rejected_naming_it():
    with pytest.raises(ValidationError) as caught:
        DataLocationInput(name="t", location="t.csv", format="csv")
    assert only_error(caught)["loc"] == ("format",)


# Enum values


@pytest.mark.parametrize(
    ("cls", "field", "value"),
    [
        (PrivBayesConfig, "bin_strategy_default", "median"),
        (PrivBayesConfig, "default_strategy", "mode"),
        (MultiTableTrainingParams, "adjacency_type", "sideways"),
        (FloatColumn, "bin_strategy", "log"),
    ],
)
def test_a_wrong_enum_value_is_rejected_naming_the_field(cls, field, value):
    fields = {"name": "c"} if cls is FloatColumn else {}
    with pytest.raises(ValidationError) as caught:
        cls(**fields, **{field: value})
    error = only_error(caught)
    assert error["loc"] == (field,)
    assert error["type"] == "enum"


@pytest.mark.parametrize(
    ("data", "loc"),
    [
        ({"name": "c", "type": "id", "format": "guid"}, ("format",)),
        ({"name": "c", "type": "person", "part": "nickname"}, ("part",)),
        ({"name": "c", "type": "location", "part": "planet"}, ("part",)),
    ],
)
def test_a_wrong_column_enum_value_is_rejected_naming_the_field(data, loc):
    table = {"name": "t", "type": "tabular", "columns": [data]}
    with pytest.raises(ValidationError) as caught:
        TabularTable.model_validate(table)
    assert only_error(caught)["loc"] == ("columns", 0, data["type"], *loc)


def test_a_wrong_if_exists_is_rejected_naming_the_field():
    with pytest.raises(ValidationError) as caught:
        PathWriteTableConfig(path="out.csv", if_exists="overwrite")
    assert only_error(caught)["loc"] == ("if_exists",)


def test_an_enum_field_accepts_its_value_as_a_string():
    assert PrivBayesConfig(bin_strategy_default="quantile").bin_strategy_default is BinningStrategyType.QUANTILE


# Assignment is validated too


def test_assigning_an_out_of_range_value_is_rejected_naming_the_field():
    config = PrivBayesConfig()
    with pytest.raises(ValidationError) as caught:
        config.epsilon = 0
    assert only_error(caught)["loc"] == ("epsilon",)
    assert config.epsilon == 1000.0


def test_assigning_a_magnitude_below_batch_magnitude_is_rejected():
    params = GenSampleParams(magnitude=2.0, batch_magnitude=1.0)
    with pytest.raises(ValidationError, match="batch_magnitude"):
        params.magnitude = 0.5


def test_age_reference_date_must_be_a_date():
    with pytest.raises(ValidationError) as caught:
        AgeColumn(name="age", dob_column="dob", reference_date="not a date")
    assert only_error(caught)["loc"] == ("reference_date",)
    assert AgeColumn(name="age", dob_column="dob", reference_date="2024-01-01").reference_date == date(2024, 1, 1)


def test_id_pattern_is_only_allowed_with_the_pattern_format():
    with pytest.raises(ValidationError, match="column 'customer_id': pattern is only allowed with format 'pattern'"):
        IdColumn(name="customer_id", pattern="CUST-{digits:6}")
