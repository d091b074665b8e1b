"""`HazyEvaluateOperator`: score a trained model against its source tables (similarity, utility, privacy)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from .. import api
from ..config import TrainingConfig
from .base import HazyBaseOperator


class HazyEvaluateOperator(HazyBaseOperator):
    """Run `api.evaluate(config)` (a training config whose `model_output` has been trained).

    :param report_path: where the full metrics JSON goes (templated; optional). The XCom holds only the
        scores per metric and that path: `{"model", "scores", "report"}`.
    """

    template_fields: Sequence[str] = (*HazyBaseOperator.template_fields, "report_path")

    def __init__(self, *, report_path: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.report_path = report_path

    def execute(self, context: Any) -> Dict[str, Any]:
        config = self.load(TrainingConfig)
        with self.connections():
            result = api.evaluate(config)
        report = None
        if self.report_path:
            path = Path(self.report_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
            report = str(path)
        scores = result.get("scores") or {key: entry.get("score") for key, entry in result.get("metrics", {}).items()}
        for metric, score in scores.items():
            self.log.info("%s: %s", metric, score)
        return {"model": result.get("model"), "scores": scores, "report": report}
