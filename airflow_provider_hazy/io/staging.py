"""Run ids and the names of a run's staging tables and folders (write-audit-publish, docs/publish.md).

A generation run writes into staging of its own, named from its run id, and publishes it into the target
at the end. The run id is 16 hex digits: 8 of the start time (Unix seconds) and 8 random (an unmapped
run) or hashed from the Airflow DAG run (a mapped run, so that every task of the run finds the same
staging), so a staging name tells when its run started.

Database staging tables live beside the target table (same database and schema):

- `hzs_<run id>_<table>`: the staging table of an unmapped run (`hazy generate`, `api.generate(config)`);
- `hzm_<run id>_<table>`: the staging table of a mapped run (prepare, batches, publish);
- `hzo_<run id>_<table>`: the previous target table while a publish swaps it out (dropped in the same
  publish; left only by a publish killed between its rename and its drop, on MariaDB).

A table name too long for the database (PostgreSQL: 63 bytes, MariaDB: 64 characters) is cut and ends
with 8 hex digits of its hash. File targets stage in a folder beside the output file:
`<folder>/.hzs_<run id>_<file name>/` holding `<file name>` (or, for a mapped run, its part folder).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from typing import Optional

STAGE, MAPPED, OLD = "hzs", "hzm", "hzo"
KINDS = (STAGE, MAPPED, OLD)
RUN_ID = re.compile(r"^[0-9a-f]{16}$")
_MAX_NAME_BYTES = {"postgresql": 63, "mysql": 64, "mariadb": 64}
_HASH_DIGITS = 8


def new_run_id(now: Optional[float] = None) -> str:
    """A fresh run id: 8 hex digits of the start time and 8 random ones."""
    started = int(time.time() if now is None else now)
    return f"{started:08x}{secrets.token_hex(4)}"


def mapped_run_id(key: str, started: float) -> str:
    """The run id every task of one mapped run derives alike: the DAG run's start time and a hash of `key`
    (dag id and run id)."""
    return f"{int(started):08x}{hashlib.sha256(key.encode('utf-8')).hexdigest()[:8]}"


def check_run_id(run_id: str) -> str:
    """`run_id` when it is 16 lower-case hex digits; ValueError otherwise."""
    if not isinstance(run_id, str) or not RUN_ID.match(run_id):
        raise ValueError(f"run_id must be 16 lower-case hex digits (api.staging.new_run_id), not {run_id!r}")
    return run_id


def run_started(run_id: str) -> float:
    """When the run of `run_id` started (Unix seconds)."""
    return float(int(run_id[:8], 16))


def _suffix(name: str, room: int) -> str:
    """`name`, or when longer than `room` bytes its cut head and 8 hex digits of its hash."""
    if len(name.encode("utf-8")) <= room:
        return name
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:_HASH_DIGITS]
    head = name.encode("utf-8")[: room - _HASH_DIGITS - 1].decode("utf-8", "ignore")
    return f"{head}_{digest}"


def _room(dialect_name: str) -> int:
    limit = _MAX_NAME_BYTES.get(dialect_name, 10_000)
    return limit - len(f"{STAGE}_{'0' * 16}_")


def staged_table_name(table_name: str, run_id: str, kind: str, dialect_name: str) -> str:
    """The staging (`hzs`/`hzm`) or old (`hzo`) table name of `table_name` for the run `run_id`."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    return f"{kind}_{check_run_id(run_id)}_{_suffix(table_name, _room(dialect_name))}"


def staged_table_pattern(table_name: str, dialect_name: str) -> re.Pattern:
    """Matches every staging or old table of `table_name` (any run); groups `kind` and `run_id`."""
    suffix = re.escape(_suffix(table_name, _room(dialect_name)))
    return re.compile(rf"^(?P<kind>hz[smo])_(?P<run_id>[0-9a-f]{{16}})_{suffix}$")


def staged_folder_name(file_name: str, run_id: str, kind: str) -> str:
    """The staging folder of the output file `file_name` for the run `run_id` (beside the file)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    return f".{kind}_{check_run_id(run_id)}_{file_name}"


def staged_folder_pattern(file_name: str) -> re.Pattern:
    """Matches every staging folder of the output file `file_name` (any run)."""
    return re.compile(rf"^\.(?P<kind>hz[smo])_(?P<run_id>[0-9a-f]{{16}})_{re.escape(file_name)}$")
