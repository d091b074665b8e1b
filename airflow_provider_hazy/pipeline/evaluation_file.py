"""The evaluation at training time, split in two: scores in the model, detail in a file next to it.

The evaluation is computed from the source rows, outside the privacy budget. A model file is meant to
leave the building, so it keeps only what the ledger can afford to be wrong about: one number per metric
and per table (`scores_only`), flagged `computed_on_source_rows`. The histograms, mutual-information
matrices and per-bin or per-pair detail, which hold exact source frequencies (singletons included), go to
`<model>.evaluation.json` beside the model (`detail_path`), which `hazy report` reads. Keep that file where
the source data may be; do not ship it with the model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

DETAIL_SUFFIX = ".evaluation.json"
SCORE_KEYS = ("metric_type", "params", "score", "skipped")
"""What a metric keeps in the model: its type, its (public) parameters, its overall score and why it was
skipped; per table only the table's score. A metric that failed says `failed: true` (its error text, which
may quote source values, stays in the detail file)."""
META_KEYS = ("outside_privacy_budget", "privacy_note", "sample_rows", "holdout_rows")
SCORES_NOTE = (
    "Scores only: computed on the source rows outside the privacy budget (not differentially private). "
    "Histograms, mutual-information matrices and per-bin detail are in the evaluation file next to the "
    "model, never in the model."
)


def detail_path(model_path: Union[str, Path]) -> Path:
    """Where the evaluation detail of the model at `model_path` lives: `<stem>.evaluation.json` beside it."""
    path = Path(model_path)
    return path.with_name(path.stem + DETAIL_SUFFIX)


def _is_metric(value: Any) -> bool:
    return isinstance(value, dict) and "metric_type" in value


def _number(value: Any) -> Optional[float]:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def scores_only(evaluation: Optional[Mapping[str, Any]], detail_name: Optional[str] = None) -> Optional[Dict[str, Any]]:
    """The evaluation as the model stores it: per metric its type, parameters, score and skip reason, and per
    table one score; nothing else of the detail. None stays None."""
    if not evaluation:
        return None
    kept: Dict[str, Any] = {key: evaluation[key] for key in META_KEYS if key in evaluation}
    kept["computed_on_source_rows"] = True
    kept["scores_note"] = SCORES_NOTE
    kept["detail_file"] = detail_name
    for key, entry in evaluation.items():
        if not _is_metric(entry):
            continue
        metric = {name: entry[name] for name in SCORE_KEYS if name in entry}
        if "error" in entry:
            metric["failed"] = True
        metric["tables"] = {
            str(table): {"score": _number(details.get("score")) if isinstance(details, dict) else _number(details)}
            for table, details in (entry.get("tables") or {}).items()
        }
        kept[key] = metric
    return kept


def write_detail(model_path: Union[str, Path], evaluation: Optional[Mapping[str, Any]]) -> Optional[Path]:
    """Write the full evaluation beside the model (or remove a stale one when there is none); its path."""
    path = detail_path(model_path)
    if not evaluation:
        path.unlink(missing_ok=True)
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(evaluation), indent=1, sort_keys=True, default=str) + "\n", encoding="utf-8")
    return path


def with_detail_name(manifest: Mapping[str, Any], model_path: Union[str, Path]) -> Dict[str, Any]:
    """The manifest whose evaluation scores name the detail file written beside `model_path`."""
    updated = dict(manifest)
    if updated.get("evaluation"):
        updated["evaluation"] = {**updated["evaluation"], "detail_file": detail_path(model_path).name}
    return updated


def read_detail(model_path: Union[str, Path]) -> Optional[Dict[str, Any]]:
    """The evaluation detail beside the model, or None when there is no such file."""
    path = detail_path(model_path)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
