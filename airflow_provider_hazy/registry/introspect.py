"""What the registry records of a model file, read from its manifest (never from its arrays' contents).

`introspect(data, filename)` checks the file with the model loader (`model_file.read_model`: a zip with a
manifest of this format, every array present with its checksum, no pickle) and returns a summary: the
synthesiser, epsilon and delta from the privacy ledger, whether preprocessing was private, the tables,
the training parameters, the evaluation scores and the stored synthetic sample rows. A file the loader
refuses raises `ModelRejected` with the loader's message.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional

from ..model_file import ModelFileError, read_model

SAMPLE_ROWS = 20
UNRECORDED_NOISE = "unrecorded (drawn from random_state)"
LEDGER_FIELDS = ("table", "purpose", "mechanism", "epsilon", "delta", "sensitivity", "scale")


class ModelRejected(ValueError):
    """An upload that is not a valid model file (the message is the loader's)."""


def _number(value: Any) -> Optional[float]:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def ledger_totals(privacy: Mapping[str, Any]) -> Dict[str, float]:
    """Total epsilon and delta of a manifest's privacy section, from its ledger when it has one."""
    ledger = privacy.get("ledger") or {}
    entries = ledger.get("entries") or []
    epsilon = _number(ledger.get("total_epsilon"))
    if epsilon is None:
        epsilon = _number(privacy.get("total_epsilon"))
    if epsilon is None:
        epsilon = math.fsum(_number(entry.get("epsilon")) or 0.0 for entry in entries)
    delta = None
    for holder, key in ((ledger, "total_delta"), (privacy, "total_delta"), (privacy, "delta")):
        delta = _number(holder.get(key))
        if delta is not None:
            break
    if delta is None:  # an entry's delta, at its top level or in its detail (0 for a pure-epsilon mechanism)
        delta = math.fsum(
            _number(entry.get("delta")) or _number((entry.get("detail") or {}).get("delta")) or 0.0
            for entry in entries
        )
    # 12 significant digits: the ledger's float sum (0.5000000000000001) is addressed as what was asked (0.5).
    return {"epsilon": float(f"{epsilon:.12g}"), "delta": float(f"{delta:.12g}")}


def evaluation_scores(evaluation: Any) -> Dict[str, Optional[float]]:
    """metric_type -> score (None when skipped) of a manifest's evaluation section."""
    scores: Dict[str, Optional[float]] = {}
    if not isinstance(evaluation, Mapping):
        return scores
    source = evaluation.get("scores") if isinstance(evaluation.get("scores"), Mapping) else evaluation
    for key, entry in source.items():
        if isinstance(entry, Mapping) and ("metric_type" in entry or "score" in entry):
            scores[str(entry.get("metric_type", key))] = _number(entry.get("score"))
        elif not isinstance(entry, (Mapping, bool)) and _number(entry) is not None:
            scores[str(key)] = _number(entry)
    return scores


def _tables(manifest: Mapping[str, Any]) -> Dict[str, Any]:
    tables: Dict[str, Any] = {}
    for name, entry in (manifest.get("tables") or {}).items():
        tables[name] = {
            "type": entry.get("type", "tabular"),
            "n_rows": entry.get("n_rows"),
            "epsilon": _number(entry.get("epsilon")),
            "columns": [
                {"name": column.get("name"), "type": column.get("type")} for column in entry.get("columns") or []
            ],
        }
    return tables


def _sample(manifest: Mapping[str, Any]) -> Dict[str, List[Dict[str, Any]]]:
    sample = manifest.get("sample") or {}
    if not isinstance(sample, Mapping):
        return {}
    return {name: list(rows or [])[:SAMPLE_ROWS] for name, rows in sample.items()}


def summarise(manifest: Mapping[str, Any]) -> Dict[str, Any]:
    """The registry's summary of a manifest (JSON values only)."""
    privacy = manifest.get("privacy") or {}
    totals = ledger_totals(privacy)
    ledger = privacy.get("ledger") or {}
    # Fresh noise is private; the test-only reproducible switch is not, and neither is a model that did not
    # record its noise (it drew it from random_state). The manifest says which (`private_noise`, `noise`).
    noise = privacy.get("noise") or ledger.get("noise") or UNRECORDED_NOISE
    private_noise = privacy.get("private_noise", ledger.get("private_noise"))
    if private_noise is None:
        private_noise = noise != UNRECORDED_NOISE and "not private" not in str(noise)
    training = manifest.get("training_config") or {}
    parameters = training.get("model_parameters") or {}
    return {
        "synthesiser": str(manifest.get("synthesiser") or "unknown"),
        "epsilon": totals["epsilon"],
        "delta": totals["delta"],
        "processing_private": bool(privacy.get("processing_private", False)),
        "noise": noise,
        "private_noise": bool(private_noise),
        "title": manifest.get("title") or "",
        "created_at": manifest.get("created_at"),
        "package_version": manifest.get("package_version"),
        "format_version": manifest.get("format_version"),
        "tables": _tables(manifest),
        "training_parameters": {
            "generator": parameters.get("generator") or {},
            "multi_table": parameters.get("multi_table") or {},
            "random_state": training.get("random_state"),
            "train_test_split": training.get("train_test_split"),
        },
        "evaluation": evaluation_scores(manifest.get("evaluation")),
        "sample": _sample(manifest),
        "ledger": [
            {key: entry.get(key) for key in LEDGER_FIELDS}
            for entry in (privacy.get("ledger") or {}).get("entries") or []
        ],
    }


def introspect(data: bytes, filename: str = "upload") -> Dict[str, Any]:
    """The summary of a model file's bytes; `ModelRejected` (the loader's message) for anything else."""
    try:
        manifest, _ = read_model(data)
    except ModelFileError as error:
        message = str(error)
        if message.startswith("model bytes: "):
            message = message[len("model bytes: ") :]
        raise ModelRejected(f"{filename}: {message}") from None
    return summarise(manifest)
