"""Reading a PostgreSQL table through `COPY (SELECT ...) TO STDOUT (FORMAT csv)` into Arrow, in chunks.

Two ways, both parsed by `pyarrow.csv` with the column types fixed up front (no inference, no Python per
value), the parsed rows cut into DataFrames of `chunk_size` rows:

- **ranges** (an ordinary table or materialized view of more than one range, PostgreSQL >= 14): the heap is
  cut into ranges of block numbers (`WHERE ctid >= '(a,0)' AND ctid < '(b,0)'`, a TID range scan) holding
  about `RANGE_BYTES` of heap and TOAST each. `read_connections()` connections (`HAZY_READ_CONNECTIONS`,
  default 2) COPY the ranges in parallel, each range into memory, parsed at once by the reading thread
  while the connections copy the next ones; the chunks come out in range order (the table's physical
  order, the order of a sequential scan). The connections share one snapshot (REPEATABLE READ,
  `pg_export_snapshot` / `SET TRANSACTION SNAPSHOT`, as `pg_dump -j` does), so the read is one consistent
  state of the table. Memory holds at most `connections + 1` ranges
  and one chunk. A single COPY is bound by one server backend (about 1 s of server CPU per million rows of
  the census table of `bench/scale_bench.py`); two make the server use two cores, and a range copied
  into memory costs the client less than a pipe (no thread switch per row).
- **a stream** (views, partitioned and foreign tables, small tables, older servers, or a server that
  refuses a snapshot export): one COPY into a pipe from a thread (psycopg2's `copy_expert`), parsed block by
  block by `pyarrow.csv.open_csv`. Memory holds the pipe's buffer, one parse block and one chunk.

The frames equal those of the cursor path (`io.sql.read_sql_table`): int64 (nullable Int64 with a null),
float64, bool (nullable boolean with a null), datetime64[us] (UTC for timestamptz), dates as `datetime.date`
objects and text as the `str` dtype, NULL and '' kept apart (CSV writes NULL unquoted and '' quoted); floats
are printed exactly (`extra_float_digits`). A column of another type (numeric with a scale beyond int64,
json, arrays, ...) makes `supported` say no, and the cursor path reads the table. The choice against ADBC
(`adbc-driver-postgresql`) and the figures are in docs/scale.md.
"""

from __future__ import annotations

import io
import logging
import os
import threading
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import pandas as pd
import psycopg2
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa

from .sql_tables import quote_identifier

log = logging.getLogger(__name__)

BLOCK_BYTES = 8 << 20
"""Bytes of CSV parsed at a time by the stream (Arrow's block size)."""
RANGE_BYTES = 8 << 20
"""Bytes of a table (heap and TOAST) per range read in one COPY."""
READ_CONNECTIONS_ENV = "HAZY_READ_CONNECTIONS"
DEFAULT_READ_CONNECTIONS = 2
"""Connections reading the ranges of one table at once (`HAZY_READ_CONNECTIONS` overrides)."""
RANGES_SERVER_VERSION = 140000
"""TID range scans (a `ctid` range read without a sequential scan) came with PostgreSQL 14."""
_ARROW_TYPES = {
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "datetime": pa.timestamp("us"),
    "datetime_tz": pa.timestamp("us"),
    "date": pa.date32(),
    "str": pa.string(),
}
_SESSION = ("SET LOCAL DateStyle TO ISO, YMD", "SET LOCAL extra_float_digits TO 3")
_SNAPSHOT_ISOLATION = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"


def supported(engine: sa.Engine, kinds: Sequence[str]) -> bool:
    """Whether this engine and these column kinds (`io.sql._column_kind`) can be read through COPY."""
    return (
        engine.dialect.name == "postgresql"
        and engine.dialect.driver == "psycopg2"
        and all(kind in _ARROW_TYPES for kind in kinds)
    )


def read_connections() -> int:
    """Connections reading one table at once: `HAZY_READ_CONNECTIONS`, else `DEFAULT_READ_CONNECTIONS`."""
    text = os.environ.get(READ_CONNECTIONS_ENV, "").strip()
    if not text:
        return DEFAULT_READ_CONNECTIONS
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{READ_CONNECTIONS_ENV} must be a whole number >= 1, not {text!r}") from None
    if value < 1:
        raise ValueError(f"{READ_CONNECTIONS_ENV} must be >= 1, not {value}")
    return value


def _select_list(dialect: sa.Dialect, names: Sequence[str], kinds: Sequence[str]) -> str:
    parts = []
    for name, kind in zip(names, kinds):
        column = quote_identifier(dialect, name)
        if kind == "datetime_tz":
            column = f"({column} AT TIME ZONE 'UTC')"
        elif kind == "float":
            column = f"{column}::double precision"
        elif kind == "int":
            column = f"{column}::bigint"
        parts.append(column)
    return ", ".join(parts)


def _series(column: pa.ChunkedArray, kind: str, name: str) -> pd.Series:
    has_null = column.null_count > 0
    if kind == "int" and has_null:
        return pd.Series(pd.array(column.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)), name=name)
    if kind == "bool" and has_null:
        return pd.Series(pd.array(column.to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get)), name=name)
    if kind == "datetime_tz":
        return pd.Series(column.to_pandas(), name=name).dt.tz_localize("UTC")
    if kind == "str":
        return pd.Series(column.to_pandas(), dtype="str", name=name)
    if kind == "date":
        return pd.Series(column.to_pandas(date_as_object=True), dtype=object, name=name)
    return pd.Series(column.to_pandas(), name=name)


def _frame(table: pa.Table, names: Sequence[str], kinds: Sequence[str]) -> pd.DataFrame:
    columns = {i: _series(table.column(i), kind, name) for i, (name, kind) in enumerate(zip(names, kinds))}
    return pd.DataFrame(columns).set_axis(list(names), axis=1)


@dataclass(frozen=True)
class _Csv:
    """How the COPY's CSV is parsed: the column types fixed, NULL (unquoted empty) apart from '' (quoted)."""

    kinds: Tuple[str, ...]

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([(f"c{i}", _ARROW_TYPES[kind]) for i, kind in enumerate(self.kinds)])

    def read_options(self, use_threads: bool) -> pacsv.ReadOptions:
        return pacsv.ReadOptions(column_names=self.schema.names, block_size=BLOCK_BYTES, use_threads=use_threads)

    def convert_options(self) -> pacsv.ConvertOptions:
        return pacsv.ConvertOptions(
            column_types=dict(zip(self.schema.names, self.schema.types)),
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        )

    def parse(self, data: bytes) -> pa.Table:
        """A whole range's CSV at once."""
        if not data:
            return self.schema.empty_table()
        return pacsv.read_csv(
            pa.py_buffer(data), read_options=self.read_options(False), convert_options=self.convert_options()
        )


def read_chunks(
    engine: sa.Engine,
    qualified_table: str,
    names: Sequence[str],
    kinds: Sequence[str],
    chunk_size: int,
    limit: Optional[int] = None,
    *,
    connections: Optional[int] = None,
    range_bytes: int = RANGE_BYTES,
) -> Iterator[pd.DataFrame]:
    """The table's `names` columns as DataFrames of at most `chunk_size` rows (at least one, maybe empty), in
    ranges over `connections` connections (default `read_connections()`) when the table allows it, else in
    one stream (module docstring). Nothing is read until the first frame is asked for."""
    csv = _Csv(tuple(kinds))
    select = f"SELECT {_select_list(engine.dialect, names, kinds)} FROM {qualified_table}"
    wanted = read_connections() if connections is None else max(1, int(connections))
    lead = engine.raw_connection()
    try:
        plan = _plan(lead, qualified_table, wanted, range_bytes)
    except BaseException:
        lead.invalidate()
        raise
    if plan is None:
        log.debug("table %s: read in one stream", qualified_table)
        tables = _streamed_tables(lead, select, csv, limit)
    else:
        count = len(plan.ranges)
        log.debug("table %s: read in %d ranges over %d connection(s)", qualified_table, count, plan.connections)
        tables = _ranged_tables(engine, lead, plan, select, csv, limit)
    yield from _chunked(tables, csv, names, kinds, chunk_size, limit)


def _chunked(
    tables: Iterator[pa.Table],
    csv: _Csv,
    names: Sequence[str],
    kinds: Sequence[str],
    chunk_size: int,
    limit: Optional[int],
) -> Iterator[pd.DataFrame]:
    """Arrow tables recut into frames of `chunk_size` rows, at most `limit` rows in all, at least one frame."""
    pending: List[pa.Table] = []
    held = 0
    left = limit
    yielded = False
    try:
        for table in tables:
            if left is not None:
                table = table.slice(0, left)
                left -= table.num_rows
            if table.num_rows:
                pending.append(table)
                held += table.num_rows
            while held >= chunk_size:
                whole = pa.concat_tables(pending)
                yield _frame(whole.slice(0, chunk_size), names, kinds)
                yielded = True
                rest = whole.slice(chunk_size)
                pending, held = ([rest] if rest.num_rows else []), rest.num_rows
            if left == 0:
                break
        if held or not yielded:
            yield _frame(pa.concat_tables(pending) if pending else csv.schema.empty_table(), names, kinds)
    finally:
        tables.close()  # type: ignore[attr-defined]  # a generator: stops the readers, returns the connections


def _plan(raw: Any, qualified_table: str, connections: int, range_bytes: int) -> Optional[_Plan]:
    """The block ranges to read and the snapshot they share, or None to read in one stream. Opens the lead
    connection's REPEATABLE READ transaction (rolled back when the answer is None)."""
    cursor = raw.cursor()
    try:
        cursor.execute(_SNAPSHOT_ISOLATION)
        for statement in _SESSION:
            cursor.execute(statement)
        cursor.execute(
            "SELECT c.relkind, pg_relation_size(c.oid), "
            "CASE WHEN c.reltoastrelid = 0 THEN 0 ELSE pg_total_relation_size(c.reltoastrelid) END, "
            "current_setting('block_size')::int, current_setting('server_version_num')::int "
            "FROM pg_class c WHERE c.oid = CAST(%s AS regclass)",
            (qualified_table,),
        )
        found = cursor.fetchone()
        if found is None:
            raw.rollback()
            return None
        relkind, heap_bytes, toast_bytes, block_size, version = found
        blocks = int(heap_bytes) // int(block_size)
        total = int(heap_bytes) + int(toast_bytes)
        per_range = max(1, int(range_bytes * blocks / total)) if total else 1
        if relkind not in ("r", "m") or int(version) < RANGES_SERVER_VERSION or blocks <= per_range:
            raw.rollback()
            return None
        snapshot = None
        if connections > 1:
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = str(cursor.fetchone()[0])
    except psycopg2.Error as error:
        log.debug("table %s: no ranges (%s)", qualified_table, error)
        raw.rollback()
        return None
    finally:
        cursor.close()
    starts = list(range(0, blocks, per_range))
    ranges = [(start if i else None, starts[i + 1] if i + 1 < len(starts) else None) for i, start in enumerate(starts)]
    return _Plan(ranges, snapshot, min(connections, len(ranges)) if snapshot else 1)


@dataclass(frozen=True)
class _Plan:
    ranges: List[Tuple[Optional[int], Optional[int]]]
    """(first block, block past the last) per range; None: from the start, to the end."""
    snapshot: Optional[str]
    connections: int


def _range_statement(select: str, lower: Optional[int], upper: Optional[int], limit: Optional[int]) -> str:
    bounds = []
    if lower is not None:
        bounds.append(f"ctid >= '({int(lower)},0)'::tid")
    if upper is not None:
        bounds.append(f"ctid < '({int(upper)},0)'::tid")
    query = select + (" WHERE " + " AND ".join(bounds) if bounds else "")
    if limit is not None:
        query += f" LIMIT {int(limit)}"
    return f"COPY ({query}) TO STDOUT (FORMAT csv)"


def _ranged_tables(
    engine: sa.Engine, lead: Any, plan: _Plan, select: str, csv: _Csv, limit: Optional[int]
) -> Iterator[pa.Table]:
    """Each range's rows as one Arrow table, in range order, copied by `plan.connections` threads."""
    statements = [_range_statement(select, lower, upper, limit) for lower, upper in plan.ranges]
    readers = _RangeReaders(engine, lead, plan, statements, csv)
    try:
        for index in range(len(statements)):
            yield csv.parse(readers.take(index))  # parsed here while the connections copy the next ranges
    finally:
        readers.stop()


class _RangeReaders:
    """Threads, one per connection, COPYing the ranges in index order, at most `connections + 1` ranges ahead
    of the consumer; the lead connection is already in the snapshot, the others import it first."""

    def __init__(self, engine: sa.Engine, lead: Any, plan: _Plan, statements: List[str], csv: _Csv) -> None:
        self.engine = engine
        self.plan = plan
        self.statements = statements
        self.csv = csv
        self.ahead = plan.connections + 1
        self.condition = threading.Condition()
        self.results: Dict[int, Any] = {}
        self.claimed = 0
        self.taken = 0
        self.stopping = False
        self.running = plan.connections
        self.busy: Dict[int, Any] = {}  # worker -> its DBAPI connection while a COPY runs
        self.cancelled: set = set()  # workers whose COPY was cancelled: their connections are discarded
        self.threads = [
            threading.Thread(target=self._work, args=(worker, lead if worker == 0 else None), daemon=True)
            for worker in range(plan.connections)
        ]
        for thread in self.threads:
            thread.name = "hazy-pg-range"
            thread.start()

    def _claim(self) -> Optional[int]:
        with self.condition:
            while not self.stopping and self.claimed < len(self.statements) and self.claimed >= self.taken + self.ahead:
                self.condition.wait()
            if self.stopping or self.claimed >= len(self.statements):
                return None
            self.claimed += 1
            return self.claimed - 1

    def _put(self, index: int, result: Any) -> None:
        with self.condition:
            self.results[index] = result
            self.condition.notify_all()

    def _join_snapshot(self, raw: Any) -> None:
        with raw.cursor() as cursor:
            cursor.execute(_SNAPSHOT_ISOLATION)
            cursor.execute("SET TRANSACTION SNAPSHOT %s", (self.plan.snapshot,))
            for statement in _SESSION:
                cursor.execute(statement)

    def _work(self, worker: int, raw: Any) -> None:
        clean = True
        try:
            if raw is None:
                try:
                    raw = self.engine.raw_connection()
                    self._join_snapshot(raw)
                except Exception as error:  # noqa: BLE001 - the other connections read this one's share
                    log.debug("a second read connection could not join the snapshot: %s", error)
                    clean = False
                    return
            cursor = raw.cursor()
            try:
                while True:
                    index = self._claim()
                    if index is None:
                        return
                    try:
                        with self.condition:
                            self.busy[worker] = raw.dbapi_connection
                        buffer = io.BytesIO()
                        try:
                            cursor.copy_expert(self.statements[index], buffer)
                        finally:
                            with self.condition:
                                self.busy.pop(worker, None)
                        result: Any = buffer.getvalue()
                    except BaseException as error:  # noqa: BLE001 - handed to the consumer at its index
                        clean = False
                        self._put(index, error)
                        return
                    self._put(index, result)
            finally:
                cursor.close()
        finally:
            with self.condition:  # under the lock: a cancel is never sent to a connection handed back
                self.running -= 1
                self.condition.notify_all()
                if raw is not None:
                    _release(raw, clean and worker not in self.cancelled)

    def take(self, index: int) -> bytes:
        """Range `index`'s CSV, once read (its error, raised here, if its COPY failed)."""
        with self.condition:
            while index not in self.results:
                if self.running == 0:
                    raise RuntimeError("the PostgreSQL read connections stopped before the table was read")
                self.condition.wait()
            result = self.results.pop(index)
            self.taken = index + 1
            self.condition.notify_all()
        if isinstance(result, BaseException):
            raise result
        return result

    def stop(self) -> None:
        """Stop claiming ranges, cancel the COPYs running (a reader closed early), wait for the threads; each
        connection goes back to the pool (rolled back) or, after an error or a cancel, is discarded."""
        with self.condition:
            self.stopping = True
            self.condition.notify_all()
            for worker, connection in self.busy.items():
                self.cancelled.add(worker)
                try:
                    connection.cancel()
                except Exception as error:  # noqa: BLE001 - the COPY then runs to its end
                    log.debug("cancelling a range COPY failed: %s", error)
        for thread in self.threads:
            thread.join()


def _release(raw: Any, clean: bool) -> None:
    if clean:
        try:
            raw.rollback()
            raw.close()
            return
        except Exception:  # noqa: BLE001 - a connection that cannot roll back is dropped
            pass
    raw.invalidate()


def _streamed_tables(raw: Any, select: str, csv: _Csv, limit: Optional[int]) -> Iterator[pa.Table]:
    """The whole query in one COPY through a pipe, parsed block by block as it arrives."""
    query = select if limit is None else f"{select} LIMIT {int(limit)}"
    read_fd, write_fd = os.pipe()
    failure: List[BaseException] = []

    def produce() -> None:
        try:
            with os.fdopen(write_fd, "wb") as sink, raw.cursor() as cursor:
                for statement in _SESSION:
                    cursor.execute(statement)
                cursor.copy_expert(f"COPY ({query}) TO STDOUT (FORMAT csv)", sink)
        except BaseException as error:  # noqa: BLE001 - handed to the reading side
            failure.append(error)

    producer = threading.Thread(target=produce, name="hazy-pg-copy", daemon=True)
    producer.start()
    source = os.fdopen(read_fd, "rb")
    yielded = False
    try:
        try:
            reader = pacsv.open_csv(source, read_options=csv.read_options(True), convert_options=csv.convert_options())
            for batch in reader:
                yield pa.Table.from_batches([batch])
                yielded = True
        except pa.ArrowInvalid:
            producer.join()
            if failure:
                raise failure[0] from None
            if yielded:
                raise
            # no byte at all (an empty table): Arrow cannot open an empty CSV; _chunked gives the empty frame
    finally:
        source.close()  # a reader stopped early breaks the pipe: the COPY fails and its connection is dropped
        producer.join()
        _release(raw, clean=not failure)
    if failure:
        raise failure[0]
