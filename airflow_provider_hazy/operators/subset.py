"""`HazySubsetOperator`: extract a referentially intact subset of the source tables for training."""

from __future__ import annotations

from typing import Any, Dict, Sequence

from .. import api
from ..config import TrainingConfig
from .base import HazyBaseOperator


class HazySubsetOperator(HazyBaseOperator):
    """Run `api.subset(config, output_dir)`: the subset tables and a training config reading them.

    :param output_dir: where the subset and its training config go (templated, e.g. `.../{{ ds }}`).
    XCom: `{"training_config": path, "output_dir": path, "rows": {table: rows}, "test_rows": {table: rows}}`
    (`test_rows`: the held-out rows of `train_test_split`, written under `output_dir/test/`); the path is also pushed
    under the key `training_config`, so `subset.output["training_config"]` is the next operator's config.
    """

    template_fields: Sequence[str] = (*HazyBaseOperator.template_fields, "output_dir")

    def __init__(self, *, output_dir: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.output_dir = output_dir

    def execute(self, context: Any) -> Dict[str, Any]:
        config = self.load(TrainingConfig)
        with self.connections():
            result = api.subset(config, self.output_dir)
        rows = {name: int(count) for name, count in result["tables"].items()}
        self.log.info("subset of %s written to %s", rows, result["output_dir"])
        context["ti"].xcom_push(key="training_config", value=str(result["training_config"]))
        return {
            "training_config": str(result["training_config"]),
            "output_dir": str(result["output_dir"]),
            "rows": rows,
            "test_rows": {name: int(count) for name, count in result.get("test_tables", {}).items()},
        }
