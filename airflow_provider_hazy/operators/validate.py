"""`HazyValidateOperator`: check the generated tables (keys, types, ranges, row counts); fail on any failure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from airflow.exceptions import AirflowException

from .. import api
from ..config import GenerationConfig
from .base import HazyBaseOperator


class HazyValidateOperator(HazyBaseOperator):
    """Run `api.validate(config)` on what a generation config wrote; the task fails when a check fails,
    with every failing check in the log and the exception.

    :param report_path: where the full report JSON goes (templated; optional).
    XCom: `{"passed", "n_checks", "n_failed", "report"}`.
    """

    template_fields: Sequence[str] = (*HazyBaseOperator.template_fields, "report_path")

    def __init__(self, *, report_path: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.report_path = report_path

    def execute(self, context: Any) -> Dict[str, Any]:
        config = self.load(GenerationConfig)
        with self.connections():
            report = api.validate(config)
        path = None
        if self.report_path:
            path = Path(self.report_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
        failed = [check for check in report["checks"] if not check["passed"]]
        for check in failed:
            where = f"table '{check.get('table')}'" + (f", column '{check['column']}'" if check.get("column") else "")
            self.log.error("%s: check %s failed: %s", where, check.get("check"), check)
        summary = {"passed": bool(report["passed"]), "n_checks": len(report["checks"]), "n_failed": len(failed)}
        if not report["passed"]:
            names = "; ".join(f"{c.get('table')}.{c.get('column') or '*'}: {c.get('check')}" for c in failed)
            raise AirflowException(f"validation failed, {len(failed)} of {summary['n_checks']} checks: {names}")
        self.log.info("validation passed: %s checks", summary["n_checks"])
        return {**summary, "report": str(path) if path else None}
