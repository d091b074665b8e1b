"""Reading a PostgreSQL table through `COPY (SELECT ...) TO STDOUT (FORMAT csv)` into Arrow, in chunks.

The server writes CSV into a pipe from a thread (psycopg2's `copy_expert`); `pyarrow.csv.open_csv` parses it
block by block with the column types fixed up front (no inference), and the blocks are cut into DataFrames of
`chunk_size` rows. Memory holds the pipe's buffer, one parse block and one chunk. Measured on the 15-column
census-like table of `bench/scale_bench.py`, this is several times the row-by-row cursor it replaces for
PostgreSQL (the figures are in docs/scale.md).

The frames equal those of the cursor path (`io.sql.read_sql_table`): int64 (nullable Int64 with a null),
float64, bool (nullable boolean with a null), datetime64[us] (UTC for timestamptz), dates as `datetime.date`
objects and text as the `str` dtype, NULL and '' kept apart (CSV writes NULL unquoted and '' quoted). A
column of another type (numeric with a scale beyond int64, json, arrays, ...) makes `supported` say no, and
the cursor path reads the table.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Dict, Iterator, List, Optional, Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa

from .sql_tables import quote_identifier

BLOCK_BYTES = 8 << 20
"""Bytes of CSV parsed at a time (Arrow's block size)."""
_ARROW_TYPES = {
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "datetime": pa.timestamp("us"),
    "datetime_tz": pa.timestamp("us"),
    "date": pa.date32(),
    "str": pa.string(),
}


def supported(engine: sa.Engine, kinds: Sequence[str]) -> bool:
    """Whether this engine and these column kinds (`io.sql._column_kind`) can be read through COPY."""
    return (
        engine.dialect.name == "postgresql"
        and engine.dialect.driver == "psycopg2"
        and all(kind in _ARROW_TYPES for kind in kinds)
    )


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


def read_chunks(
    engine: sa.Engine,
    qualified_table: str,
    names: Sequence[str],
    kinds: Sequence[str],
    chunk_size: int,
    limit: Optional[int] = None,
) -> Iterator[pd.DataFrame]:
    """The table's `names` columns as DataFrames of at most `chunk_size` rows (at least one, maybe empty)."""
    query = f"SELECT {_select_list(engine.dialect, names, kinds)} FROM {qualified_table}"
    if limit is not None:
        query += f" LIMIT {int(limit)}"
    column_types: Dict[str, Any] = {f"c{i}": _ARROW_TYPES[kind] for i, kind in enumerate(kinds)}
    read_options = pacsv.ReadOptions(column_names=list(column_types), block_size=BLOCK_BYTES)
    convert_options = pacsv.ConvertOptions(
        column_types=column_types,
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        true_values=["t"],
        false_values=["f"],
    )
    read_fd, write_fd = os.pipe()
    failure: List[BaseException] = []
    raw = engine.raw_connection()

    def produce() -> None:
        try:
            with os.fdopen(write_fd, "wb") as sink, raw.cursor() as cursor:
                cursor.execute("SET LOCAL DateStyle TO ISO, YMD")
                cursor.copy_expert(f"COPY ({query}) TO STDOUT (FORMAT csv)", sink)
        except BaseException as error:  # noqa: BLE001 - handed to the reading side
            failure.append(error)

    producer = threading.Thread(target=produce, name="hazy-pg-copy", daemon=True)
    producer.start()
    source = os.fdopen(read_fd, "rb")
    yielded = False
    try:
        try:
            reader = pacsv.open_csv(source, read_options=read_options, convert_options=convert_options)
            pending: List[pa.RecordBatch] = []
            held = 0
            for batch in reader:
                pending.append(batch)
                held += batch.num_rows
                while held >= chunk_size:
                    table = pa.Table.from_batches(pending)
                    yield _frame(table.slice(0, chunk_size), names, kinds)
                    yielded = True
                    rest = table.slice(chunk_size)
                    pending, held = rest.to_batches(), rest.num_rows
            if held or not yielded:
                table = pa.Table.from_batches(pending, schema=reader.schema)
                yield _frame(table, names, kinds)
                yielded = True
        except pa.ArrowInvalid:
            producer.join()
            if failure:
                raise failure[0] from None
            if yielded:
                raise
            # no byte at all (an empty table): Arrow cannot open an empty CSV
            empty = pa.table({column: pa.array([], kind) for column, kind in column_types.items()})
            yield _frame(empty, names, kinds)
    finally:
        source.close()  # a reader stopped early breaks the pipe: the COPY fails and its connection is dropped
        producer.join()
        if failure:
            raw.invalidate()
        else:
            raw.rollback()
            raw.close()
    if failure:
        raise failure[0]
