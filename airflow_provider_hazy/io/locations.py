"""Turn a configured location into a reader or a writer: local files, S3 objects or SQL tables.

A location is a path or URI string (`data/t.csv`, `s3://bucket/key.parquet`), a `PathReadTableConfig` /
`PathWriteTableConfig` (a path plus, for S3, the `source_id` giving endpoint and credentials) or a
`DatabaseReadTableConfig` / `DatabaseWriteTableConfig` (a table reached through the data source
`source_id`). Data sources resolve through `sources` (a `DataSources`, or the declared list; by default
each id resolves from its environment variable `HAZY_CONN_<ID>`; see `io.sources`).

Every writer has `write_batch(frame) -> rows` (raising after rolling the batch back, so the caller can send
the batch to its fail-safe path and go on) and `close()`, and is a context manager. Writing several tables
with foreign keys between them is the caller's loop, in `order_tables_for_write` order.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Protocol, Sequence, Tuple, Union

import pandas as pd

from ..config import (
    DatabaseReadTableConfig,
    DatabaseWriteTableConfig,
    IfExists,
    PathReadTableConfig,
    PathWriteTableConfig,
)
from ..config.schema import BaseTable, DataSchema
from .files import DEFAULT_CHUNK_ROWS, FileTableWriter, count_file_rows, read_file_table_chunks
from .s3 import S3TableWriter, count_s3_rows, is_s3_path, object_size, parse_s3_path, read_s3_table_chunks
from .sources import DataSourceError, DataSources, SourcesLike, scrub

ReadLocation = Union[DatabaseReadTableConfig, PathReadTableConfig, str]
WriteLocation = Union[DatabaseWriteTableConfig, PathWriteTableConfig, str]


class TableWriter(Protocol):
    """What `open_writer` returns."""

    def write_batch(self, frame: pd.DataFrame) -> int: ...

    def close(self) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc_info: object) -> None: ...


def location_path(location: Union[ReadLocation, WriteLocation]) -> Optional[str]:
    """The file path or URI of a location, None for a database table."""
    if isinstance(location, str):
        return location
    return getattr(location, "path", None)


def location_kind(location: Union[ReadLocation, WriteLocation]) -> str:
    """'sql', 's3' or 'file'."""
    if isinstance(location, DatabaseReadTableConfig):
        return "sql"
    path = location_path(location)
    if path is not None and is_s3_path(path):
        return "s3"
    return "file"


def location_label(location: Union[ReadLocation, WriteLocation]) -> str:
    """A location for messages and generation states: a path, or `source 'id' table 'schema.table'` (no secret)."""
    if isinstance(location, DatabaseReadTableConfig):
        table = f"{location.schema_name}.{location.table_name}" if location.schema_name else location.table_name
        return f"source '{location.source_id}' table '{table}'"
    return str(location_path(location))


def fail_safe_path(location: WriteLocation) -> Optional[str]:
    """Where a failed batch of this location goes, if anywhere."""
    return getattr(location, "fail_safe_path", None)


def local_path(table: str, location: Union[ReadLocation, WriteLocation]) -> str:
    path = location_path(location)
    assert path is not None
    if "://" in path and not path.lower().startswith("file://"):
        raise NotImplementedError(f"table '{table}': {path.split('://')[0]}:// locations are not supported")
    return path[len("file://") :] if path.lower().startswith("file://") else path


# --------------------------------------------------------------------------------------------------
# Reading


def read_table(
    table: str,
    location: ReadLocation,
    nrows: Optional[int] = None,
    *,
    sources: SourcesLike = None,
    columns: Optional[Sequence[str]] = None,
    text_columns: Optional[Sequence[str]] = None,
) -> pd.DataFrame:
    """Read the whole source table `table` from its location (the first `nrows` rows when set)."""
    frames = list(
        read_table_chunks(table, location, nrows=nrows, sources=sources, columns=columns, text_columns=text_columns)
    )
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def read_table_chunks(
    table: str,
    location: ReadLocation,
    *,
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    nrows: Optional[int] = None,
    sources: SourcesLike = None,
    columns: Optional[Sequence[str]] = None,
    text_columns: Optional[Sequence[str]] = None,
) -> Iterator[pd.DataFrame]:
    """Read the source table `table` in DataFrames of at most `chunk_size` rows (at least one, maybe empty).
    A CSV file's or object's `text_columns` are read as text, not re-typed from their digits.

    Errors name the table (and never a URL's secret): a missing file, object, table or column raises
    when this is called; later failures raise from the iterator.
    """
    registry = DataSources.coerce(sources)
    owned = not isinstance(sources, DataSources)
    source_id = getattr(location, "source_id", None)
    kind = location_kind(location)
    try:
        if kind == "sql":
            from .sql import read_sql_table

            assert isinstance(location, DatabaseReadTableConfig)
            chunks = read_sql_table(
                registry.engine(location.source_id),
                location.table_name,
                location.schema_name,
                columns=columns,
                chunk_size=chunk_size,
                limit=nrows,
            )
        elif kind == "s3":
            path = location_path(location)
            assert path is not None
            client = registry.s3_client(source_id)
            chunks = _select(read_s3_table_chunks(client, path, chunk_size, nrows, text_columns), columns)
        else:
            local = local_path(table, location)
            chunks = _select(read_file_table_chunks(local, chunk_size, nrows, text_columns), columns)
    except Exception as error:
        if owned:
            registry.dispose()
        raise _in_table(table, error, registry.secrets(source_id)) from error
    return _guarded(table, chunks, registry if owned else None, registry.secrets(source_id))


def _select(chunks: Iterator[pd.DataFrame], columns: Optional[Sequence[str]]) -> Iterator[pd.DataFrame]:
    for chunk in chunks:
        if columns is not None:
            missing = [c for c in columns if c not in chunk.columns]
            if missing:
                raise LookupError(f"no column(s) {missing}")
            chunk = chunk[list(columns)]
        yield chunk


def _guarded(
    table: str, chunks: Iterator[pd.DataFrame], owned: Optional[DataSources], secrets: List[str]
) -> Iterator[pd.DataFrame]:
    try:
        yield from chunks
    except Exception as error:
        raise _in_table(table, error, secrets) from error
    finally:
        if owned is not None:
            owned.dispose()


def _in_table(table: str, error: Exception, secrets: Sequence[str]) -> Exception:
    """The error with the table named first and every secret masked, of the same type where possible."""
    text = scrub(str(error), secrets)
    if text.startswith(f"table '{table}'"):
        message = text
    else:
        message = f"table '{table}': {text}"
    if isinstance(error, (OSError, ValueError, LookupError, NotImplementedError, DataSourceError)):
        try:
            return type(error)(message)
        except Exception:  # noqa: BLE001 - exception types with other constructors
            pass
    return RuntimeError(f"{message} ({type(error).__name__})")


# --------------------------------------------------------------------------------------------------
# Writing


def foreign_key_targets(
    location: WriteLocation, table_locations: Optional[Mapping[str, WriteLocation]]
) -> Dict[str, Tuple[Optional[str], str]]:
    """For a database location: schema table -> (schema_name, table_name) of every table written to the same source."""
    if not isinstance(location, DatabaseWriteTableConfig) or not table_locations:
        return {}
    return {
        name: (other.schema_name, other.table_name)
        for name, other in table_locations.items()
        if isinstance(other, DatabaseReadTableConfig) and other.source_id == location.source_id
    }


def open_writer(
    table: str,
    location: WriteLocation,
    *,
    table_schema: Optional[BaseTable] = None,
    data_schema: Optional[DataSchema] = None,
    sources: SourcesLike = None,
    table_locations: Optional[Mapping[str, WriteLocation]] = None,
    string_lengths: Optional[Mapping[str, int]] = None,
    sql_method: str = "auto",
) -> TableWriter:
    """A batch writer for the synthetic table `table`.

    For a database location the table is created on the first batch with the column types of
    `table_schema` (the schema table; without it, from the first batch's dtypes), foreign keys to tables
    that `table_locations` (schema table -> location, for the whole run) puts in the same database, and
    text lengths from `string_lengths`. The first batch honours the location's `if_exists`, later
    batches append.
    """
    if_exists = getattr(location, "if_exists", IfExists.FAIL)
    kind = location_kind(location)
    if kind == "file":
        return FileTableWriter(local_path(table, location), if_exists=if_exists)
    registry = DataSources.coerce(sources)
    owned = not isinstance(sources, DataSources)
    source_id = getattr(location, "source_id", None)
    try:
        if kind == "s3":
            path = location_path(location)
            assert path is not None
            writer: Any = S3TableWriter(registry.s3_client(source_id), path, if_exists=if_exists)
        else:
            from .sql import SqlTableWriter

            assert isinstance(location, DatabaseWriteTableConfig)
            writer = SqlTableWriter(
                registry.engine(location.source_id),
                location.table_name,
                location.schema_name,
                table_schema,
                if_exists,
                data_schema=data_schema,
                foreign_key_targets=foreign_key_targets(location, table_locations),
                string_lengths=string_lengths,
                method=sql_method,
                secrets=registry.secrets(source_id),
            )
    except Exception as error:
        if owned:
            registry.dispose()
        raise _in_table(table, error, registry.secrets(source_id)) from error
    return _GuardedWriter(writer, registry if owned else None, registry.secrets(source_id))


class _GuardedWriter:
    """A writer whose errors never carry a secret of its data source, and which may own that source."""

    def __init__(self, writer: Any, registry: Optional[DataSources], secrets: Sequence[str]) -> None:
        self.writer = writer
        self._registry = registry
        self._secrets = list(secrets)

    def write_batch(self, frame: pd.DataFrame) -> int:
        try:
            return self.writer.write_batch(frame)
        except Exception as error:
            self._reraise_masked(error)
            raise

    def close(self) -> None:
        try:
            self.writer.close()
        except Exception as error:
            self._reraise_masked(error)
            raise
        finally:
            if self._registry is not None:
                self._registry.dispose()

    def _reraise_masked(self, error: Exception) -> None:
        text = str(error)
        masked = scrub(text, self._secrets)
        if masked != text:
            raise RuntimeError(f"{masked} ({type(error).__name__})") from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.writer, name)

    def __repr__(self) -> str:
        return repr(self.writer)

    def __enter__(self) -> _GuardedWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def order_tables_for_write(schema: DataSchema) -> List[str]:
    """Table names with every parent before its children (foreign keys; self-references ignored).

    Among the tables whose parents are all placed, the first in schema order goes next. The schema is
    validated acyclic, so every table is listed.
    """
    names = schema.table_names
    parents = schema.parents_by_table()
    pending = {name: set(parents.get(name, [])) & set(names) for name in names}
    ordered: List[str] = []
    while pending:
        ready = next((name for name in names if name in pending and not pending[name]), None)
        if ready is None:  # a cycle (impossible in a validated schema): the rest in schema order
            ready = next(name for name in names if name in pending)
        ordered.append(ready)
        del pending[ready]
        for waiting in pending.values():
            waiting.discard(ready)
    return ordered


# --------------------------------------------------------------------------------------------------
# Mapped generation: one part per batch for files and S3 objects


def part_path(path: str, index: int) -> str:
    """Where batch `index` of a mapped run writes the file table `path`: `out/t.parquet` ->
    `out/t/part-00003.parquet` (the extension, compression included, is kept)."""
    head, _, name = path.rpartition("/")
    stem, dot, ext = name.partition(".")
    part = f"{stem}/part-{index:05d}{dot}{ext}"
    return f"{head}/{part}" if head else part


def part_location(location: WriteLocation, index: int) -> PathWriteTableConfig:
    """The write location of batch `index`'s part of a file or S3 location; a retry replaces the part."""
    if isinstance(location, str):
        location = PathWriteTableConfig(path=location)
    return location.model_copy(update={"path": part_path(location.path, index), "if_exists": IfExists.REPLACE})


def _parts_prefix(path: str) -> str:
    return part_path(path, 0).rsplit("/", 1)[0] + "/part-"


def list_parts(table: str, location: Union[ReadLocation, WriteLocation], *, sources: SourcesLike = None) -> List[str]:
    """The part paths a mapped run wrote for the file or S3 table at `location`, in batch order."""
    path = location_path(location)
    if path is None:
        return []
    prefix = _parts_prefix(path)
    if location_kind(location) == "s3":
        where = parse_s3_path(prefix)
        client = DataSources.coerce(sources).s3_client(getattr(location, "source_id", None))
        keys: List[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=where.bucket, Prefix=where.key):
            keys += [item["Key"] for item in page.get("Contents", [])]
        return sorted(f"s3://{where.bucket}/{key}" for key in keys)
    folder, _, start = local_path(table, prefix).rpartition("/")
    return sorted(str(part) for part in Path(folder or ".").glob(f"{start}*") if part.is_file())


def _output_exists(table: str, location: Union[ReadLocation, WriteLocation], sources: SourcesLike) -> bool:
    path = location_path(location)
    assert path is not None
    if location_kind(location) == "s3":
        client = DataSources.coerce(sources).s3_client(getattr(location, "source_id", None))
        return object_size(client, path) is not None
    return Path(local_path(table, path)).exists()


def prepare_parts(table: str, location: WriteLocation, *, sources: SourcesLike = None) -> int:
    """The prepare step of a mapped run for a file or S3 table: apply `if_exists` to the whole output
    (the single file and the part folder): fail raises when either exists, replace removes both, append
    keeps them (a batch still replaces its own part). Returns how many objects were removed."""
    if_exists = IfExists(getattr(location, "if_exists", IfExists.FAIL))
    parts = list_parts(table, location, sources=sources)
    whole = _output_exists(table, location, sources)
    if if_exists == IfExists.APPEND or not (parts or whole):
        return 0
    path = location_path(location)
    if if_exists == IfExists.FAIL:
        found = path if whole else f"{len(parts)} part(s) under {_parts_prefix(str(path))}"
        raise FileExistsError(f"table '{table}': {found} already exists and if_exists is 'fail'")
    removed = parts + ([str(path)] if whole else [])
    if location_kind(location) == "s3":
        client = DataSources.coerce(sources).s3_client(getattr(location, "source_id", None))
        for item in removed:
            where = parse_s3_path(item)
            client.delete_object(Bucket=where.bucket, Key=where.key)
    else:
        for item in removed:
            os.unlink(local_path(table, item))
    return len(removed)


def read_output_table(
    table: str,
    location: Union[ReadLocation, WriteLocation],
    *,
    sources: SourcesLike = None,
    text_columns: Optional[Sequence[str]] = None,
) -> pd.DataFrame:
    """A generated table as it was written: the database table, the file or S3 object, or, where a mapped
    run wrote one part per batch instead (`part_path`), the parts concatenated in batch order (a CSV's
    `text_columns` read as text)."""
    if location_kind(location) == "sql" or _output_exists(table, location, sources):
        return read_table(table, location, sources=sources, text_columns=text_columns)
    parts = list_parts(table, location, sources=sources)
    if not parts:
        return read_table(table, location, sources=sources)  # raises, naming the table and the missing path
    source_id = getattr(location, "source_id", None)
    frames = []
    for part in parts:
        part_location = PathReadTableConfig(path=part, source_id=source_id)
        frames.append(read_table(table, part_location, sources=sources, text_columns=text_columns))
    return pd.concat(frames, ignore_index=True)


def count_output_rows(table: str, location: Union[ReadLocation, WriteLocation], *, sources: SourcesLike = None) -> int:
    """The rows a generated table holds where it was written, without reading them: a database table's
    `count(*)`; a file's or S3 object's rows (Parquet footer, CSV records streamed); where a mapped run wrote
    one part per batch instead (`part_path`), the parts' rows summed. Errors name the table, with no secret."""
    registry = DataSources.coerce(sources)
    owned = not isinstance(sources, DataSources)
    source_id = getattr(location, "source_id", None)
    kind = location_kind(location)
    try:
        if kind == "sql":
            from .sql import count_rows

            assert isinstance(location, DatabaseReadTableConfig)
            return count_rows(registry.engine(location.source_id), location.table_name, location.schema_name)
        if _output_exists(table, location, registry):
            paths = [str(location_path(location))]
        else:
            paths = list_parts(table, location, sources=registry)
            if not paths:
                raise FileNotFoundError(f"{location_path(location)}: no such table (nor parts of a mapped run)")
        if kind == "s3":
            client = registry.s3_client(source_id)
            return sum(count_s3_rows(client, path) for path in paths)
        return sum(count_file_rows(local_path(table, path)) for path in paths)
    except Exception as error:
        raise _in_table(table, error, registry.secrets(source_id)) from error
    finally:
        if owned:
            registry.dispose()
