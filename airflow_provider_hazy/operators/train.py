"""`HazyTrainOperator`: train a PrivBayes model on the config's source tables and write the model file."""

from __future__ import annotations

from typing import Any, Dict

from .. import api
from ..config import TrainingConfig
from .base import HazyBaseOperator
from .configs import config_outlets


class HazyTrainOperator(HazyBaseOperator):
    """Run `api.train(config)`; `source_conn_id` / `aws_conn_id` name the Airflow connections it reads.

    XCom: `{"model": path, "epsilon": total, "rows": {table: training rows}}`. Outlet: the model file.
    """

    def __init__(self, **kwargs: Any) -> None:
        if "outlets" not in kwargs:
            kwargs["outlets"] = config_outlets(kwargs.get("config"), TrainingConfig)
        super().__init__(**kwargs)

    def execute(self, context: Any) -> Dict[str, Any]:
        config = self.load(TrainingConfig)
        with self.connections():
            path = api.train(config)
        summary = api.inspect_model(path)
        epsilon = summary["privacy"]["total_epsilon"]
        self.log.info("model %s trained, total epsilon %s", path, epsilon)
        self.log.info("%s", summary["guarantee"])
        return {
            "model": str(path),
            "epsilon": epsilon,
            "rows": {name: entry["n_rows"] for name, entry in summary["tables"].items()},
        }
