"""The shape every metric returns, and JSON-safe values for it.

A metric result is a plain dict that `json.dumps` accepts::

    {"metric_type": "histogram_similarity", "score": 0.93,
     "tables": {"customers": {"score": 0.93, "columns": {...}}}}

`score` is in [0, 1] (1 best), or None when nothing could be scored; a table or item that was left out
says why under `skipped`.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any, Dict, Iterable, List, Optional

import numpy as np
import pandas as pd

from ..config.enums import MetricType
from ..config.schema import BaseTable, DataSchema

NEEDS_HOLDOUT = "needs train_test_split"
PRIVACY_NOTE = (
    "Evaluation scores are computed from the source data outside the privacy budget: they are not "
    "differentially private and are not in the privacy ledger. Set evaluation to null (or metrics: []) "
    "to leave them out of the model."
)


def metric_results(evaluation: Optional[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """Only the metric entries (keyed by metric_type) of an evaluation dict."""
    return {k: v for k, v in (evaluation or {}).items() if isinstance(v, dict) and "metric_type" in v}


def json_value(value: Any) -> Any:
    """`value` as a JSON-safe Python value: numpy scalars unwrapped, NaN/NaT as None, datetimes as ISO text."""
    if value is None:
        return None
    if isinstance(value, (list, tuple, np.ndarray)):
        return [json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): json_value(item) for key, item in value.items()}
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, (pd.Timestamp, datetime, date)):
        return value.isoformat()
    if isinstance(value, (pd.Timedelta, np.timedelta64, np.datetime64)):
        return None if pd.isna(value) else str(value)
    if isinstance(value, str):
        return value
    return str(value)


def mean_score(scores: Iterable[Optional[float]]) -> Optional[float]:
    """Mean of the scores that are not None; None when there are none."""
    present = [score for score in scores if score is not None]
    return float(np.mean(present)) if present else None


def min_score(scores: Iterable[Optional[float]]) -> Optional[float]:
    """Smallest score that is not None; None when there are none."""
    present = [score for score in scores if score is not None]
    return float(min(present)) if present else None


def clip01(value: float) -> float:
    return float(min(1.0, max(0.0, value)))


def metric_result(metric_type: MetricType, tables: Dict[str, Dict[str, Any]], worst: bool = False) -> Dict[str, Any]:
    """The result dict: overall score the mean (or with `worst`, the minimum) of the table scores."""
    scores = [entry.get("score") for entry in tables.values()]
    return {
        "metric_type": metric_type.value,
        "score": min_score(scores) if worst else mean_score(scores),
        "tables": tables,
    }


def skipped_result(metric_type: MetricType, reason: str) -> Dict[str, Any]:
    return {"metric_type": metric_type.value, "score": None, "skipped": reason}


def tables_in_scope(schema: DataSchema, table: Optional[str], metric_type: MetricType) -> List[BaseTable]:
    """The schema's tables, or only `table` (error naming the metric when the schema has no such table)."""
    if table is None:
        return list(schema.tables)
    if table not in schema.table_names:
        raise ValueError(f"metric '{metric_type.value}': table '{table}' is not in the schema {schema.table_names}")
    return [schema.table(table)]


def frames_of(name: str, **frames: Optional[Dict[str, pd.DataFrame]]) -> Optional[str]:
    """Why table `name` cannot be scored (a frame set lacks it), or None when every set has it."""
    lacking = [label for label, tables in frames.items() if tables is None or name not in tables]
    if lacking:
        return "no " + " or ".join(lacking) + " data for this table"
    return None
