"""Locks that serialise generation runs on one target, held in the target itself (docs/publish.md).

- PostgreSQL: a session advisory lock per target table (`pg_try_advisory_lock`), on a connection of its
  own whose `application_name` is `hazy run <run id>`, so a refused run can name the holder;
- MariaDB/MySQL: `GET_LOCK('hazy:<hash of database.schema.table>')` per target table, on a connection of
  its own; the holder is named by its connection id and the run id of its staging tables;
- SQLite: an exclusive `flock` on `<database file>.hazy-lock`;
- local files: an exclusive `flock` on `<folder>/.<file name>.hazy-lock`, holding the holder's run id.

Every one of them is released by the operating system or the server when the process dies (SIGKILL
included): a killed run never leaves a lock behind. S3 outputs take no lock (S3 has none to take).

A run that finds a target locked waits up to `wait` seconds (`HAZY_LOCK_WAIT`, default 0) and then raises
`TargetLockedError` naming the target and the holder's run id.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any, Iterator, List, Mapping, Optional, Tuple

import sqlalchemy as sa

from ..config import DatabaseReadTableConfig
from .sources import DataSources
from .staging import STAGE, staged_table_pattern

log = logging.getLogger(__name__)
POLL_SECONDS = 0.1
APPLICATION_NAME = "hazy run "


class TargetLockedError(RuntimeError):
    """Another generation run holds the lock of a target; `holder` is its run id when known."""

    def __init__(self, message: str, holder: Optional[str] = None) -> None:
        super().__init__(message)
        self.holder = holder


def lock_wait(wait: Optional[float] = None) -> float:
    """Seconds to wait for a locked target: `wait`, else `HAZY_LOCK_WAIT`, else 0 (refuse at once)."""
    value = float(wait if wait is not None else os.environ.get("HAZY_LOCK_WAIT", 0) or 0)
    if value < 0:
        raise ValueError(f"lock wait must be >= 0 seconds, got {value}")
    return value


def _pg_key(schema_name: Optional[str], table_name: str) -> int:
    digest = hashlib.sha256(f"hazy:{schema_name or ''}.{table_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _mysql_name(database: str, schema_name: Optional[str], table_name: str) -> str:
    digest = hashlib.sha256(f"{schema_name or database}.{table_name}".encode()).hexdigest()
    return f"hazy:{digest[:40]}"


def _label(schema_name: Optional[str], table_name: str, source_id: str) -> str:
    table = f"{schema_name}.{table_name}" if schema_name else table_name
    return f"source '{source_id}' table '{table}'"


class _SqlLocks:
    """The locks of one data source's target tables, on one connection of their own."""

    def __init__(self, engine: Any, source_id: str, tables: List[Tuple[Optional[str], str]], run_id: str) -> None:
        self.engine = engine
        self.source_id = source_id
        self.tables = sorted(set(tables), key=lambda item: (item[0] or "", item[1]))
        self.run_id = run_id
        self.dialect = engine.dialect.name
        self.connection: Optional[sa.Connection] = None

    def acquire(self, deadline: float) -> None:
        if self.dialect not in ("postgresql", "mysql", "mariadb"):
            log.warning(
                "source '%s': no lock for %s targets; concurrent runs are not serialised", self.source_id, self.dialect
            )
            return
        self.connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            if self.dialect == "postgresql":
                self.connection.execute(
                    sa.text("SELECT set_config('application_name', :name, false)"),
                    {"name": APPLICATION_NAME + self.run_id},
                )
            # a table named without its schema locks as the same table named with the default one
            default = self.connection.execute(
                sa.text("SELECT current_schema()" if self.dialect == "postgresql" else "SELECT DATABASE()")
            ).scalar()
            tables = sorted({(schema or default or "", table) for schema, table in self.tables})
            for schema_name, table_name in tables:
                while not self._try(schema_name, table_name):
                    if time.monotonic() >= deadline:
                        holder = self._holder(schema_name or None, table_name)
                        who = f"run {holder}" if holder else "another run"
                        raise TargetLockedError(
                            f"{_label(schema_name, table_name, self.source_id)}: {who} is writing this target "
                            "(locked); try again when it has finished, or set HAZY_LOCK_WAIT to wait for it",
                            holder,
                        )
                    time.sleep(POLL_SECONDS)
        except BaseException:
            self.release()
            raise

    def _try(self, schema_name: Optional[str], table_name: str) -> bool:
        assert self.connection is not None
        if self.dialect == "postgresql":
            statement = sa.text("SELECT pg_try_advisory_lock(:key)")
            return bool(self.connection.execute(statement, {"key": _pg_key(schema_name, table_name)}).scalar())
        name = _mysql_name(self._database(), schema_name, table_name)
        return self.connection.execute(sa.text("SELECT GET_LOCK(:name, 0)"), {"name": name}).scalar() == 1

    def _database(self) -> str:
        assert self.connection is not None
        return str(self.connection.execute(sa.text("SELECT DATABASE()")).scalar() or "")

    def _holder(self, schema_name: Optional[str], table_name: str) -> Optional[str]:
        """The run id of the run holding the lock, when it can be found."""
        assert self.connection is not None
        try:
            if self.dialect == "postgresql":
                key = _pg_key(schema_name, table_name)
                found = self.connection.execute(
                    sa.text(
                        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
                        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                        "AND l.classid = :high AND l.objid = :low"
                    ),
                    {"high": (key >> 32) & 0xFFFFFFFF, "low": key & 0xFFFFFFFF},
                ).scalar()
                if found and str(found).startswith(APPLICATION_NAME):
                    return str(found)[len(APPLICATION_NAME) :]
                return None
            # MariaDB/MySQL: the holder created its staging tables right after taking the lock
            pattern = staged_table_pattern(table_name, self.dialect)
            runs = sorted(
                match["run_id"]
                for match in map(pattern.match, sa.inspect(self.connection).get_table_names(schema=schema_name))
                if match and match["kind"] == STAGE
            )
            if runs:
                return runs[-1]
            name = _mysql_name(self._database(), schema_name, table_name)
            holder = self.connection.execute(sa.text("SELECT IS_USED_LOCK(:name)"), {"name": name}).scalar()
            return None if holder is None else f"(connection {holder})"
        except Exception as error:  # noqa: BLE001 - naming the holder is a courtesy, never a failure
            log.debug("could not name the lock holder: %s", error)
            return None

    def release(self) -> None:
        if self.connection is None:
            return
        try:
            if self.dialect == "postgresql":
                self.connection.execute(sa.text("SELECT pg_advisory_unlock_all()"))
                self.connection.execute(sa.text("RESET application_name"))
            else:
                self.connection.execute(sa.text("SELECT RELEASE_ALL_LOCKS()"))
        except Exception as error:  # noqa: BLE001 - closing the connection releases them too
            log.debug("releasing target locks: %s", error)
            self.connection.invalidate()
        finally:
            self.connection.close()
            self.connection = None


class FileLock:
    """An exclusive `flock` on `path`, recording the holder's run id, pid and host in the file."""

    def __init__(self, path: Path, run_id: str, label: str) -> None:
        self.path = Path(path)
        self.run_id = run_id
        self.label = label
        self._fd: Optional[int] = None

    def acquire(self, deadline: float) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = self.holder()
                    os.close(fd)
                    who = f"run {holder}" if holder else "another run"
                    raise TargetLockedError(
                        f"{self.label}: {who} is writing this target (lock file {self.path}); try again when it "
                        "has finished, or set HAZY_LOCK_WAIT to wait for it",
                        holder,
                    ) from None
                time.sleep(POLL_SECONDS)
        note = json.dumps({"run_id": self.run_id, "pid": os.getpid(), "host": socket.gethostname()})
        os.ftruncate(fd, 0)
        os.pwrite(fd, note.encode("utf-8"), 0)
        self._fd = fd

    def holder(self) -> Optional[str]:
        try:
            return str(json.loads(self.path.read_text(encoding="utf-8"))["run_id"])
        except Exception:  # noqa: BLE001 - an empty or foreign file: holder unknown
            return None

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None


def file_lock_path(path: str) -> Path:
    """The lock file of the output file `path`: `<folder>/.<file name>.hazy-lock`."""
    target = Path(path)
    return target.parent / f".{target.name}.hazy-lock"


@contextlib.contextmanager
def target_locks(
    outputs: Mapping[str, Any], run_id: str, sources: DataSources, wait: Optional[float] = None
) -> Iterator[None]:
    """Hold the lock of every output (schema table -> write location) for the block: database tables per
    data source, SQLite databases and local files by `flock`; S3 outputs take none. Raises
    `TargetLockedError` naming the target and its holder when one stays locked for `wait` seconds."""
    from .locations import local_path, location_kind, location_label, location_path

    deadline = time.monotonic() + lock_wait(wait)
    by_source: dict = {}
    files: dict = {}
    for name, location in outputs.items():
        kind = location_kind(location)
        if kind == "sql":
            assert isinstance(location, DatabaseReadTableConfig)
            engine = sources.engine(location.source_id)
            if engine.dialect.name == "sqlite":
                database = engine.url.database
                if database and database != ":memory:" and not database.startswith("file:"):
                    files[str(Path(database).resolve()) + ".hazy-lock"] = f"SQLite database {database}"
                continue
            by_source.setdefault(location.source_id, []).append((location.schema_name, location.table_name))
        elif kind == "file":
            path = local_path(name, location)
            files[str(file_lock_path(str(Path(path).resolve())))] = f"table '{name}': {location_label(location)}"
        else:
            log.info("table '%s': %s takes no lock (S3 has none)", name, location_path(location))
    held: List[Any] = []
    try:
        for lock_path in sorted(files):
            lock = FileLock(Path(lock_path), run_id, files[lock_path])
            lock.acquire(deadline)
            held.append(lock)
        for source_id in sorted(by_source):
            sql_locks = _SqlLocks(sources.engine(source_id), source_id, by_source[source_id], run_id)
            sql_locks.acquire(deadline)
            held.append(sql_locks)
        yield
    finally:
        for lock in reversed(held):
            lock.release()
