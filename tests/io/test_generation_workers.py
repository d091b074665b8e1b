"""Generation in a pool of worker processes (`pipeline.workers`): the same rows as one worker, batches handed back in
order, and a worker killed mid-run fails the run with only whole batches in its staging and nothing published."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa

from airflow_provider_hazy import api
from airflow_provider_hazy.config import GenerationConfig, TrainingConfig
from airflow_provider_hazy.pipeline import workers as batch_pool
from airflow_provider_hazy.pipeline.workers import WorkerDied, WorkerTask, ordered_batches, worker_count, workers_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


# A WorkerTask's functions must be module-level: the worker imports them by name.
_STATE = {}


def _init(offset: int) -> None:
    _STATE["offset"] = offset


def _square(index: int) -> int:
    return index * index + _STATE["offset"]


def _die_at_two(index: int) -> int:
    if index == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return index


def test_worker_count_reads_hazy_workers(monkeypatch):
    monkeypatch.setenv("HAZY_WORKERS", "3")
    assert worker_count() == 3
    monkeypatch.delenv("HAZY_WORKERS")
    assert worker_count() == batch_pool.available_cpus()
    monkeypatch.setenv("HAZY_WORKERS", "two")
    with pytest.raises(ValueError, match="HAZY_WORKERS"):
        worker_count()
    assert workers_for(batch_pool.POOL_MIN_ROWS - 1, 4) == 1
    assert workers_for(batch_pool.POOL_MIN_ROWS, 4) == 4


def test_pool_results_come_back_in_order_and_equal_the_calling_process():
    task = WorkerTask(_init, (7,), _square)
    pooled = list(ordered_batches(range(9), lambda i: i * i + 7, task, workers=2))
    here = list(ordered_batches(range(9), lambda i: i * i + 7, task, workers=1))
    assert pooled == here == [(i, i * i + 7) for i in range(9)]


def test_a_killed_worker_raises_after_the_batches_before_it():
    received = []
    with pytest.raises(WorkerDied, match="batch 2"):
        for _index, value in ordered_batches(range(6), lambda i: i, WorkerTask(_init, (0,), _die_at_two), workers=2):
            received.append(value)
    assert received == [0, 1]


@pytest.fixture(scope="module")
def customers_model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("workers")
    config = TrainingConfig.from_file(EXAMPLES / "training.yaml").model_dump(mode="json")
    config.update(model_output=str(folder / "customers.hmf"), evaluation=None)
    config["data_input"] = [{"name": "customers", "location": str(EXAMPLES / "customers.csv")}]
    return api.train(TrainingConfig.model_validate(config))


def _generation(
    model: Path, location: dict, magnitude: float, batch_magnitude: float, sources: tuple = ()
) -> GenerationConfig:
    return GenerationConfig.model_validate(
        {
            "data_sources": list(sources),
            "model": str(model),
            "random_state": 5,
            "generate_params": {"magnitude": magnitude, "batch_magnitude": batch_magnitude},
            "data_output": [{"name": "customers", "location": location}],
            "validation": None,
        }
    )


def test_two_workers_write_the_same_bytes_as_one(customers_model, tmp_path, monkeypatch):
    monkeypatch.setattr(batch_pool, "POOL_MIN_ROWS", 0)
    outputs = {}
    for workers in ("1", "2"):
        monkeypatch.setenv("HAZY_WORKERS", workers)
        path = tmp_path / f"out{workers}.csv"
        state = api.generate(_generation(customers_model, {"path": str(path)}, 3.0, 0.5))
        assert [b["index"] for b in state["tables"]["customers"]["batches"]] == list(range(6))
        outputs[workers] = path.read_bytes()
    assert outputs["1"] == outputs["2"]
    assert outputs["1"].count(b"\n") == 15_001


def _kill_workers_after_a_commit(stop: threading.Event, state_path: Path) -> None:
    """Once the run's state lists a written batch, SIGKILL every grandchild of this process (the pool's
    workers, children of the forkserver)."""
    me = psutil.Process()
    while not stop.is_set():
        try:
            tables = json.loads(state_path.read_text())["tables"]
        except (OSError, ValueError, KeyError):
            tables = {}
        committed = any(b["status"] == "written" for t in tables.values() for b in t["batches"])
        workers = [p for child in me.children() for p in child.children()]
        if committed and workers:
            for worker in workers:
                worker.kill()
            return
        time.sleep(0.02)


def test_a_killed_worker_fails_the_run_with_nothing_published_in_postgres(
    customers_model, postgres_engine, monkeypatch, tmp_path
):
    monkeypatch.setattr(batch_pool, "POOL_MIN_ROWS", 0)
    monkeypatch.setenv("HAZY_WORKERS", "2")
    table = f"hz_workers_{os.getpid()}"
    url = postgres_engine.url.render_as_string(hide_password=False)
    location = {"source_id": "target", "table_name": table, "if_exists": "replace"}
    config = _generation(customers_model, location, 400, 4, ({"id": "target", "connection_url": url},))
    state_path = tmp_path / "state.json"
    config = config.model_copy(update={"generation_state_path": str(state_path)})
    stop = threading.Event()
    killer = threading.Thread(target=_kill_workers_after_a_commit, args=(stop, state_path))
    killer.start()
    try:
        with pytest.raises(api.GenerationError, match="worker process died") as failure:
            api.generate(config)
        state = failure.value.state["tables"]["customers"]
        written = [b for b in state["batches"] if b["status"] == "written"]
        assert 0 < len(written) < 100
        assert state["rows"] == 20_000 * len(written)  # whole batches only, in the run's staging
        assert not sa.inspect(postgres_engine).has_table(table)  # a failed run publishes nothing
    finally:
        stop.set()
        killer.join()
        with postgres_engine.begin() as connection:
            connection.execute(sa.text(f'DROP TABLE IF EXISTS "{table}"'))


def _failing_init(message: str) -> None:
    raise LookupError(message)


def test_a_failing_initializer_raises_its_own_error():
    task = WorkerTask(_failing_init, ("no model here",), _square)
    with pytest.raises(LookupError, match="no model here"):
        list(ordered_batches(range(4), lambda i: i, task, workers=2))
