"""Airflow operators: thin adapters over `airflow_provider_hazy.api` (one engine call each)."""

from .evaluate import HazyEvaluateOperator
from .generate import (
    HazyGenerateOperator,
    HazyPublishOperator,
    list_generation_batches,
    list_generation_batches_task,
)
from .subset import HazySubsetOperator
from .train import HazyTrainOperator
from .validate import HazyValidateOperator

__all__ = [
    "HazyEvaluateOperator",
    "HazyGenerateOperator",
    "HazyPublishOperator",
    "HazySubsetOperator",
    "HazyTrainOperator",
    "HazyValidateOperator",
    "list_generation_batches",
    "list_generation_batches_task",
]
