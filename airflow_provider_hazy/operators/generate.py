"""`HazyGenerateOperator`: generate synthetic tables into the target, whole or one mapped batch at a time.

Mapped generation (see docs/airflow.md)::

    prepare = HazyGenerateOperator(task_id="prepare_target", config=cfg, prepare=True, target_conn_id=...)
    batches = list_generation_batches_task(cfg)
    generate = HazyGenerateOperator.partial(task_id="generate", config=cfg, target_conn_id=..., retries=2
                                            ).expand(batch_index=batches)
    prepare >> generate

`prepare` alone applies `if_exists` (drop / create, parents first) and writes the reference tables; every
batch then appends its own rows (a file or S3 output: its own part), replacing any rows of the same batch an
earlier attempt left, so a retry never duplicates or loses rows (`api.generate(config, batch_indices=...)`).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from airflow.exceptions import AirflowException
from airflow.sdk import task

from .. import api
from ..config import GenerationConfig
from ..io.sources import use_resolver
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


class HazyGenerateOperator(HazyBaseOperator):
    """Run `api.generate(config)`: every batch, one `batch_index`, or (`prepare=True`) only `if_exists`.

    :param generator: a registry generator name: generate from its active version's most private model
        (instead of the config's `model`; see docs/registry.md).

    XCom: `{"model", "rows": {table: rows written}, "batches": [indices]}`. Outlets: the output tables.
    The task fails when a batch went to the fail-safe path (naming its file) or validation failed.
    """

    template_fields: Sequence[str] = (*HazyBaseOperator.template_fields, "batch_index", "generator")

    def __init__(
        self,
        *,
        batch_index: Optional[int] = None,
        prepare: bool = False,
        generator: Optional[str] = None,
        **kwargs: Any,
    ) -> None:
        if "outlets" not in kwargs and not prepare:
            kwargs["outlets"] = config_outlets(kwargs.get("config"), GenerationConfig, kwargs.get("target_conn_id"))
        super().__init__(**kwargs)
        self.batch_index = batch_index
        self.prepare = prepare
        self.generator = generator

    def _batch_indices(self) -> Optional[List[int]]:
        if self.prepare:
            return []
        return None if self.batch_index is None else [int(self.batch_index)]

    def execute(self, context: Any) -> Dict[str, Any]:
        config = _with_generator(self.load(GenerationConfig), self.generator)
        indices = self._batch_indices()
        with self.connections():
            state = api.generate(config) if indices is None else api.generate(config, batch_indices=indices)
        rows = {name: table["rows"] for name, table in state["tables"].items()}
        batches = sorted({b["index"] for t in state["tables"].values() for b in t.get("batches", [])})
        self.log.info("%s: rows written %s (batches %s)", "prepare" if self.prepare else "generate", rows, batches)
        outcome = generation_outcome(state)
        if not outcome.ok:  # rows in fail-safe files, or validation failed: the task fails, naming them
            raise AirflowException(f"generation incomplete (exit code {outcome.exit_code}): {outcome.message()}")
        return {"model": str(state.get("model")), "rows": rows, "batches": batches}
