"""The audit and publish steps of write-audit-publish (docs/publish.md): validate a run's staging, then
publish it into the targets (`io.publish`), or drop it and leave the targets as they were.

An unmapped run calls `audit_and_publish` at its end, still holding the targets' locks, with the checks of
its batches (made in memory as they were written, `pipeline.batch_validation`); a mapped run's last task
calls `publish(config, run_id)`, which takes the locks, merges the checks its prepare step and batches left
in their state files, and publishes. Either way only the staging's row counts are read back; the staging is
read back whole only where the batch checks cannot stand for it (`batch_validation.read_back_reason`, a
mapped run's missing checks).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..config import GenerationConfig
from ..io.locations import location_path, order_tables_for_write
from ..io.publish import PublishError, StagedOutput, discard, publish_outputs, staged_run
from ..io.sources import DataSources
from ..io.staging import check_run_id
from .batch_validation import BatchValidation, finish, mapped_validation
from .evaluation import run_validation
from .model import Model, load_model

log = logging.getLogger(__name__)


class GenerationError(RuntimeError):
    """A generation run that could not write every batch, or whose staging failed validation; `state` says
    which batches landed where."""

    def __init__(self, message: str, state: Dict[str, Any]) -> None:
        super().__init__(message)
        self.state = state


def validate_staged(
    config: GenerationConfig,
    model: Model,
    staged: Dict[str, StagedOutput],
    sources: DataSources,
    batches: Optional[BatchValidation],
) -> Dict[str, Any]:
    """The validation summary of the staged output (what is about to be published): the `batches`' checks
    merged with the staging's row counts, or without them the staging read back whole."""
    outputs = [item.model_copy(update={"location": staged[item.name].staged}) for item in config.data_output]
    config = config.model_copy(update={"data_output": outputs})
    return run_validation(config, model) if batches is None else finish(config, batches, sources)


def audit_and_publish(
    config: GenerationConfig,
    model: Model,
    state: Dict[str, Any],
    staged: Dict[str, StagedOutput],
    sources: DataSources,
    failures: List[str],
    batches: Optional[BatchValidation] = None,
) -> None:
    """Validate an unmapped run's staged output (`batches`: the checks of its batches, else it is read back)
    and publish it; or, after a batch that did not reach the staging or a failed validation, drop the staging
    and leave the targets as they were. `state["published"]`
    says which: {table: 'replaced'|'created'|'appended'}, or False. A publish that fails (an
    `append` hitting a key of the target, ...) is rolled back and added to `failures`."""
    complete = not failures and all(b["status"] == "written" for t in state["tables"].values() for b in t["batches"])
    if complete and config.validation is not None and config.validation.enable:
        state["validation"] = validate_staged(config, model, staged, sources, batches)
    if complete and (state["validation"] is None or state["validation"]["passed"]):
        try:
            state["published"] = publish_outputs(staged, sources)
            return
        except PublishError as error:
            failures.append(str(error))
            why = str(error)
    else:
        why = "a batch did not reach the staging" if not complete else "validation failed"
    discard(staged, sources)
    state["published"] = False
    log.error("nothing published (%s): the targets are as they were before this run", why)


def publish(config: GenerationConfig, run_id: str, *, lock_wait: Optional[float] = None) -> Dict[str, Any]:
    """The publish step of a mapped run: under the targets' locks, validate the run's staging (when
    `validation.enable`: the checks its prepare step and batches left beside `generation_state_path`, with
    the staging's row counts; the staging read back whole when some are missing) and publish it. Returns
    {"run_id", "published": {table: how}, "validation"}; a failed validation publishes nothing, keeps the
    staging and raises `GenerationError`."""
    path = location_path(config.model) if not isinstance(config.model, Path) else str(config.model)
    if path is None:
        raise ValueError("model: set the path of the model file (.hmf) to generate from")
    model = load_model(path)
    run_id = check_run_id(run_id)
    order = order_tables_for_write(model.schema)
    items = sorted(config.data_output, key=lambda item: order.index(item.name))
    targets = {item.name: item.location for item in items}
    result: Dict[str, Any] = {"run_id": run_id, "published": False, "validation": None}
    with DataSources(config.data_sources) as sources:
        with staged_run(targets, sources, run_id, "publish", lock_wait=lock_wait) as staged:
            if config.validation is not None and config.validation.enable:
                batches = mapped_validation(config, model, run_id)
                validation = result["validation"] = validate_staged(config, model, staged, sources, batches)
                if not validation["passed"]:
                    failed = "; ".join(validation["failures"][:5])
                    raise GenerationError(
                        f"run {run_id}: the staging failed validation, nothing published: {failed}", result
                    )
            result["published"] = publish_outputs(staged, sources)
    log.info("run %s: published %s", run_id, result["published"])
    return result
