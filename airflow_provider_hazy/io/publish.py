"""Write-audit-publish: a run writes its staging, the staging is validated, and one step publishes it.

`stage_outputs` names each output's staging (`io.staging`): a database table beside the target, or a
folder beside a local output file. Under the target locks (`io.locks`) a run first `clean_stale`s the
staging that killed or failed runs left, `check_targets` (`if_exists: fail`), writes every batch into
its staging, validates the staging, then `publish_outputs`:

- database, `replace` (or a target that does not exist yet): the staging table is renamed to the target
  and the previous target dropped. PostgreSQL and SQLite do every table of a data source in one
  transaction (rename old away, rename staging in, drop old); MariaDB/MySQL in one atomic
  `RENAME TABLE t TO hzo_.., hzs_.. TO t, ...` statement, then drops the old tables;
- database, `append` to an existing table: `INSERT INTO target SELECT ... FROM staging`, every table of
  the data source in one transaction, parents first; then the staging is dropped;
- local files: `os.replace` of the staged file onto the target (atomic per file); a mapped run's part
  folder is swapped in by renames; CSV `append` builds the appended file beside it and replaces the
  target with it.

Foreign keys: the staging tables of one run reference each other (a child's staging references its
parent's staging), so the staged output is checked by the database as it is written; a rename carries the
constraint along (PostgreSQL by table identity; InnoDB and SQLite rewrite the reference), so after the
publish the children reference the published parents. The previous tables are dropped children first,
and a table outside the run that referenced a replaced parent loses that constraint (logged), as a
replace always did.

- S3: the run writes under a staging prefix beside the target key and the publish copies the staged
  objects onto their keys, then deletes the staging (`io.s3_staging`: what a reader sees during it).

`discard` drops a run's staging after a failure. A killed run leaves its staging behind; the next run on
the same target drops it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional

import pandas as pd
import sqlalchemy as sa

from ..config import DatabaseReadTableConfig, IfExists, PathWriteTableConfig
from .masking import scrub
from .s3_staging import (
    clean_stale_s3,
    discard_s3,
    publish_s3,
    staged_s3_path,
    staging_exists,
    start_staging,
    target_exists,
)
from .sources import DataSourceError, DataSources
from .staging import (
    MAPPED,
    OLD,
    STAGE,
    run_started,
    staged_folder_name,
    staged_folder_pattern,
    staged_table_name,
    staged_table_pattern,
)

log = logging.getLogger(__name__)
MAPPED_STAGING_HOURS = 24.0
"""A mapped run's staging younger than this is never cleaned by another run (`HAZY_MAPPED_STAGING_HOURS`)."""


class PublishError(RuntimeError):
    """Publishing a staged output failed (its transaction rolled back): the targets are as they were."""


@dataclass
class StagedOutput:
    """One output of a run: the user's `target` location and the `staged` location the run writes."""

    name: str
    target: Any
    staged: Any
    kind: str  # 'sql', 'file' or 's3'

    @property
    def if_exists(self) -> IfExists:
        return IfExists(getattr(self.target, "if_exists", IfExists.FAIL))


def mapped_staging_seconds() -> float:
    """How long a mapped run's staging is protected from cleaning by other runs."""
    return 3600.0 * float(os.environ.get("HAZY_MAPPED_STAGING_HOURS", MAPPED_STAGING_HOURS))


def stage_outputs(
    outputs: Mapping[str, Any], run_id: str, sources: DataSources, *, mapped: bool = False
) -> Dict[str, StagedOutput]:
    """The staging of every output (schema table -> write location), in the order given."""
    from .locations import local_path, location_kind

    kind_prefix = MAPPED if mapped else STAGE
    staged: Dict[str, StagedOutput] = {}
    for name, location in outputs.items():
        kind = location_kind(location)
        if kind == "sql":
            assert isinstance(location, DatabaseReadTableConfig)
            try:
                dialect = sources.engine(location.source_id).dialect.name
            except DataSourceError as error:
                raise DataSourceError(f"table '{name}': {error}") from None
            table = staged_table_name(location.table_name, run_id, kind_prefix, dialect)
            where: Any = location.model_copy(update={"table_name": table, "if_exists": IfExists.REPLACE})
        elif kind == "file":
            if isinstance(location, str):
                location = PathWriteTableConfig(path=location)
            path = Path(local_path(name, location))
            location = location.model_copy(update={"path": str(path)})  # `file://` read as the local path
            folder = path.parent / staged_folder_name(path.name, run_id, kind_prefix)
            where = location.model_copy(update={"path": str(folder / path.name), "if_exists": IfExists.REPLACE})
        else:
            if isinstance(location, str):
                location = PathWriteTableConfig(path=location)
            staged_path = staged_s3_path(location.path, run_id, kind_prefix)
            where = location.model_copy(update={"path": staged_path, "if_exists": IfExists.REPLACE})
        staged[name] = StagedOutput(name, location, where, kind)
    return staged


# --------------------------------------------------------------------------------------------------
# Before writing: stale staging and if_exists


def clean_stale(staged: Mapping[str, StagedOutput], sources: DataSources, run_id: str) -> List[str]:
    """Drop what earlier runs left for these targets (call it holding their locks): every unmapped staging
    and old table or folder, and a mapped run's staging older than `HAZY_MAPPED_STAGING_HOURS`. Returns
    what was removed."""
    removed: List[str] = []
    oldest_mapped = time.time() - mapped_staging_seconds()

    def stale(match: re.Match) -> bool:
        if match["run_id"] == run_id:
            return False
        return match["kind"] != MAPPED or run_started(match["run_id"]) < oldest_mapped

    for output in reversed(list(staged.values())):  # children before parents
        if output.kind == "sql":
            target = output.target
            engine = sources.engine(target.source_id)
            pattern = staged_table_pattern(target.table_name, engine.dialect.name)
            try:
                with engine.connect() as connection:
                    names = sa.inspect(connection).get_table_names(schema=target.schema_name)
            except sa.exc.SQLAlchemyError as error:  # a missing schema holds no staging (its writes will fail)
                log.debug("table '%s': no staging listed: %s", output.name, error)
                continue
            for table in sorted(names):
                match = pattern.match(table)
                if match and stale(match):
                    _drop(engine, table, target.schema_name)
                    removed.append(table)
                    log.warning(
                        "table '%s': dropped %s left by run %s (killed or failed)", output.name, table, match["run_id"]
                    )
        elif output.kind == "file":
            folder = Path(output.staged.path).parent.parent
            pattern = staged_folder_pattern(Path(output.staged.path).name)
            for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
                match = pattern.match(entry.name)
                if match and stale(match) and entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                    removed.append(str(entry))
                    log.warning(
                        "table '%s': removed %s left by run %s (killed or failed)", output.name, entry, match["run_id"]
                    )
        elif output.kind == "s3":
            client = sources.s3_client(getattr(output.target, "source_id", None))
            for prefix in clean_stale_s3(client, output.target.path, stale):
                removed.append(prefix)
                log.warning("table '%s': removed the staging %s left by a killed or failed run", output.name, prefix)
    return removed


def _table_exists(connection: sa.Connection, table: str, schema_name: Optional[str]) -> bool:
    """Whether the table exists; False when its schema does not (writing there fails with its own error)."""
    from .sql_tables import has_table

    try:
        return has_table(connection, table, schema_name)
    except sa.exc.SQLAlchemyError:
        return False


def check_targets(staged: Mapping[str, StagedOutput], sources: DataSources) -> None:
    """Refuse, before anything is generated, a target that exists under `if_exists: fail` and an `append`
    to an existing Parquet file."""
    from .locations import list_parts
    from .sql_tables import TableExistsError, display_name

    for output in staged.values():
        if output.kind == "sql" and output.if_exists == IfExists.FAIL:
            target = output.target
            with sources.engine(target.source_id).connect() as connection:
                if _table_exists(connection, target.table_name, target.schema_name):
                    raise TableExistsError(
                        f"table '{output.name}': {display_name(target.table_name, target.schema_name)} already "
                        "exists and if_exists is 'fail'"
                    )
        elif output.kind == "file":
            path = Path(output.target.path)
            parts = list_parts(output.name, output.target)
            if output.if_exists == IfExists.FAIL and (path.exists() or parts):
                found = str(path) if path.exists() else f"{len(parts)} part(s) under {Path(parts[0]).parent}"
                raise FileExistsError(f"table '{output.name}': {found} already exists and if_exists is 'fail'")
            if (
                output.if_exists == IfExists.APPEND
                and path.exists()
                and not path.name.lower().endswith((".csv", ".csv.gz"))
            ):
                raise ValueError(
                    f"table '{output.name}': {path}: if_exists 'append' to an existing Parquet file is not supported"
                )
        elif output.kind == "s3" and output.if_exists != IfExists.REPLACE:
            client = sources.s3_client(getattr(output.target, "source_id", None))
            found = target_exists(client, output.target.path)
            if found and output.if_exists == IfExists.FAIL:
                raise FileExistsError(f"table '{output.name}': {found} already exists and if_exists is 'fail'")
            if found == output.target.path and not found.lower().endswith((".csv", ".csv.gz")):
                raise ValueError(
                    f"table '{output.name}': {found}: if_exists 'append' to an existing Parquet object is not supported"
                )


# --------------------------------------------------------------------------------------------------
# Publishing


def publish_outputs(staged: Mapping[str, StagedOutput], sources: DataSources) -> Dict[str, str]:
    """Publish every staged output (given parents first) into its target; returns, per table, 'replaced',
    'created' or 'appended'."""
    done: Dict[str, str] = {}
    by_source: Dict[str, List[StagedOutput]] = {}
    for output in staged.values():
        if output.kind == "sql":
            by_source.setdefault(output.target.source_id, []).append(output)
    for source_id, outputs in by_source.items():
        try:
            done.update(_publish_sql(sources.engine(source_id), outputs))
        except Exception as error:
            names = ", ".join(f"'{output.name}'" for output in outputs)
            original = getattr(error, "orig", None) or error
            text = " ".join(str(original).split("\n")[0].split())[:300]
            raise PublishError(
                f"table(s) {names}: publishing the staging failed, the targets are as they were "
                f"({type(original).__name__}: {scrub(text, sources.secrets(source_id))})"
            ) from error
    for output in staged.values():
        if output.kind == "file":
            done[output.name] = _publish_file(output)
        elif output.kind == "s3":
            client = sources.s3_client(getattr(output.target, "source_id", None))
            append = output.if_exists == IfExists.APPEND
            done[output.name] = publish_s3(client, output.staged.path, output.target.path, append)
    return {name: done[name] for name in staged}


def discard(staged: Mapping[str, StagedOutput], sources: DataSources) -> None:
    """Drop a run's staging (after a failure); never raises (the next run cleans what is left)."""
    for output in reversed(list(staged.values())):
        try:
            if output.kind == "sql":
                engine = sources.engine(output.staged.source_id)
                _drop(engine, output.staged.table_name, output.staged.schema_name, missing_ok=True)
            elif output.kind == "file":
                shutil.rmtree(Path(output.staged.path).parent, ignore_errors=True)
            elif output.kind == "s3":
                discard_s3(sources.s3_client(getattr(output.target, "source_id", None)), output.staged.path)
        except Exception as error:  # noqa: BLE001 - the next run on this target drops it
            log.warning("table '%s': could not drop its staging (%s); the next run will", output.name, error)


def _drop(engine: Any, table: str, schema_name: Optional[str], missing_ok: bool = False) -> None:
    from .sql_tables import begin_sqlite, drop_table, has_table

    with engine.begin() as connection:
        begin_sqlite(connection)
        if missing_ok and not has_table(connection, table, schema_name):
            return
        drop_table(connection, table, schema_name)


def _rename_statement(dialect: sa.Dialect, schema_name: Optional[str], pairs: List[tuple]) -> List[str]:
    from .sql_tables import qualified_name, quote_identifier

    if dialect.name in ("mysql", "mariadb"):
        moves = ", ".join(
            f"{qualified_name(dialect, old, schema_name)} TO {qualified_name(dialect, new, schema_name)}"
            for old, new in pairs
        )
        return [f"RENAME TABLE {moves}"] if pairs else []
    return [
        f"ALTER TABLE {qualified_name(dialect, old, schema_name)} RENAME TO {quote_identifier(dialect, new)}"
        for old, new in pairs
    ]


def _insert_select(connection: sa.Connection, output: StagedOutput) -> None:
    from .sql import reflect_table

    target, staged = output.target, output.staged
    target_table = reflect_table(connection, target.table_name, target.schema_name)
    staged_table = reflect_table(connection, staged.table_name, staged.schema_name)
    columns = [column.name for column in staged_table.columns]
    missing = [name for name in columns if name not in target_table.c]
    if missing:
        raise ValueError(f"table '{output.name}': cannot append, column(s) {missing} are not in the target table")
    select = sa.select(*(staged_table.c[name] for name in columns))
    connection.execute(target_table.insert().from_select([target_table.c[name] for name in columns], select))


def _publish_sql(engine: Any, outputs: List[StagedOutput]) -> Dict[str, str]:
    """Publish one data source's staged tables (parents first): appends, then renames, then drops."""
    from .sql import TRANSACTIONAL_DDL
    from .sql_tables import TableExistsError, begin_sqlite, display_name, drop_table, has_table

    dialect = engine.dialect
    done: Dict[str, str] = {}
    renames: List[tuple] = []  # (schema, old name, new name)
    olds: List[tuple] = []  # (schema, old table): the previous targets, dropped after the renames
    appended: List[StagedOutput] = []
    with engine.connect() as probe:
        exists = {o.name: has_table(probe, o.target.table_name, o.target.schema_name) for o in outputs}
    for output in outputs:
        target, staged = output.target, output.staged
        run_id = staged_table_pattern(target.table_name, dialect.name).match(staged.table_name)["run_id"]
        if exists[output.name] and output.if_exists == IfExists.FAIL:
            raise TableExistsError(
                f"table '{output.name}': {display_name(target.table_name, target.schema_name)} "
                "appeared while the run was writing, and if_exists is 'fail'"
            )
        if exists[output.name] and output.if_exists == IfExists.APPEND:
            appended.append(output)
            done[output.name] = "appended"
            continue
        if exists[output.name]:
            old = staged_table_name(target.table_name, run_id, OLD, dialect.name)
            renames.append((target.schema_name, target.table_name, old))
            olds.append((target.schema_name, old))
        renames.append((target.schema_name, staged.table_name, target.table_name))
        done[output.name] = "replaced" if exists[output.name] else "created"
    schemas = sorted({schema or "" for schema, _, _ in renames})

    def rename_all(connection: sa.Connection) -> None:
        for schema in schemas:
            pairs = [(old, new) for s, old, new in renames if (s or "") == schema]
            for statement in _rename_statement(dialect, schema or None, pairs):
                connection.exec_driver_sql(statement)

    def drop_all(connection: sa.Connection) -> None:
        for schema, old in reversed(olds):
            drop_table(connection, old, schema)
        for output in reversed(appended):
            drop_table(connection, output.staged.table_name, output.staged.schema_name)

    if dialect.name in TRANSACTIONAL_DDL:
        with engine.begin() as connection:  # one transaction: all of it, or nothing
            begin_sqlite(connection)
            for output in appended:
                _insert_select(connection, output)
            rename_all(connection)
            drop_all(connection)
        return done
    if appended:
        with engine.begin() as connection:
            for output in appended:
                _insert_select(connection, output)
    with engine.begin() as connection:
        rename_all(connection)  # one atomic RENAME TABLE per schema
    with engine.begin() as connection:
        drop_all(connection)
    return done


def _part_folder(path: Path) -> Path:
    from .locations import part_path

    return Path(part_path(str(path), 0)).parent


def _publish_file(output: StagedOutput) -> str:
    """Move a staged file (or a mapped run's staged part folder) onto its target, then drop the staging."""
    staged_file = Path(output.staged.path)
    stage = staged_file.parent
    target = Path(output.target.path)
    staged_parts, target_parts = _part_folder(staged_file), _part_folder(target)
    existed = target.exists() or target_parts.is_dir()
    target.parent.mkdir(parents=True, exist_ok=True)
    append = output.if_exists == IfExists.APPEND
    if staged_file.exists():
        if append and target.exists():
            _append_csv(target, staged_file, stage / f"appended-{staged_file.name}")
        else:
            os.replace(staged_file, target)
            if target_parts.is_dir() and not append:
                shutil.rmtree(target_parts)  # an earlier mapped run's parts: the single file replaces them
    elif staged_parts.is_dir():
        if append and target_parts.is_dir():
            for part in sorted(staged_parts.iterdir()):
                os.replace(part, target_parts / part.name)
        else:
            if target_parts.is_dir():
                os.rename(target_parts, stage / "previous-parts")
            os.rename(staged_parts, target_parts)
            if target.exists() and not append:
                target.unlink()  # an earlier single file would be read instead of the parts
    shutil.rmtree(stage, ignore_errors=True)
    if append and existed:
        return "appended"
    return "replaced" if existed else "created"


def _append_csv(target: Path, staged: Path, scratch: Path) -> None:
    """`target` with the rows of `staged` appended, replacing `target` in one rename."""
    compression = "gzip" if target.name.lower().endswith(".gz") else None
    shutil.copyfile(target, scratch)
    for chunk in pd.read_csv(staged, chunksize=100_000, compression=compression, low_memory=False):
        chunk.to_csv(scratch, mode="a", header=False, index=False, compression=compression)
    os.replace(scratch, target)


# --------------------------------------------------------------------------------------------------
# A run's staging, per phase


class StagingMissingError(RuntimeError):
    """A mapped batch or publish found no staging of its run: the prepare step did not run (or its staging
    was cleaned after `HAZY_MAPPED_STAGING_HOURS`)."""


def require_staging(staged: Mapping[str, StagedOutput], sources: DataSources, run_id: str) -> None:
    """Raise `StagingMissingError` naming the table when a staged output of run `run_id` is missing."""
    from .sql_tables import display_name, has_table

    for output in staged.values():
        if output.kind == "sql":
            where = output.staged
            with sources.engine(where.source_id).connect() as connection:
                found = has_table(connection, where.table_name, where.schema_name)
            label = display_name(where.table_name, where.schema_name)
        elif output.kind == "file":
            found = Path(output.staged.path).parent.is_dir()
            label = str(Path(output.staged.path).parent)
        elif output.kind == "s3":
            found = staging_exists(sources.s3_client(getattr(output.target, "source_id", None)), output.staged.path)
            label = output.staged.path.rpartition("/")[0] + "/"
        else:
            continue
        if not found:
            raise StagingMissingError(
                f"table '{output.name}': the staging {label} of run {run_id} does not exist: run the prepare step "
                "of this run first (api.generate(config, batch_indices=[], run_id=...))"
            )


@contextlib.contextmanager
def staged_run(
    outputs: Mapping[str, Any],
    sources: DataSources,
    run_id: str,
    phase: str,
    *,
    lock_wait: Optional[float] = None,
) -> Iterator[Dict[str, StagedOutput]]:
    """A run's staged outputs for one phase, with what the phase needs around it:

    - 'run' (unmapped) and 'prepare' (a mapped run's first step): the targets' locks for the block, stale
      staging cleaned and `if_exists: fail` checked first; the staging is discarded if the block raises;
    - 'batch': no lock (each batch writes its own rows of the run's staging), the staging must exist;
    - 'publish': the targets' locks for the block, the staging must exist.
    """
    from .locks import target_locks

    if phase not in ("run", "prepare", "batch", "publish"):
        raise ValueError(f"phase must be 'run', 'prepare', 'batch' or 'publish', not {phase!r}")
    staged = stage_outputs(outputs, run_id, sources, mapped=phase != "run")
    if phase == "batch":
        require_staging(staged, sources, run_id)
        yield staged
        return
    with target_locks(outputs, run_id, sources, wait=lock_wait):
        if phase == "publish":
            require_staging(staged, sources, run_id)
            yield staged
            return
        clean_stale(staged, sources, run_id)
        check_targets(staged, sources)
        try:
            for output in staged.values():
                if output.kind == "file":
                    Path(output.staged.path).parent.mkdir(parents=True, exist_ok=True)
                elif output.kind == "s3":
                    client = sources.s3_client(getattr(output.target, "source_id", None))
                    start_staging(client, output.staged.path, run_id)
            yield staged
        except BaseException:
            discard(staged, sources)
            raise
