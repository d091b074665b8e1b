"""Evaluation metrics run at training time and stored in the model."""

from __future__ import annotations

from typing import Annotated, List, Literal, Optional, Union

from pydantic import Field

from .base import HazyBaseModel
from .enums import MetricType


class MetricParams(HazyBaseModel):
    """Common fields of every metric: `table` limits it to one table (None: every table).

    Each metric narrows `metric_type` to its own value; declaring it here keeps the reference's field
    order (`metric_type`, then `table`).
    """

    metric_type: MetricType
    table: Optional[str] = None


class HistogramSimilarityParams(MetricParams):
    """Per-column overlap of real and synthetic histograms (sum of the minimum over shared bins)."""

    metric_type: Literal[MetricType.HISTOGRAM_SIMILARITY] = MetricType.HISTOGRAM_SIMILARITY


class MutualInformationSimilarityParams(MetricParams):
    """Pairwise mutual information of synthetic columns against that of real columns."""

    metric_type: Literal[MetricType.MUTUAL_INFORMATION_SIMILARITY] = MetricType.MUTUAL_INFORMATION_SIMILARITY


class CrossTableMutualInformationSimilarityParams(MetricParams):
    """Mutual information between parent and child columns across foreign-key joins."""

    metric_type: Literal[MetricType.CROSS_TABLE_MUTUAL_INFORMATION_SIMILARITY] = (
        MetricType.CROSS_TABLE_MUTUAL_INFORMATION_SIMILARITY
    )


class DegreeDistributionSimilarityParams(MetricParams):
    """Similarity of the number of children per parent row, per foreign key."""

    metric_type: Literal[MetricType.DEGREE_DISTRIBUTION_SIMILARITY] = MetricType.DEGREE_DISTRIBUTION_SIMILARITY


class PredictiveUtilityParams(MetricParams):
    """Train on synthetic, test on held-out real, as a ratio to train on real."""

    metric_type: Literal[MetricType.PREDICTIVE_UTILITY] = MetricType.PREDICTIVE_UTILITY
    target: Optional[str] = Field(default=None, description="Column to predict; None: every column in turn.")


class PresenceDisclosureParams(MetricParams):
    """Membership inference: score 1 - 2|AUC - 0.5| of telling training rows from held-out rows."""

    metric_type: Literal[MetricType.PRESENCE_DISCLOSURE] = MetricType.PRESENCE_DISCLOSURE


class DensityDisclosureParams(MetricParams):
    """How much more densely synthetic rows crowd around training rows than around held-out rows."""

    metric_type: Literal[MetricType.DENSITY_DISCLOSURE] = MetricType.DENSITY_DISCLOSURE


class DistanceToClosestRecordParams(MetricParams):
    """Distance from each synthetic row to its closest training row, against held-out rows."""

    metric_type: Literal[MetricType.DISTANCE_TO_CLOSEST_RECORD] = MetricType.DISTANCE_TO_CLOSEST_RECORD


MetricConfig = Annotated[
    Union[
        HistogramSimilarityParams,
        MutualInformationSimilarityParams,
        CrossTableMutualInformationSimilarityParams,
        DegreeDistributionSimilarityParams,
        PredictiveUtilityParams,
        PresenceDisclosureParams,
        DensityDisclosureParams,
        DistanceToClosestRecordParams,
    ],
    Field(discriminator="metric_type"),
]


def _default_metrics() -> list:
    return [
        HistogramSimilarityParams(),
        MutualInformationSimilarityParams(),
        CrossTableMutualInformationSimilarityParams(),
        DegreeDistributionSimilarityParams(),
    ]


class EvalSampleParams(HazyBaseModel):
    """Size of the synthetic sample that evaluation scores."""

    magnitude: float = Field(default=1.0, gt=0, allow_inf_nan=False)


class EvaluationConfig(HazyBaseModel):
    """Which metrics training computes and stores in the model."""

    metrics: List[MetricConfig] = Field(default_factory=_default_metrics)
    eval_sample_params: EvalSampleParams = Field(default_factory=EvalSampleParams)
