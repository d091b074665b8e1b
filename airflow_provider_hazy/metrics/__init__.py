"""Evaluation metrics (similarity, utility, privacy) and functional validation of generated tables.

Pure pandas/NumPy on DataFrames: no I/O, no Airflow. `evaluate` runs an `EvaluationConfig`; `validate` runs
the functional checks of generated tables.
"""

from .evaluate import evaluate, run_metric
from .validation import ValidationReport, validate

__all__ = ["ValidationReport", "evaluate", "run_metric", "validate"]
