"""Generation, top to bottom: plan -> batches -> draw, finish, keys -> write -> state -> validation.

`generate(config)` loads the model, plans the batches (`batches.batch_plan`), opens a writer per output
(parents first), and for each batch draws and finishes every table (`batches.make_batch`,
`batches.finish_batch`) and writes it: a failed write goes to the location's fail-safe path when one is set
(`write_batch`), otherwise the run stops with `GenerationError`. A mapped run (one Airflow task per batch)
has a prepare step (`if_exists`, empty tables, reference tables) and batches that first delete the rows an
earlier attempt wrote (`delete_batch_rows`). The generation state is written to `generation_state_path` at
the start and after every batch (`run_state`). Every run writes into staging of its own and publishes it at
the end (write-audit-publish, `pipeline.publication`, docs/publish.md). With validation on, each batch is
checked in memory where it is made, before it is written (`batch_validation`): an unmapped run merges the
checks and, after the last batch, reads back only the staging's row counts, then publishes; a mapped batch
keeps its checks in its own state file, and the run's `publication.publish` step merges them.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import pandas as pd

from .. import __version__
from ..config import GenerationConfig
from ..config.enums import IfExists
from ..config.schema import IdColumn
from ..core import multitable
from ..core.batching import run_entropy, table_batch_seed
from ..io.local_paths import require_local_path
from ..io.locations import (
    fail_safe_path,
    location_kind,
    location_label,
    location_path,
    open_writer,
    order_tables_for_write,
    part_location,
    prepare_parts,
)
from ..io.publish import staged_run
from ..io.sources import DataSources
from ..io.staging import check_run_id, new_run_id
from ..outcome import fail_safe_write_error
from .batch_validation import PREPARE, BatchChecker, BatchChecks, BatchValidation, run_checker
from .batches import batch_plan, finish_batch, make_batch
from .model import Model, load_model
from .publication import GenerationError, audit_and_publish
from .run_state import write_state
from .workers import WorkerDied, WorkerTask, ordered_batches, workers_for

log = logging.getLogger(__name__)


def model_path(config: GenerationConfig) -> str:
    """The model file's path; also refuses, before any work, a model, state or fail-safe path that is a URL."""
    path = location_path(config.model) if not isinstance(config.model, Path) else str(config.model)
    if path is None:
        raise ValueError("model: set the path of the model file (.hmf) to generate from")
    require_local_path(path, "model")
    if config.generation_state_path is not None:
        require_local_path(location_path(config.generation_state_path), "generation_state_path")
    for item in config.data_output:
        require_local_path(fail_safe_path(item.location), f"data_output '{item.name}': fail_safe_path")
    return path


def batch_frames(
    config: GenerationConfig,
    model: Model,
    graph: multitable.ForeignKeyGraph,
    plan: multitable.GenerationPlan,
    entropy: int,
    index: int,
) -> Dict[str, pd.DataFrame]:
    """Every table of batch `index`, drawn and finished (what one generation worker hands back)."""
    frames = make_batch(model, graph, plan, index, lambda t: table_batch_seed(entropy, index, t))
    return finish_batch(config, model, graph, frames)


def checked_batch(
    config: GenerationConfig,
    model: Model,
    graph: multitable.ForeignKeyGraph,
    plan: multitable.GenerationPlan,
    entropy: int,
    index: int,
    checker: Optional[BatchChecker],
    with_references: bool,
) -> Tuple[Dict[str, pd.DataFrame], Optional[BatchChecks]]:
    """Batch `index` and, with a `checker`, the validation checks of the tables it writes (made where the batch
    is made, before it is written)."""
    frames = batch_frames(config, model, graph, plan, entropy, index)
    if checker is None:
        return frames, None
    return frames, checker.check_batch(frames, checker.written_tables(index, with_references))


_WORKER: Dict[str, Any] = {}
"""A generation worker process's config, model, graph, plan, entropy and batch checker, set by `_worker_init`."""


def _worker_init(path: str, config: GenerationConfig, entropy: int, validating: bool, with_references: bool) -> None:
    model = load_model(path)
    graph = model.graph()
    checker = BatchChecker(config, model) if validating else None
    plan = batch_plan(model, graph, config)
    _WORKER.update(
        config=config,
        model=model,
        graph=graph,
        plan=plan,
        entropy=entropy,
        checker=checker,
        with_references=with_references,
    )


def _worker_batch(index: int) -> Tuple[Dict[str, pd.DataFrame], Optional[BatchChecks]]:
    w = _WORKER
    return checked_batch(
        w["config"], w["model"], w["graph"], w["plan"], w["entropy"], index, w["checker"], w["with_references"]
    )


def _until_worker_dies(batches: Iterator[Any], failures: List[str]) -> Iterator[Any]:
    """The batches of `ordered_batches`; a dead worker ends them with a failure (nothing of its batch written)."""
    try:
        yield from batches
    except WorkerDied as error:
        failures.append(str(error))


def list_batches(config: GenerationConfig) -> List[int]:
    """The batch indices of a generation run (its model's tables, magnitude and batch_magnitude); each can be
    generated and written on its own with `generate(config, batch_indices=[i])`."""
    model = load_model(model_path(config))
    return list(range(batch_plan(model, model.graph(), config).n_batches))


def generate(
    config: GenerationConfig,
    batch_indices: Optional[Sequence[int]] = None,
    *,
    run_id: Optional[str] = None,
    lock_wait: Optional[float] = None,
) -> Dict[str, Any]:
    """Generate every configured table in batches and write it; returns the generation state (a report).

    Batch i holds the root-table rows of batch i and all their descendants, so it is referentially complete
    on its own; tables are written parents first. The state lists every batch, where it went and why; it is
    also written to `generation_state_path`. A batch that fails to write goes to the location's fail-safe
    path when one is set; otherwise the run stops and raises `GenerationError` carrying the state.

    `batch_indices` makes a *mapped* run (one Airflow task per batch, docs/airflow.md):
    - `[]` is the prepare step: it applies each output's `if_exists` and creates the database tables with no
      row, with the column types and keys an unmapped run gives them (parents first), writes the reference
      tables (copied, not generated), and for a file or S3 output empties (replace) or checks (fail) the
      whole output and its part folder;
    - `[i, ...]` generates and appends only those batches. A database batch first deletes the target rows
      holding its own keys (children before parents: keys are a function of the batch, so a retry makes
      the same ones) and then writes, so a retry replaces its own rows; a file or S3 batch writes its own
      part `<name>/part-00003.<ext>` (`io.locations.part_path`), replacing it.
    The union of the prepare step and every batch is the rows of one unmapped run with the same
    `random_state`. A mapped batch that cannot write raises (no fail-safe path: the task is retried), and
    a mapped batch only checks its own rows (a batch is not the whole output): its publish step validates.

    Write-audit-publish (docs/publish.md): a run writes into staging of its own (`hzs_<run id>_<table>`
    beside a database table, `.hzs_<run id>_<file>/` beside a file), validates the staging and then
    publishes it in one step; a failed, refused or killed run leaves the target as it was. An unmapped run
    holds the targets' locks throughout (`TargetLockedError` names the holder; `lock_wait` or
    `HAZY_LOCK_WAIT` seconds to wait). A mapped run's prepare step, batches and publish share its `run_id`
    (the prepare step makes one when none is given: its state's `run_id`).

    With `validation.enable`, every batch is checked in memory before it is written (`batch_validation`) and
    only the staging's row counts are read back; a mapped batch leaves its checks in its state file
    (`batch_checks`) for the publish step.
    """
    started = time.time()
    path = model_path(config)
    model = load_model(path)
    graph = model.graph()
    entropy = run_entropy(config.random_state)
    names = list(model.manifest["tables"])
    for item in config.data_output:
        if item.name not in model.manifest["tables"]:
            raise ValueError(f"data_output: table '{item.name}' is not in the model (tables: {names})")
    plan = batch_plan(model, graph, config)
    mapped = batch_indices is not None
    indices = list(range(plan.n_batches)) if batch_indices is None else [int(i) for i in batch_indices]
    if len(set(indices)) != len(indices):
        raise ValueError(f"batch_indices: {indices} lists a batch more than once")
    for index in indices:
        if not 0 <= index < plan.n_batches:
            raise ValueError(f"batch_indices: {index} is not a batch of this run (0..{plan.n_batches - 1})")
    if mapped and indices and run_id is None:
        raise ValueError("a mapped batch needs the run_id of its prepare step (api.generate(..., run_id=...))")
    run_id = check_run_id(run_id) if run_id is not None else new_run_id()
    state: Dict[str, Any] = {
        "run_id": run_id,
        "package_version": __version__,
        "model": path,
        "synthesiser": model.manifest["synthesiser"],
        "total_epsilon": model.total_epsilon,
        "random_state": config.random_state,
        "seed": entropy,
        "magnitude": config.generate_params.magnitude,
        "batch_magnitude": config.generate_params.batch_magnitude,
        "n_batches": plan.n_batches,
        "batch_indices": indices,
        "mapped": "prepare" if mapped and not indices else mapped,
        "tables": {},
        "validation": None,
    }
    targets = {item.name: item.location for item in config.data_output}
    write_order = [name for name in order_tables_for_write(model.schema) if name in targets]
    targets = {name: targets[name] for name in write_order}
    failures: List[str] = []
    checker = run_checker(config, model)  # None: validation off, or the staging is read back whole
    validation = BatchValidation(checker) if checker is not None and not mapped else None
    if checker is not None and mapped:
        state["batch_checks"] = {}  # a retry starts its file afresh: its checks replace the earlier attempt's
    phase = "run" if not mapped else ("batch" if indices else "prepare")
    with DataSources(config.data_sources) as sources, contextlib.ExitStack() as stack:
        staged = stack.enter_context(staged_run(targets, sources, run_id, phase, lock_wait=lock_wait))
        outputs = {name: output.staged for name, output in staged.items()}
        state["staging"] = {name: location_label(location) for name, location in outputs.items()}
        state["published"] = None
        write_state(config, state)
        with contextlib.ExitStack() as writers:  # closed (Parquet footers written) before the publish

            def opener(name: str, location: Any) -> Any:
                return open_writer(
                    name,
                    location,
                    table_schema=model.schema.table(name),
                    data_schema=model.schema,
                    sources=sources,
                    table_locations=outputs,
                )

            writes: Dict[str, Callable[[int, pd.DataFrame], Any]] = {}
            for name in write_order:
                location = outputs[name]
                if mapped and location_kind(location) != "sql":
                    writes[name] = _part_write(opener, name, location)
                else:
                    if mapped and indices:  # the prepare step made the staging: batches append
                        location = location.model_copy(update={"if_exists": IfExists.APPEND})
                    writer = writers.enter_context(opener(name, location))
                    writes[name] = lambda _index, frame, writer=writer: writer.write_batch(frame)
                label = location_label(targets[name])
                state["tables"][name] = {"rows": 0, "output": label, "batches": [], "failure": None}
            if mapped and not indices:
                _prepare_outputs(
                    config, model, graph, plan, entropy, outputs, write_order, writes, sources, state, checker
                )
            batches = ordered_batches(
                indices,
                lambda index: checked_batch(config, model, graph, plan, entropy, index, checker, not mapped),
                WorkerTask(_worker_init, (path, config, entropy, checker is not None, not mapped), _worker_batch),
                workers_for(sum(sum(capacity) for capacity in plan.capacities.values())),
            )
            for index, (frames, checks) in _until_worker_dies(batches, failures):
                tables = [name for name in write_order if name not in model.references or (index == 0 and not mapped)]
                if mapped:
                    _delete_batch_rows(model, graph, outputs, tables, frames, sources)
                statuses = []
                for name in tables:
                    start_row = plan.offsets.get(name, [0] * plan.n_batches)[index]
                    location = outputs[name]
                    if mapped and location_kind(location) != "sql":
                        location = part_location(location, index)
                    entry = _write_batch(
                        writes[name], location, name, index, frames[name], start_row, not mapped, run_id
                    )
                    table_state = state["tables"][name]
                    table_state["batches"].append(entry)
                    statuses.append(entry["status"])
                    if entry["status"] == "written":
                        table_state["rows"] += entry["rows"]
                    if entry["status"] == "failed":
                        table_state["failure"] = entry["error"]
                        failures.append(f"table '{name}': {entry['error']}")
                        break
                if checks is not None and statuses == ["written"] * len(tables):
                    if mapped:
                        state["batch_checks"][str(index)] = checks.to_json()
                    elif validation is not None:
                        validation.add(checks)
                write_state(config, state)
                if failures:
                    break
        if not mapped:
            audit_and_publish(config, model, state, staged, sources, failures, validation)
    state["seconds"] = round(time.time() - started, 3)
    write_state(config, state)
    if failures:
        written = {
            name: [b["index"] for b in t["batches"] if b["status"] == "written"] for name, t in state["tables"].items()
        }
        raise GenerationError(f"generation failed: {'; '.join(failures)}; batches written: {written}", state)
    return state


def _part_write(opener: Callable[[str, Any], Any], name: str, location: Any) -> Callable[[int, pd.DataFrame], int]:
    """For a mapped run's file or S3 output: write a batch as its own part (opened, written, closed)."""

    def write(index: int, frame: pd.DataFrame) -> int:
        with opener(name, part_location(location, index)) as writer:
            return writer.write_batch(frame)

    return write


def _prepare_outputs(
    config: GenerationConfig,
    model: Model,
    graph: multitable.ForeignKeyGraph,
    plan: multitable.GenerationPlan,
    entropy: int,
    outputs: Dict[str, Any],
    write_order: List[str],
    writes: Dict[str, Callable[[int, pd.DataFrame], Any]],
    sources: DataSources,
    state: Dict[str, Any],
    checker: Optional[BatchChecker],
) -> None:
    """The prepare step of a mapped run (see `generate`): parents first, each database table created from
    batch 0's columns with no row (the types an unmapped run's first batch gives it), each file or S3 output
    emptied or checked per its `if_exists`; the reference tables written whole (and, with a `checker`, their
    checks kept in the state for the publish step)."""
    frames = make_batch(model, graph, plan, 0, lambda t: table_batch_seed(entropy, 0, t))
    frames = finish_batch(config, model, graph, frames)
    for name in write_order:
        location = outputs[name]
        reference = name in model.references
        if location_kind(location) != "sql":
            prepare_parts(name, location, sources=sources)
            if not reference:
                continue
        frame = frames[name] if reference else frames[name].iloc[:0]
        rows = writes[name](0, frame)
        state["tables"][name]["rows"] = int(rows or 0)
    if checker is not None:
        state["batch_checks"][PREPARE] = checker.check_batch(frames, checker.references).to_json()


def _batch_keys(model: Model, graph: multitable.ForeignKeyGraph, name: str, frame: pd.DataFrame) -> List[str]:
    """The columns that identify a batch's rows of table `name` in the target: its primary key, else its id
    columns, else the foreign key to its driving parent (whose rows are the batch's own)."""
    table = model.schema.table(name)
    keys = list(table.key_columns)
    if not keys:
        keys = [column.name for column in table.columns if isinstance(column, IdColumn)]
    if not keys and graph.driving.get(name) is not None:
        keys = list(graph.driving[name].child_columns)
    return keys if keys and set(keys) <= set(frame.columns) else []


def _delete_batch_rows(
    model: Model,
    graph: multitable.ForeignKeyGraph,
    outputs: Dict[str, Any],
    tables: List[str],
    frames: Dict[str, pd.DataFrame],
    sources: DataSources,
) -> None:
    """Before a mapped batch is written to a database: delete the rows an earlier attempt of the same batch
    wrote (those holding its keys), children before parents so that foreign keys do not block it."""
    from ..io.sql import delete_rows_by_key  # SQLAlchemy only when a database is written

    for name in reversed(tables):
        location = outputs[name]
        if location_kind(location) != "sql":
            continue
        keys = _batch_keys(model, graph, name, frames[name])
        if not keys:
            log.warning("table '%s': no key column identifies a batch's rows; a retried batch may repeat rows", name)
            continue
        engine = sources.engine(location.source_id)
        deleted = delete_rows_by_key(engine, location.table_name, location.schema_name, keys, frames[name])
        if deleted:
            log.info("table '%s': deleted %s rows of an earlier attempt of this batch", name, deleted)


def _write_fail_safe(directory: str, table: str, batch_index: int, frame: pd.DataFrame, run_id: str = "") -> str:
    """`<fail_safe_path>/<run id>/<table>.batch-00003.csv`: a folder per run, never overwritten by the next."""
    safe_name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in table)
    path = Path(directory) / run_id / f"{safe_name}.batch-{batch_index:05d}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return str(path)


def _write_batch(
    write: Callable[[int, pd.DataFrame], Any],
    location: Any,
    table: str,
    index: int,
    frame: pd.DataFrame,
    start_row: int,
    use_fail_safe: bool = True,
    run_id: str = "",
) -> Dict[str, Any]:
    """Write batch `index` of `table` through `write(index, frame)`; its state entry (written, fail_safe or
    failed, and where). Without `use_fail_safe` (a mapped batch: Airflow retries it) a failure is failed."""
    started = time.perf_counter()
    entry: Dict[str, Any] = {"index": index, "start_row": start_row, "rows": len(frame)}
    try:
        write(index, frame)
        entry.update(status="written", destination=location_label(location))
    except Exception as error:  # noqa: BLE001 - any write failure goes to the fail-safe path
        entry["error"] = f"{type(error).__name__}: {error}"
        fail_safe = fail_safe_path(location) if use_fail_safe else None
        if fail_safe is None:
            entry["status"] = "failed"
        else:
            try:
                entry.update(status="fail_safe", destination=_write_fail_safe(fail_safe, table, index, frame, run_id))
            except Exception as fail_safe_error:  # noqa: BLE001 - report both errors, the batch and the path
                error = fail_safe_write_error(entry["error"], index, fail_safe, fail_safe_error)
                entry.update(status="failed", error=error)
    entry["seconds"] = round(time.perf_counter() - started, 4)
    return entry
