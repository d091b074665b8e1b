"""Generator hyperparameters: PrivBayes, multi-table and sequential training parameters."""

from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import AfterValidator, Field, Tag

from .base import HazyBaseModel, tag_or_default
from .bounds import check_epsilon, check_max_cat, check_n_bins
from .enums import AdjacencyType, BinningStrategyType, PrivBayesUnknownCombinationStrategyType

Bins = Annotated[int, AfterValidator(check_n_bins)]
Categories = Annotated[int, AfterValidator(check_max_cat)]
Epsilon = Annotated[float, AfterValidator(check_epsilon)]


class ProcessingParams(HazyBaseModel):
    """How columns are discretised before modelling (shared by every generator)."""

    skew_threshold: Optional[float] = Field(
        default=None,
        gt=0,
        description="Numeric columns whose absolute skewness exceeds this use quantile bins.",
    )
    split_time: bool = False
    n_bins: Bins = Field(default=100, ge=2, description="Number of bins for numeric and datetime columns.")
    single_threshold: Optional[float] = Field(
        default=None,
        gt=0,
        lt=1,
        description="A value more frequent than this fraction of rows gets a bin of its own.",
    )
    max_cat: Categories = Field(
        default=100, ge=1, description="Most categories kept per column; rarer ones merge into an other-bucket."
    )
    bin_strategy_default: BinningStrategyType = BinningStrategyType.UNIFORM
    drop_empty_bins: bool = False
    processing_epsilon: Optional[Epsilon] = Field(
        default=None,
        gt=0,
        description="Budget for differentially private preprocessing (bin edges, category domains, "
        "datetime ranges). When None, these come from the data and the model says processing_private: false.",
    )
    preserve_datetime_range: bool = True


class PrivBayesConfig(ProcessingParams):
    """PrivBayes (Zhang et al.): a Bayesian network learned and measured under differential privacy."""

    generator_type: Literal["priv_bayes"] = "priv_bayes"
    epsilon: Epsilon = Field(default=1000.0, gt=0, allow_inf_nan=False, description="Privacy budget of the model.")
    n_parents: int = Field(default=3, ge=0, description="Maximum number of parents (k) of each column.")
    network_sample_rows: Optional[int] = Field(
        default=None, gt=0, description="Rows sampled to learn the network; None uses every row."
    )
    sample_parents: int = Field(default=25, ge=1, description="Candidate parent sets scored per step.")
    default_strategy: PrivBayesUnknownCombinationStrategyType = PrivBayesUnknownCombinationStrategyType.UNIFORM


class IndependentConfig(ProcessingParams):
    """Each column drawn independently from its noisy marginal (PrivBayes with no parents)."""

    generator_type: Literal["independent"] = "independent"
    epsilon: Epsilon = Field(default=1000.0, gt=0, allow_inf_nan=False, description="Privacy budget of the model.")


# A generator without `generator_type` is PrivBayes.
GeneratorConfig = Annotated[
    Union[Annotated[PrivBayesConfig, Tag("priv_bayes")], Annotated[IndependentConfig, Tag("independent")]],
    tag_or_default("generator_type", "priv_bayes", ["priv_bayes", "independent"]),
]


class MultiTableTrainingParams(HazyBaseModel):
    """How tables linked by foreign keys are modelled together."""

    adjacency_type: AdjacencyType = AdjacencyType.DEGREE_PRESERVING
    parent_compression: Optional[int] = Field(
        default=None, ge=0, description="Parent columns (by mutual information) that condition a child table."
    )
    core_version: int = Field(default=1, ge=1)
    use_cache: bool = False


class SequentialTrainingParams(HazyBaseModel):
    """How sequential tables are modelled."""

    window_size: int = Field(default=20, ge=1, description="Previous rows each row is conditioned on.")
    n_predict: int = Field(default=1, ge=1, description="Rows drawn per step.")


class ModelParameters(HazyBaseModel):
    """The full model training parameters."""

    generator: GeneratorConfig = Field(default_factory=PrivBayesConfig)
    multi_table: MultiTableTrainingParams = Field(default_factory=MultiTableTrainingParams)
    sequential: SequentialTrainingParams = Field(default_factory=SequentialTrainingParams)
