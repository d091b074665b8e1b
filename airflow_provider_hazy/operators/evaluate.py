"""`HazyEvaluateOperator`: the evaluation scores (similarity, utility, privacy) of a trained model.

Training already scores the model (`TrainingConfig.evaluation`, on a synthetic sample, against the source
rows or the held-out test set) and stores the result in the model file: the default task reads it back
from the model, at no cost and with no access to the source. Given an `EvaluateConfig` it instead scores
any real/synthetic pair of tables on demand (`api.evaluate`), e.g. the generated target against the source.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

from .. import api
from ..config import EvaluateConfig, TrainingConfig
from ..config.base import read_config_file
from ..io.locations import location_path
from ..metrics.results import metric_results
from ..pipeline.evaluation_file import read_detail
from .base import HazyBaseOperator
from .configs import load_config


def _kind(config: Any) -> type:
    """EvaluateConfig for an EvaluateConfig (or a dict / file with `real` and `synthetic`), else TrainingConfig."""
    if isinstance(config, (EvaluateConfig, TrainingConfig)):
        return type(config)
    data = read_config_file(config) if isinstance(config, (str, Path)) else config
    if isinstance(data, dict) and "synthetic" in data and "real" in data:
        return EvaluateConfig
    return TrainingConfig


class HazyEvaluateOperator(HazyBaseOperator):
    """Report a model's evaluation scores, one per `metric_type`.

    :param config: a training config (object, dict or path) whose `model_output` is trained: the task
        reports the evaluation stored in that model (`api.inspect_model(path)["evaluation"]`), and fails
        when the model holds none (training ran with `evaluation: null` or `metrics: []`). Or an
        `EvaluateConfig` (it has `real` and `synthetic`): the task runs `api.evaluate(config)` on those tables.
    :param report_path: where the report JSON goes (templated; optional): `{"model", "source", "scores",
        "evaluation"}`, the last being the full evaluation (every metric's details).

    XCom: `{"model", "scores": {metric_type: score}, "source": "model" | "evaluate", "report"}`: scores
    only, never rows. Scores are computed outside the privacy budget (the report says so).
    """

    template_fields: Sequence[str] = (*HazyBaseOperator.template_fields, "report_path")

    def __init__(self, *, report_path: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.report_path = report_path

    def execute(self, context: Any) -> Dict[str, Any]:
        kind = _kind(self.config)
        if kind is EvaluateConfig:
            config: Union[EvaluateConfig, TrainingConfig] = load_config(self.config, EvaluateConfig)
            with self.connections():
                result = api.evaluate(config)
            model, source = (str(config.model) if config.model else None), "evaluate"
        else:
            training = self.load(TrainingConfig)
            model = str(location_path(training.model_output))
            # the full evaluation beside the model, else the scores the model holds
            result = read_detail(model) or api.inspect_model(model)["evaluation"]
            if not metric_results(result):
                raise ValueError(
                    f"model {model}: holds no evaluation (training ran with evaluation null or metrics []); "
                    "set TrainingConfig.evaluation, or pass an EvaluateConfig"
                )
            source = "model"
        scores = {metric: entry.get("score") for metric, entry in metric_results(result).items()}
        report = None
        if self.report_path:
            path = Path(self.report_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            body = {"model": model, "source": source, "scores": scores, "evaluation": result}
            path.write_text(json.dumps(body, indent=2, default=str) + "\n", encoding="utf-8")
            report = str(path)
        for metric, score in scores.items():
            self.log.info("%s: %s", metric, score)
        return {"model": model, "scores": scores, "source": source, "report": report}
