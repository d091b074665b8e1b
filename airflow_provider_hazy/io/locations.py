"""Turn a configured location into a reader or a writer.

Local files are read and written here; `s3://` paths and database tables go through the S3 and SQL
connectors of the data-connector layer, and until those are installed they are refused with a message
that names the table.
"""

from __future__ import annotations

from typing import Optional, Union

import pandas as pd

from ..config import (
    DatabaseReadTableConfig,
    DatabaseWriteTableConfig,
    IfExists,
    PathReadTableConfig,
    PathWriteTableConfig,
)
from .files import FileTableWriter, read_file_table

ReadLocation = Union[DatabaseReadTableConfig, PathReadTableConfig, str]
WriteLocation = Union[DatabaseWriteTableConfig, PathWriteTableConfig, str]


def location_path(location: Union[ReadLocation, WriteLocation]) -> Optional[str]:
    """The file path or URI of a location, None for a database table."""
    if isinstance(location, str):
        return location
    return getattr(location, "path", None)


def _refuse_remote(table: str, location: Union[ReadLocation, WriteLocation]) -> str:
    path = location_path(location)
    if path is None:
        raise NotImplementedError(f"table '{table}': database locations need the SQL connector (not installed yet)")
    if "://" in path:
        raise NotImplementedError(f"table '{table}': {path.split('://')[0]}:// locations are not supported yet")
    return path


def read_table(table: str, location: ReadLocation, nrows: Optional[int] = None) -> pd.DataFrame:
    """Read the whole source table `table` from its location."""
    path = _refuse_remote(table, location)
    try:
        return read_file_table(path, nrows=nrows)
    except (OSError, ValueError) as error:
        raise type(error)(f"table '{table}': {error}") from error


def open_writer(table: str, location: WriteLocation) -> FileTableWriter:
    """A batch writer for the synthetic table `table`."""
    path = _refuse_remote(table, location)
    if_exists = getattr(location, "if_exists", IfExists.FAIL)
    return FileTableWriter(path, if_exists=if_exists)


def fail_safe_path(location: WriteLocation) -> Optional[str]:
    """Where a failed batch of this location goes, if anywhere."""
    return getattr(location, "fail_safe_path", None)
