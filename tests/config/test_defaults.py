"""Every default of the reference (hazy-configuration.txt), field names and field order included."""

import pytest
from pydantic import ValidationError

from airflow_provider_hazy.config import (
    AdjacencyType,
    BinningStrategyType,
    CrossTableMutualInformationSimilarityParams,
    DataLocationInput,
    DataSchema,
    DegreeDistributionSimilarityParams,
    EvalSampleParams,
    EvaluationConfig,
    GenerationConfig,
    GenSampleParams,
    HistogramSimilarityParams,
    MetricType,
    ModelParameters,
    MultiTableTrainingParams,
    MutualInformationSimilarityParams,
    PrivBayesConfig,
    PrivBayesUnknownCombinationStrategyType,
    SampleParams,
    SecretDataSource,
    SequentialTrainingParams,
    TrainingConfig,
    ValidationConfig,
)

# The default reprs, copied from the reference.
REFERENCE_MODEL_PARAMETERS = (
    "ModelParameters(generator=PrivBayesConfig(skew_threshold=None, split_time=False, n_bins=100, "
    "single_threshold=None, max_cat=100, bin_strategy_default=<BinningStrategyType.UNIFORM: 'uniform'>, "
    "drop_empty_bins=False, processing_epsilon=None, preserve_datetime_range=True, generator_type='priv_bayes', "
    "epsilon=1000.0, n_parents=3, network_sample_rows=None, sample_parents=25, "
    "default_strategy=<PrivBayesUnknownCombinationStrategyType.UNIFORM: 'uniform'>), "
    "multi_table=MultiTableTrainingParams(adjacency_type=<AdjacencyType.DEGREE_PRESERVING: 'degree_preserving'>, "
    "parent_compression=None, core_version=1, use_cache=False), "
    "sequential=SequentialTrainingParams(window_size=20, n_predict=1))"
)
REFERENCE_EVALUATION = (
    "EvaluationConfig(metrics=[HistogramSimilarityParams(metric_type=<MetricType.HISTOGRAM_SIMILARITY: "
    "'histogram_similarity'>, table=None), MutualInformationSimilarityParams(metric_type="
    "<MetricType.MUTUAL_INFORMATION_SIMILARITY: 'mutual_information_similarity'>, table=None), "
    "CrossTableMutualInformationSimilarityParams(metric_type=<MetricType.CROSS_TABLE_MUTUAL_INFORMATION_SIMILARITY: "
    "'cross_table_mutual_information_similarity'>, table=None), DegreeDistributionSimilarityParams(metric_type="
    "<MetricType.DEGREE_DISTRIBUTION_SIMILARITY: 'degree_distribution_similarity'>, table=None)], "
    "eval_sample_params=EvalSampleParams(magnitude=1.0))"
)


def minimal_training_config() -> TrainingConfig:
    """Only the two required fields set."""
    return TrainingConfig(
        data_schema=DataSchema.model_validate(
            {"tables": [{"name": "t", "type": "tabular", "columns": [{"name": "x", "type": "integer"}]}]}
        ),
        data_input=[DataLocationInput(name="t", location="t.csv")],
    )


def minimal_generation_config() -> GenerationConfig:
    """Only the required field set."""
    return GenerationConfig(data_output=[])


# Field order


def test_training_config_fields_are_the_reference_fields_in_reference_order():
    assert list(TrainingConfig.model_fields) == [
        "created_at",
        "model_output",
        "data_schema",
        "data_input",
        "data_sources",
        "model_parameters",
        "evaluation",
        "sample_params",
        "train_test_split",
        "database_subsetting_params",
        "random_state",
        "title",
        "description",
        "metadata",
        "nrows",
        "strip_strings",
        "empty_strings_as_null",
        "acknowledgement",
    ]


def test_generation_config_fields_are_the_reference_fields_in_reference_order():
    assert list(GenerationConfig.model_fields) == [
        "created_at",
        "model",
        "data_output",
        "data_sources",
        "random_state",
        "generate_params",
        "validation",
        "generation_state_path",
        "generator",  # ours, after the reference fields: a registry generator instead of `model`
    ]


def test_priv_bayes_config_fields_are_the_reference_fields_in_reference_order():
    assert list(PrivBayesConfig.model_fields) == [
        "skew_threshold",
        "split_time",
        "n_bins",
        "single_threshold",
        "max_cat",
        "bin_strategy_default",
        "drop_empty_bins",
        "processing_epsilon",
        "preserve_datetime_range",
        "generator_type",
        "epsilon",
        "n_parents",
        "network_sample_rows",
        "sample_parents",
        "default_strategy",
    ]


@pytest.mark.parametrize(
    ("cls", "fields"),
    [
        (ModelParameters, ["generator", "multi_table", "sequential"]),
        (MultiTableTrainingParams, ["adjacency_type", "parent_compression", "core_version", "use_cache"]),
        (SequentialTrainingParams, ["window_size", "n_predict"]),
        (EvaluationConfig, ["metrics", "eval_sample_params"]),
        (EvalSampleParams, ["magnitude"]),
        (SampleParams, ["magnitude", "auto_magnitude"]),
        (
            GenSampleParams,
            ["magnitude", "post_generation", "limit_strings", "drop_unique_violation", "batch_magnitude"],
        ),
        (ValidationConfig, ["enable"]),
        (HistogramSimilarityParams, ["metric_type", "table"]),
    ],
)
def test_nested_classes_have_the_reference_fields_in_reference_order(cls, fields):
    assert list(cls.model_fields) == fields


# Default reprs, exactly as the reference prints them


def test_default_model_parameters_repr_is_the_reference_repr():
    assert repr(ModelParameters()) == REFERENCE_MODEL_PARAMETERS


def test_default_evaluation_repr_is_the_reference_repr():
    assert repr(EvaluationConfig()) == REFERENCE_EVALUATION


@pytest.mark.parametrize(
    ("params", "reference"),
    [
        (SampleParams(), "SampleParams(magnitude=1.0, auto_magnitude=True)"),
        (
            GenSampleParams(),
            "GenSampleParams(magnitude=1.0, post_generation=None, limit_strings=False, drop_unique_violation=False, "
            "batch_magnitude=None)",
        ),
        (ValidationConfig(), "ValidationConfig(enable=True)"),
        (EvalSampleParams(), "EvalSampleParams(magnitude=1.0)"),
    ],
)
def test_default_params_repr_is_the_reference_repr(params, reference):
    assert repr(params) == reference


# TrainingConfig


def test_training_config_requires_data_schema_and_data_input():
    with pytest.raises(ValidationError) as caught:
        TrainingConfig()
    missing = {error["loc"] for error in caught.value.errors() if error["type"] == "missing"}
    assert missing == {("data_schema",), ("data_input",)}


@pytest.mark.parametrize(
    ("field", "default"),
    [
        ("created_at", None),
        ("model_output", None),
        ("data_sources", []),
        ("train_test_split", False),
        ("database_subsetting_params", None),
        ("random_state", None),
        ("title", ""),
        ("description", ""),
        ("metadata", {}),
        ("nrows", None),
        ("strip_strings", False),
        ("empty_strings_as_null", True),
        ("acknowledgement", False),
    ],
)
def test_training_config_default(field, default):
    assert getattr(minimal_training_config(), field) == default


def test_training_config_default_model_parameters_are_the_default_model_parameters():
    assert minimal_training_config().model_parameters == ModelParameters()


def test_training_config_default_evaluation_is_the_default_evaluation():
    assert minimal_training_config().evaluation == EvaluationConfig()


def test_training_config_default_sample_params_are_magnitude_1_with_auto_magnitude():
    assert minimal_training_config().sample_params == SampleParams(magnitude=1.0, auto_magnitude=True)


def test_training_config_mutable_defaults_are_not_shared_between_configs():
    first, second = minimal_training_config(), minimal_training_config()
    first.metadata["owner"] = "me"
    first.data_sources.append(SecretDataSource(id="db"))
    assert second.metadata == {}
    assert second.data_sources == []
    assert first.model_parameters is not second.model_parameters


# PrivBayesConfig, MultiTableTrainingParams, SequentialTrainingParams


def test_default_generator_is_priv_bayes():
    assert type(ModelParameters().generator) is PrivBayesConfig


@pytest.mark.parametrize(
    ("field", "default"),
    [
        ("skew_threshold", None),
        ("split_time", False),
        ("n_bins", 100),
        ("single_threshold", None),
        ("max_cat", 100),
        ("bin_strategy_default", BinningStrategyType.UNIFORM),
        ("drop_empty_bins", False),
        ("processing_epsilon", None),
        ("preserve_datetime_range", True),
        ("generator_type", "priv_bayes"),
        ("epsilon", 1000.0),
        ("n_parents", 3),
        ("network_sample_rows", None),
        ("sample_parents", 25),
        ("default_strategy", PrivBayesUnknownCombinationStrategyType.UNIFORM),
    ],
)
def test_priv_bayes_config_default(field, default):
    value = getattr(PrivBayesConfig(), field)
    assert value == default
    assert type(value) is type(default)


@pytest.mark.parametrize(
    ("field", "default"),
    [
        ("adjacency_type", AdjacencyType.DEGREE_PRESERVING),
        ("parent_compression", None),
        ("core_version", 1),
        ("use_cache", False),
    ],
)
def test_multi_table_training_params_default(field, default):
    value = getattr(MultiTableTrainingParams(), field)
    assert value == default
    assert type(value) is type(default)


@pytest.mark.parametrize(("field", "default"), [("window_size", 20), ("n_predict", 1)])
def test_sequential_training_params_default(field, default):
    assert getattr(SequentialTrainingParams(), field) == default


# EvaluationConfig


def test_default_metrics_are_the_four_similarity_metrics_in_reference_order():
    metrics = EvaluationConfig().metrics
    assert [type(metric) for metric in metrics] == [
        HistogramSimilarityParams,
        MutualInformationSimilarityParams,
        CrossTableMutualInformationSimilarityParams,
        DegreeDistributionSimilarityParams,
    ]
    assert [metric.metric_type for metric in metrics] == [
        MetricType.HISTOGRAM_SIMILARITY,
        MetricType.MUTUAL_INFORMATION_SIMILARITY,
        MetricType.CROSS_TABLE_MUTUAL_INFORMATION_SIMILARITY,
        MetricType.DEGREE_DISTRIBUTION_SIMILARITY,
    ]


def test_default_metrics_cover_every_table():
    assert [metric.table for metric in EvaluationConfig().metrics] == [None, None, None, None]


def test_default_eval_sample_params_have_magnitude_1():
    assert EvaluationConfig().eval_sample_params == EvalSampleParams(magnitude=1.0)
    assert EvalSampleParams().magnitude == 1.0


# SampleParams, GenSampleParams, GenerationConfig, ValidationConfig


@pytest.mark.parametrize(("field", "default"), [("magnitude", 1.0), ("auto_magnitude", True)])
def test_sample_params_default(field, default):
    value = getattr(SampleParams(), field)
    assert value == default
    assert type(value) is type(default)


@pytest.mark.parametrize(
    ("field", "default"),
    [
        ("magnitude", 1.0),
        ("post_generation", None),
        ("limit_strings", False),
        ("drop_unique_violation", False),
        ("batch_magnitude", None),
    ],
)
def test_gen_sample_params_default(field, default):
    value = getattr(GenSampleParams(), field)
    assert value == default
    assert type(value) is type(default)


def test_validation_is_enabled_by_default():
    assert ValidationConfig().enable is True


def test_generation_config_requires_data_output():
    with pytest.raises(ValidationError) as caught:
        GenerationConfig()
    assert [error["loc"] for error in caught.value.errors()] == [("data_output",)]


@pytest.mark.parametrize(
    ("field", "default"),
    [
        ("created_at", None),
        ("model", None),
        ("data_sources", []),
        ("random_state", None),
        ("generate_params", GenSampleParams()),
        ("validation", ValidationConfig(enable=True)),
        ("generation_state_path", None),
    ],
)
def test_generation_config_default(field, default):
    assert getattr(minimal_generation_config(), field) == default


# Enumerations


@pytest.mark.parametrize(
    ("enum", "values"),
    [
        (BinningStrategyType, ["uniform", "quantile"]),
        (PrivBayesUnknownCombinationStrategyType, ["uniform", "marginal"]),
        (AdjacencyType, ["default", "random", "degree_preserving"]),
        (
            MetricType,
            [
                "histogram_similarity",
                "mutual_information_similarity",
                "cross_table_mutual_information_similarity",
                "degree_distribution_similarity",
                "predictive_utility",
                "presence_disclosure",
                "density_disclosure",
                "distance_to_closest_record",
            ],
        ),
    ],
)
def test_enum_values(enum, values):
    assert [member.value for member in enum] == values
