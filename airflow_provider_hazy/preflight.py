"""`hazy check` beyond the config: every input exists, every output can be written, before a run starts.

Connections use the data sources' timeouts (io/timeouts.py), so a server that does not answer fails the check
within the connect timeout. `hazy check --offline` skips these checks (the config alone is validated).

Each finding is a `Finding`: ok or not, a line naming the field and the place (never a URL or a secret),
and for a problem the exit code it stands for (2: something is missing or not writable; 1: a service could
not be reached).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Tuple, Union

from .config import DatabaseReadTableConfig, GenerationConfig, IfExists, TrainingConfig
from .io.local_paths import require_local_path
from .io.locations import fail_safe_path, location_path
from .io.s3 import is_s3_path, parse_s3_path
from .io.sources import DataSourceError, DataSources
from .outcome import EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME


@dataclass
class Finding:
    ok: bool
    line: str
    exit_code: int = EXIT_OK


def _ok(line: str) -> Finding:
    return Finding(True, line)


def _problem(line: str, code: int = EXIT_CONFIG) -> Finding:
    return Finding(False, line, code)


def _error_text(error: BaseException) -> str:
    from .errors import one_line

    return one_line(error)[0]


def _writable_directory(path: Path) -> Optional[Path]:
    """The nearest existing ancestor of `path` when a file can be created there, else None."""
    directory = path.parent
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    return directory if directory.is_dir() and os.access(directory, os.W_OK | os.X_OK) else None


def _local_output(field: str, path: Any, exists_fails: bool = False) -> Finding:
    try:
        require_local_path(path, field)
    except ValueError as error:
        return _problem(str(error))
    target = Path(str(path))
    if exists_fails and target.exists():
        return _problem(f"{field}: {target} exists and if_exists is 'fail'")
    if target.is_dir() and target.suffix:
        return _problem(f"{field}: {target} is a directory")
    if _writable_directory(target) is None:
        return _problem(f"{field}: cannot write {target} (no writable directory on its path)")
    return _ok(f"{field}: {target} can be written")


def _local_directory(field: str, path: Any) -> Finding:
    try:
        require_local_path(path, field)
    except ValueError as error:
        return _problem(str(error))
    directory = Path(str(path))
    if directory.exists() and not directory.is_dir():
        return _problem(f"{field}: {directory} is not a directory")
    if _writable_directory(directory / "file") is None:
        return _problem(f"{field}: cannot write into {directory} (no writable directory on its path)")
    return _ok(f"{field}: {directory} can be written")


def _check_table(
    field: str, location: DatabaseReadTableConfig, sources: DataSources, write: bool
) -> Finding:
    import sqlalchemy as sa

    table = f"{location.schema_name}.{location.table_name}" if location.schema_name else location.table_name
    source = f"data source '{location.source_id}'"
    try:
        engine = sources.engine(location.source_id)
        with engine.connect() as connection:
            exists = sa.inspect(connection).has_table(location.table_name, schema=location.schema_name)
    except DataSourceError as error:  # unset or unusable: the configuration's problem
        return _problem(f"{field}: {error}")
    except Exception as error:  # noqa: BLE001 - any failure to reach the source is reported, not raised
        return _problem(f"{field}: {source}: cannot connect: {_error_text(error)}", EXIT_RUNTIME)
    if not write:
        if not exists:
            return _problem(f"{field}: table {table} does not exist in data source '{location.source_id}'")
        return _ok(f"{field}: table {table} exists in data source '{location.source_id}'")
    if exists and getattr(location, "if_exists", None) == IfExists.FAIL:
        return _problem(f"{field}: table {table} exists in data source '{location.source_id}' and if_exists is 'fail'")
    probe = f"hazy_check_{uuid.uuid4().hex[:12]}"
    try:  # a probe table created and dropped where the output goes: rights, schema and disk in one step
        metadata = sa.MetaData()
        probe_table = sa.Table(probe, metadata, sa.Column("x", sa.Integer), schema=location.schema_name)
        with engine.begin() as connection:
            probe_table.create(connection)
        with engine.begin() as connection:
            probe_table.drop(connection)
    except Exception as error:  # noqa: BLE001 - the reason the output cannot be written
        return _problem(
            f"{field}: cannot create tables in data source '{location.source_id}'"
            f"{' schema ' + location.schema_name if location.schema_name else ''}: {_error_text(error)}"
        )
    return _ok(f"{field}: data source '{location.source_id}' accepts table {table}")


def _check_s3(field: str, path: str, source_id: Optional[str], sources: DataSources, write: bool) -> Finding:
    target = parse_s3_path(path)
    try:
        client = sources.s3_client(source_id)
        if write:
            client.head_bucket(Bucket=target.bucket)
        else:
            client.head_object(Bucket=target.bucket, Key=target.key)
    except Exception as error:  # noqa: BLE001 - missing object/bucket or unreachable endpoint
        status = getattr(error, "response", {}).get("Error", {}).get("Code", "")
        if status in ("404", "NoSuchKey", "NoSuchBucket", "NotFound"):
            what = f"bucket {target.bucket}" if write else path
            return _problem(f"{field}: {what} does not exist")
        return _problem(f"{field}: cannot reach {path}: {_error_text(error)}", EXIT_RUNTIME)
    return _ok(f"{field}: {'bucket ' + target.bucket + ' exists' if write else path + ' exists'}")


def _check_location(field: str, location: Any, sources: DataSources, write: bool) -> Finding:
    if isinstance(location, DatabaseReadTableConfig):
        return _check_table(field, location, sources, write)
    path = location_path(location)
    if is_s3_path(path):
        return _check_s3(field, path, getattr(location, "source_id", None), sources, write)
    if write:
        return _local_output(field, path, getattr(location, "if_exists", None) == IfExists.FAIL)
    if not Path(str(path)).is_file():
        return _problem(f"{field}: file {path} does not exist")
    return _ok(f"{field}: file {path} exists")


def check_config(config: Union[TrainingConfig, GenerationConfig], offline: bool = False) -> List[Finding]:
    """Every input exists and every output can be written; with `offline`, nothing is checked ([])."""
    findings: List[Finding] = []
    if offline:
        return findings
    with DataSources(config.data_sources) as sources:
        if isinstance(config, TrainingConfig):
            for item in config.data_input:
                findings.append(_check_location(f"data_input '{item.name}'", item.location, sources, False))
            if config.model_output is not None:
                findings.append(_local_output("model_output", location_path(config.model_output)))
            return findings
        model = location_path(config.model) if not isinstance(config.model, Path) else str(config.model)
        if model is not None:
            try:
                require_local_path(model, "model")
                if Path(str(model)).is_file():
                    findings.append(_ok(f"model: {model} exists"))
                else:
                    findings.append(_problem(f"model: file {model} does not exist"))
            except ValueError as error:
                findings.append(_problem(str(error)))
        for item in config.data_output:
            field = f"data_output '{item.name}'"
            findings.append(_check_location(field, item.location, sources, True))
            fail_safe = fail_safe_path(item.location)
            if fail_safe is not None:
                findings.append(_local_directory(f"{field}: fail_safe_path", fail_safe))
        if config.generation_state_path is not None:
            findings.append(_local_output("generation_state_path", location_path(config.generation_state_path)))
    return findings


def exit_code(findings: List[Finding]) -> int:
    """2 when something is missing or not writable, else 1 when a service could not be reached, else 0."""
    codes = {finding.exit_code for finding in findings if not finding.ok}
    return EXIT_CONFIG if EXIT_CONFIG in codes else (EXIT_RUNTIME if codes else EXIT_OK)


def summary(findings: List[Finding]) -> Tuple[int, int]:
    """(number of checks, number of problems)."""
    return len(findings), sum(not finding.ok for finding in findings)
