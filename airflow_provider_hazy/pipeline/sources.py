"""Sources: reading the configured tables for training, the source cache, and the subset / split.

- `read_source_frames`: every table read whole and prepared (`core.encoding.prepare_frame`), through the
  source cache (`io.source_cache`) when `multi_table.use_cache` is set;
- `source_chunks` / `frame_chunks`: a table as repeatable passes over chunks of `train_chunk_rows` rows,
  for the streamed fit (a database or S3 table read once, its later passes replayed from a local spill);
- `subset_source_frames`: the read tables subset (`database_subsetting_params`) and split
  (`train_test_split`) by `core.subsetting`, keeping referential integrity;
- `write_subset`: the same subset written as Parquet with a training config reading it (`hazy subset`).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Callable, Collection, Dict, Iterator, Optional, Union

import pandas as pd

from ..config import DataLocationInput, PathReadTableConfig, TrainingConfig
from ..config.enums import IfExists
from ..config.schema import BaseTable
from ..core.encoding import prepare_frame
from ..core.subsetting import Subset, subset_tables
from ..io import source_cache
from ..io.files import FileTableWriter
from ..io.locations import location_kind, read_table, read_table_chunks
from ..io.sources import DataSources

log = logging.getLogger(__name__)
TRAIN_CHUNK_ROWS = 100_000
"""Rows per chunk when training reads a table (override: `chunk_rows=` or `HAZY_TRAIN_CHUNK_ROWS`)."""


def _read_source(config: TrainingConfig, table: BaseTable, sources: Optional[DataSources] = None) -> pd.DataFrame:
    location = next(item.location for item in config.data_input if item.name == table.name)
    frame = read_table(table.name, location, nrows=config.nrows, sources=sources)
    return prepare_frame(
        frame, table, strip_strings=config.strip_strings, empty_strings_as_null=config.empty_strings_as_null
    )


def train_chunk_rows(chunk_rows: Optional[int] = None) -> int:
    """Rows per training chunk: `chunk_rows`, else `HAZY_TRAIN_CHUNK_ROWS`, else `TRAIN_CHUNK_ROWS`."""
    value = chunk_rows if chunk_rows is not None else int(os.environ.get("HAZY_TRAIN_CHUNK_ROWS", TRAIN_CHUNK_ROWS))
    if value < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {value}")
    return value


ChunkSource = Callable[[], Iterator[pd.DataFrame]]
"""Each call starts a new pass over a table's prepared rows, chunk by chunk."""


def source_chunks(config: TrainingConfig, table: BaseTable, sources: DataSources, chunk_rows: int) -> ChunkSource:
    """Passes over the table's prepared chunks. A database or S3 table is read once: its first complete pass
    is spilled to local disk and replayed by the later ones (`io.source_cache.SpilledChunks`; `HAZY_SPILL=0`
    reads the source on every pass). Local files are read again on each pass."""
    location = next(item.location for item in config.data_input if item.name == table.name)

    def chunks() -> Iterator[pd.DataFrame]:
        for frame in read_table_chunks(
            table.name, location, chunk_size=chunk_rows, nrows=config.nrows, sources=sources
        ):
            yield prepare_frame(
                frame, table, strip_strings=config.strip_strings, empty_strings_as_null=config.empty_strings_as_null
            )

    if location_kind(location) in ("sql", "s3"):
        return source_cache.SpilledChunks(chunks, table.name)
    return chunks


def frame_chunks(frame: pd.DataFrame, chunk_rows: int) -> ChunkSource:
    def chunks() -> Iterator[pd.DataFrame]:
        for start in range(0, max(len(frame), 1), chunk_rows):
            yield frame.iloc[start : start + chunk_rows]

    return chunks


def read_source_frames(
    config: TrainingConfig, sources: DataSources, skip: Collection[str] = ()
) -> Dict[str, pd.DataFrame]:
    """Every schema table but those in `skip` (tables that train streamed) read from its `data_input` and
    prepared (`prepare_frame`). With `model_parameters.multi_table.use_cache` (which streams nothing), the
    prepared frames come from the source cache when the schema, every source's fingerprint and row count,
    and the read settings are unchanged, and are stored there after a read otherwise (docs/subsetting.md,
    "Source cache")."""
    tables = [table for table in config.data_schema.tables if table.name not in skip]
    if not config.model_parameters.multi_table.use_cache:
        return {table.name: _read_source(config, table, sources) for table in tables}
    key = _source_cache_key(config, sources)
    found = source_cache.load_frames(key)
    if found is not None and list(found[0]) == [table.name for table in tables]:
        log.info("source cache hit %s: %d table(s) not read", key[:12], len(tables))
        return found[0]
    frames = {table.name: _read_source(config, table, sources) for table in tables}
    source_cache.save_frames(key, frames, {"tables": {name: len(frame) for name, frame in frames.items()}})
    log.info("source cache miss %s: %d table(s) read and stored", key[:12], len(tables))
    return frames


def _source_cache_key(config: TrainingConfig, sources: DataSources) -> str:
    """The cache key of the prepared source frames: the schema, each table's source label and row count
    (`source_fingerprint`) and the settings the read and `prepare_frame` depend on. Encoding and subsetting
    settings are not in it: they run on the cached frames, so changing them reuses the entry."""
    fingerprints = {}
    for item in config.data_input:
        label, n_rows = source_cache.source_fingerprint(item.name, item.location, nrows=config.nrows, sources=sources)
        fingerprints[item.name] = [label, n_rows]
    settings = {
        "kind": "prepared_source_frames",
        "sources": fingerprints,
        "nrows": config.nrows,
        "strip_strings": config.strip_strings,
        "empty_strings_as_null": config.empty_strings_as_null,
    }
    n_rows = sum(count for _, count in fingerprints.values() if count is not None)
    return source_cache.cache_key(config.data_schema, json.dumps(sorted(fingerprints)), n_rows, settings)


def subset_source_frames(config: TrainingConfig, frames: Dict[str, pd.DataFrame]) -> Subset:
    """The read source tables, subset before training (`database_subsetting_params`) and split
    (`train_test_split`) by `core.subsetting`, keeping full referential integrity; the frames unchanged
    when neither is set. `Subset.test` holds the held-out rows the evaluation scores against."""
    if config.database_subsetting_params is None and not config.train_test_split:
        return Subset(train=frames)
    return subset_tables(
        frames,
        config.data_schema,
        config.database_subsetting_params,
        train_test_split=config.train_test_split,
        random_state=config.random_state,
    )


def write_subset(config: TrainingConfig, output_dir: Union[str, Path]) -> Dict[str, Any]:
    """Read every input table, keep the referentially intact subset of `database_subsetting_params` (and hold
    out the test set of `train_test_split`), and write it as Parquet: `output_dir/<table>.parquet` (test set:
    `output_dir/test/<table>.parquet`) plus `output_dir/training_config.yaml`, the same training config reading
    those files, with `database_subsetting_params` None and, when a test set was written, `train_test_split`
    False (the split is done). Returns {"tables": {name: rows}, "test_tables", "training_config", "output_dir",
    "summary"}. Rules: docs/subsetting.md.
    """
    output = Path(output_dir).resolve()
    output.mkdir(parents=True, exist_ok=True)
    with DataSources(config.data_sources) as sources:
        frames = {table.name: _read_source(config, table, sources) for table in config.data_schema.tables}
    result = subset_tables(
        frames,
        config.data_schema,
        config.database_subsetting_params,
        train_test_split=config.train_test_split,
        random_state=config.random_state,
    )

    def write(tables: Dict[str, pd.DataFrame], directory: Path) -> Dict[str, str]:
        directory.mkdir(parents=True, exist_ok=True)
        paths: Dict[str, str] = {}
        for name, frame in tables.items():
            path = directory / f"{name}.parquet"
            with FileTableWriter(path, if_exists=IfExists.REPLACE) as writer:
                writer.write_batch(frame)
            paths[name] = str(path)
        return paths

    paths = write(result.train, output)
    if result.test:
        write(result.test, output / "test")
    inputs = [DataLocationInput(name=name, location=PathReadTableConfig(path=path)) for name, path in paths.items()]
    subset_config = config.model_copy(
        update={
            "data_input": inputs,
            "database_subsetting_params": None,
            "train_test_split": config.train_test_split and not result.test,
            "nrows": None,
        }
    )
    config_path = subset_config.sanitize().to_file(output / "training_config.yaml")
    return {
        "tables": {name: len(frame) for name, frame in result.train.items()},
        "test_tables": {name: len(frame) for name, frame in result.test.items()},
        "training_config": str(config_path),
        "output_dir": str(output),
        "summary": result.summary,
    }
