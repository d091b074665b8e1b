"""Generation batches made in a pool of worker processes and handed back in batch order.

Batch i of a run draws only from its own seeds (`core.batching.table_batch_seed`), so which process makes
it changes nothing: the rows of a run are the same with one worker or many. `ordered_batches` keeps at
most `workers` batches in the making while the caller writes the one before, and yields them in index
order, so a database still receives batch 0, 1, 2 ... each in its own transaction.

Workers are processes (NumPy decoding and pandas hold the GIL for part of the work), started through
`forkserver` where the platform has it (else `spawn`): a worker never inherits the caller's open database
connections or threads, it loads the model itself once (`initializer`). A worker that dies (killed, out
of memory) fails the run with `WorkerDied` naming the batch; the batches already handed back were
written whole, and no part of the lost batch reached the caller.

A worker hands its batch back through a file in a temporary folder of the run (removed at the end), and only
the file's name through the pool's pipe: a worker killed in the middle of a large message would leave the pool
waiting for the rest of it.

`HAZY_WORKERS` sets the number of workers (default: the CPUs this process may run on); 1 makes every
batch in the calling process, with no pool. Starting workers costs about a second, so a run of fewer than
`POOL_MIN_ROWS` rows (every table, every batch) is made in the calling process too (`workers_for`).
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import shutil
import tempfile
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Callable, Deque, Iterator, List, Optional, Sequence, Tuple, TypeVar

Result = TypeVar("Result")
POOL_MIN_ROWS = 200_000
"""Below this many rows in a run, starting worker processes costs more than it saves."""


class WorkerDied(RuntimeError):
    """A worker process ended while making a batch (killed, out of memory): the run cannot complete."""


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the platform has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def worker_count(workers: Optional[int] = None) -> int:
    """Worker processes for one generate call: `workers`, else `HAZY_WORKERS`, else `available_cpus()`."""
    if workers is None:
        text = os.environ.get("HAZY_WORKERS", "").strip()
        if not text:
            return available_cpus()
        try:
            workers = int(text)
        except ValueError:
            raise ValueError(f"HAZY_WORKERS must be a whole number >= 1, got {text!r}") from None
    if workers < 1:
        raise ValueError(f"the number of generation workers must be >= 1, got {workers}")
    return int(workers)


def workers_for(total_rows: int, workers: Optional[int] = None) -> int:
    """The workers a run of `total_rows` rows uses: `worker_count(workers)`, or 1 below `POOL_MIN_ROWS`."""
    count = worker_count(workers)
    return count if total_rows >= POOL_MIN_ROWS else 1


@dataclass(frozen=True)
class WorkerTask:
    """What a worker process runs: `initializer(*initargs)` once, then `make(index)` per batch. Both must be
    module-level functions (they are sent to the worker by name); `make` returns a picklable result."""

    initializer: Callable[..., None]
    initargs: Tuple[Any, ...]
    make: Callable[[int], Any]


_INIT_ERROR: List[BaseException] = []


def _run_initializer(initializer: Callable[..., None], initargs: Tuple[Any, ...]) -> None:
    """A worker's initializer; an error is kept and raised by every task (with its traceback) instead of
    breaking the pool, so the run fails with the real error rather than as a dead worker."""
    try:
        initializer(*initargs)
    except Exception as error:  # noqa: BLE001 - re-raised by _run_make
        _INIT_ERROR.append(error)


def _run_make(make: Callable[[int], Any], index: int, folder: str) -> str:
    """Make batch `index` and leave it in a file of `folder`; only the file's name goes back through the pool's
    pipe. A worker killed while it writes a large result into the pipe would leave half a message there and
    the pool waiting for the rest forever; a killed worker leaves at most a half-written file, never read."""
    if _INIT_ERROR:
        raise _INIT_ERROR[0]
    result = make(index)
    path = os.path.join(folder, f"batch-{index:06d}.pickle")
    with open(path + ".part", "wb") as handle:
        pickle.dump(result, handle, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(path + ".part", path)
    return path


def _collect(path: str) -> Any:
    """A batch a worker left in a file (written by this run's own workers), the file removed."""
    with open(path, "rb") as handle:
        result = pickle.load(handle)  # noqa: S301 - our own worker's file in our own temporary folder
    os.unlink(path)
    return result


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def ordered_batches(
    indices: Sequence[int],
    make_here: Callable[[int], Result],
    task: Optional[WorkerTask],
    workers: int,
) -> Iterator[Tuple[int, Result]]:
    """(index, result) for every index, in order: made by `make_here` in this process when there is one
    worker, one batch or no `task`, else by `task` in `workers` processes (at most `workers` in flight
    besides the one the caller holds). A dead worker raises `WorkerDied`; closing the iterator early
    cancels what was queued."""
    indices = [int(index) for index in indices]
    if task is None or workers <= 1 or len(indices) <= 1:
        for index in indices:
            yield index, make_here(index)
        return
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(indices)),
        mp_context=_context(),
        initializer=_run_initializer,
        initargs=(task.initializer, task.initargs),
    )
    folder = tempfile.mkdtemp(prefix="hazy-batches-")
    pending: Deque[Tuple[int, Future]] = deque()
    queue = iter(indices)
    waiting_for = indices[0]
    try:
        for index in queue:
            pending.append((index, pool.submit(_run_make, task.make, index, folder)))
            if len(pending) >= workers:
                break
        while pending:
            index, future = pending[0]
            waiting_for = index
            result = _collect(future.result())
            pending.popleft()
            following, broken = next(queue, None), None
            if following is not None:
                try:
                    pending.append((following, pool.submit(_run_make, task.make, following, folder)))
                except BrokenProcessPool as error:  # the batch in hand is whole: hand it back first
                    broken, waiting_for = error, following
            yield index, result
            if broken is not None:
                raise broken
    except BrokenProcessPool as error:
        raise WorkerDied(
            f"a generation worker process died while batch {waiting_for} was being made (killed or out of "
            "memory); the batches before it were handed back whole, this one and later ones were not"
        ) from error
    finally:
        for _, future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(folder, ignore_errors=True)
