"""`HazyGenerateOperator`: generate synthetic tables into the target, whole or one mapped batch at a time.

Mapped generation (see docs/airflow.md)::

    prepare = HazyGenerateOperator(task_id="prepare_target", config=cfg, prepare=True, target_conn_id=...)
    batches = list_generation_batches_task(cfg)
    generate = HazyGenerateOperator.partial(task_id="generate", config=cfg, target_conn_id=..., retries=2
                                            ).expand(batch_index=batches)
    publish = HazyPublishOperator(task_id="publish", config=cfg, target_conn_id=...)
    prepare >> generate >> publish

`prepare` creates the run's staging (empty tables, parents first; `if_exists: fail` checked against the
target) and writes the reference tables into it; every batch then appends its own rows to the staging (a
file output: its own part), replacing any rows of the same batch an earlier attempt left, so a retry never
duplicates or loses rows; `publish` validates the staging and swaps it into the targets in one step
(write-audit-publish, docs/publish.md). The three share the run id derived from the DAG run
(`mapped_run_id`), or the templated `run_id` argument.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from airflow.exceptions import AirflowException
from airflow.sdk import task

from .. import api
from ..config import GenerationConfig
from ..io.sources import use_resolver
from ..io.staging import mapped_run_id
from ..outcome import generation_outcome
from .base import HazyBaseOperator
from .configs import OperatorConfig, config_outlets, connection_resolver, load_config


def list_generation_batches(config: OperatorConfig, generator: Optional[str] = None) -> List[int]:
    """The batch indices of a generation config and its model (`batch_magnitude` of `magnitude`)."""
    loaded = _with_generator(load_config(config, GenerationConfig), generator)
    with use_resolver(connection_resolver({})):  # a registry generator resolves through Airflow connections
        return api.list_batches(loaded)


def _with_generator(config: GenerationConfig, generator: Optional[str]) -> GenerationConfig:
    """The config generating from the registry generator `generator` (its active model) when one is given."""
    if not generator:
        return config
    return GenerationConfig.model_validate({**config.model_dump(mode="python"), "model": None, "generator": generator})


@task(task_id="list_batches")
def list_generation_batches_task(config: OperatorConfig, generator: Optional[str] = None) -> List[int]:
    """`list_generation_batches` as a task, for `.expand(batch_index=...)`."""
    return list_generation_batches(config, generator)


def run_id_for(context: Any, run_id: Optional[str] = None) -> str:
    """The run id a mapped run's prepare, batches and publish share: `run_id` when given, else derived from
    the DAG run (its dag id, run id and `run_after`), so every task of one DAG run finds the same staging."""
    if run_id:
        return str(run_id)
    dag_run = context.get("dag_run") if context else None
    if dag_run is None:
        raise ValueError(
            "a mapped generation task outside a DAG run needs run_id= (the same for prepare, batches and publish)"
        )
    started = getattr(dag_run, "run_after", None) or getattr(dag_run, "start_date", None)
    key = f"{dag_run.dag_id}/{dag_run.run_id}"
    return mapped_run_id(key, started.timestamp() if started is not None else 0.0)


class HazyGenerateOperator(HazyBaseOperator):
    """Run `api.generate(config)`: every batch, one `batch_index`, or (`prepare=True`) only the staging.

    :param generator: a registry generator name: generate from its active version's most private model
        (instead of the config's `model`; see docs/registry.md).
    :param run_id: a mapped run's id, shared by its prepare, batches and publish (default: derived from the
        DAG run, `run_id_for`).

    XCom: `{"model", "rows": {table: rows written}, "batches": [indices], "run_id"}`. Outlets: the output
    tables (an unmapped run; a mapped run's outlets belong to `HazyPublishOperator`).
    The task fails when a batch went to the fail-safe path (naming its file) or validation failed.
    """

    template_fields: Sequence[str] = (*HazyBaseOperator.template_fields, "batch_index", "generator", "run_id")

    def __init__(
        self,
        *,
        batch_index: Optional[int] = None,
        prepare: bool = False,
        generator: Optional[str] = None,
        run_id: Optional[str] = None,
        **kwargs: Any,
    ) -> None:
        if "outlets" not in kwargs and not prepare:
            kwargs["outlets"] = config_outlets(kwargs.get("config"), GenerationConfig, kwargs.get("target_conn_id"))
        super().__init__(**kwargs)
        self.batch_index = batch_index
        self.prepare = prepare
        self.generator = generator
        self.run_id = run_id

    def _batch_indices(self) -> Optional[List[int]]:
        if self.prepare:
            return []
        return None if self.batch_index is None else [int(self.batch_index)]

    def execute(self, context: Any) -> Dict[str, Any]:
        config = _with_generator(self.load(GenerationConfig), self.generator)
        indices = self._batch_indices()
        with self.connections():
            if indices is None:
                state = api.generate(config)
            else:
                state = api.generate(config, batch_indices=indices, run_id=run_id_for(context, self.run_id))
        rows = {name: table["rows"] for name, table in state["tables"].items()}
        batches = sorted({b["index"] for t in state["tables"].values() for b in t.get("batches", [])})
        self.log.info("%s: rows written %s (batches %s)", "prepare" if self.prepare else "generate", rows, batches)
        outcome = generation_outcome(state)
        if not outcome.ok:  # rows in fail-safe files, or validation failed: the task fails, naming them
            raise AirflowException(f"generation incomplete (exit code {outcome.exit_code}): {outcome.message()}")
        return {"model": str(state.get("model")), "rows": rows, "batches": batches, "run_id": state["run_id"]}


class HazyPublishOperator(HazyBaseOperator):
    """The last step of a mapped run: `api.publish(config, run_id)` validates the run's staging and swaps it
    into the targets under their locks (a failed validation fails the task and publishes nothing).

    :param generator: the registry generator the run's batches generated from (its model validates).
    :param run_id: the mapped run's id (default: derived from the DAG run, `run_id_for`).

    XCom: `{"run_id", "published": {table: how}, "validation": summary or None}`. Outlets: the output tables.
    """

    template_fields: Sequence[str] = (*HazyBaseOperator.template_fields, "generator", "run_id")

    def __init__(self, *, generator: Optional[str] = None, run_id: Optional[str] = None, **kwargs: Any) -> None:
        if "outlets" not in kwargs:
            kwargs["outlets"] = config_outlets(kwargs.get("config"), GenerationConfig, kwargs.get("target_conn_id"))
        super().__init__(**kwargs)
        self.generator = generator
        self.run_id = run_id

    def execute(self, context: Any) -> Dict[str, Any]:
        config = _with_generator(self.load(GenerationConfig), self.generator)
        with self.connections():
            result = api.publish(config, run_id_for(context, self.run_id))
        self.log.info("run %s: published %s", result["run_id"], result["published"])
        return result
