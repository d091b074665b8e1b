"""Run the metrics of an `EvaluationConfig` on real and synthetic tables.

`real` is the data the model was trained on, `synthetic` what it generated, `holdout` the real rows held
out of training (`train_test_split`), or None. Every metric scores in [0, 1], 1 best.

Columns read: similarity metrics leave out id and foreign_key columns (generated, not modelled); the
mutual-information metrics, predictive utility and the privacy metrics also leave out person and location
columns (drawn from Faker, independent of everything by design), and utility and privacy constant columns.

Result: a dict keyed by `metric_type` value, each entry the metric's result (`metric_type`, overall
`score`, `tables` with the details, `params`). Predictive utility and the privacy metrics need held-out
rows: without `holdout` they are `{"metric_type": ..., "score": None, "skipped": "needs train_test_split"}`.
When the schema has sequential tables and any metric is configured, `sequence_similarity` is added
(`metrics/sequences.py`: lengths, gaps, lag-1 autocorrelation, transitions).
A metric type listed more than once (say, predictive utility for two targets) is keyed
`<metric_type>[<position in config.metrics>]` from its second occurrence on.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np
import pandas as pd

from ..config.enums import MetricType
from ..config.evaluation import EvaluationConfig, MetricParams
from ..config.schema import DataSchema, SequentialTable
from . import privacy_metrics, sequences, similarity, utility
from .results import NEEDS_HOLDOUT, skipped_result

Frames = Dict[str, pd.DataFrame]

_SIMILARITY = {
    MetricType.HISTOGRAM_SIMILARITY: similarity.histogram_similarity,
    MetricType.MUTUAL_INFORMATION_SIMILARITY: similarity.mutual_information_similarity,
    MetricType.CROSS_TABLE_MUTUAL_INFORMATION_SIMILARITY: similarity.cross_table_mutual_information_similarity,
    MetricType.DEGREE_DISTRIBUTION_SIMILARITY: similarity.degree_distribution_similarity,
}
_PRIVACY = {
    MetricType.PRESENCE_DISCLOSURE: privacy_metrics.presence_disclosure,
    MetricType.DENSITY_DISCLOSURE: privacy_metrics.density_disclosure,
    MetricType.DISTANCE_TO_CLOSEST_RECORD: privacy_metrics.distance_to_closest_record,
}


def run_metric(
    params: MetricParams,
    schema: DataSchema,
    real: Frames,
    synthetic: Frames,
    holdout: Optional[Frames],
    rng: np.random.Generator,
    privacy_cache: Optional[privacy_metrics.DistanceCache] = None,
) -> Dict[str, Any]:
    """One metric's result, with its params."""
    metric_type = MetricType(params.metric_type)
    if metric_type in _SIMILARITY:
        result = _SIMILARITY[metric_type](schema, real, synthetic, table=params.table)
    elif not holdout:
        result = skipped_result(metric_type, NEEDS_HOLDOUT)
    elif metric_type == MetricType.PREDICTIVE_UTILITY:
        result = utility.predictive_utility(
            schema, real, synthetic, holdout, rng, table=params.table, target=getattr(params, "target", None)
        )
    else:
        result = _PRIVACY[metric_type](schema, real, synthetic, holdout, rng, table=params.table, cache=privacy_cache)
    result["params"] = params.model_dump(mode="json")
    return result


def evaluate(
    config: EvaluationConfig,
    schema: DataSchema,
    real: Frames,
    synthetic: Frames,
    holdout: Optional[Frames] = None,
    rng: Optional[np.random.Generator] = None,
) -> Dict[str, Dict[str, Any]]:
    """The configured metrics, keyed by metric_type (module docstring). `rng` draws every subsample (a
    fixed default when None), so a rerun with the same generator gives the same scores."""
    rng = np.random.default_rng(0) if rng is None else rng
    privacy_cache: privacy_metrics.DistanceCache = {}
    results: Dict[str, Dict[str, Any]] = {}
    for position, params in enumerate(config.metrics):
        key = MetricType(params.metric_type).value
        if key in results:
            key = f"{key}[{position}]"
        results[key] = run_metric(params, schema, real, synthetic, holdout, rng, privacy_cache)
    if config.metrics and any(isinstance(table, SequentialTable) for table in schema.tables):
        # sequential tables are also scored as histories (not a configurable metric type of the reference)
        results[sequences.METRIC] = sequences.sequence_similarity(schema, real, synthetic)
    return results
