"""`use_cache`: the encoded source of a table kept on disk between training runs; `SpilledChunks`: the
passes of one training over a remote table replayed from local disk (at the end of this module).

An entry is keyed by `cache_key(table, location_label, n_rows, extra)`: a SHA-256 of the table's schema
(or the whole `DataSchema`), the source location's label (no secret), its row count, the package version
and `extra` (the settings the encoding depends on, such as the generator's processing parameters: pass
them, or a changed setting would reuse an encoding built with the old one). A changed schema, location,
row count, setting or package version is a miss, so the source is read and encoded again.
`source_fingerprint(table, location)` gives the label and row count without reading the rows.

An entry is a directory `<cache dir>/<key>/` holding `meta.json` and plain `.npy` arrays (written and
read with `allow_pickle=False`): the integer codes, the fitted `TableEncoding` (its JSON and arrays) and
the privacy-ledger entries spent fitting it, to be recorded again in the ledger of a model that reuses
it (a reused noisy measurement is not free to leave out of the account). Entries are written to a
temporary directory and renamed into place, so a reader never sees half an entry; an unreadable entry
is a miss (logged).

The cache directory is `cache_dir` when given, else `$HAZY_CACHE_DIR`, else
`~/.cache/airflow-provider-hazy`; it is created with mode 0700 because the codes are the source rows in
encoded form: as sensitive as the source itself (never part of a model file).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import uuid
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Union

import numpy as np

from .. import __version__
from ..config.schema import BaseTable, DataSchema
from ..core.encoding import TableEncoding
from ..core.privacy import LedgerEntry

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
CACHE_DIR_ENV = "HAZY_CACHE_DIR"
DEFAULT_CACHE_DIR = Path("~/.cache/airflow-provider-hazy")
PathLike = Union[str, Path]


@dataclass
class CachedSource:
    """What a cache hit gives back: the codes, their encoding and the ledger entries spent on it."""

    codes: np.ndarray
    encoding: TableEncoding
    ledger_entries: List[LedgerEntry] = field(default_factory=list)
    meta: Dict[str, Any] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return int(self.codes.shape[0])


def default_cache_dir() -> Path:
    """`$HAZY_CACHE_DIR`, else `~/.cache/airflow-provider-hazy`."""
    configured = os.environ.get(CACHE_DIR_ENV)
    return Path(configured).expanduser() if configured else DEFAULT_CACHE_DIR.expanduser()


def cache_key(
    schema_table: Union[BaseTable, DataSchema],
    location_label: str,
    n_rows: int,
    extra: Optional[Mapping[str, Any]] = None,
) -> str:
    """The hex SHA-256 naming a cache entry (see the module docstring for what it covers)."""
    payload = {
        "format": CACHE_FORMAT,
        "package": __version__,
        "schema": schema_table.model_dump(mode="json"),
        "location": str(location_label),
        "n_rows": int(n_rows),
        "extra": dict(extra or {}),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _entry_dir(key: str, cache_dir: Optional[PathLike]) -> Path:
    if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
        raise ValueError(f"cache key '{key}': not a key made by cache_key")
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def save_arrays(
    key: str, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any], cache_dir: Optional[PathLike] = None
) -> Path:
    """Store named arrays (no object dtype) and JSON metadata under `key`; returns the entry's directory."""
    root, staging = _staging_dir(key, cache_dir)
    try:
        names = list(arrays)
        for index, name in enumerate(names):
            array = np.asarray(arrays[name])
            if array.dtype == object:
                raise ValueError(f"cache entry {key}: array '{name}' has object dtype (not stored)")
            np.save(staging / f"a{index}.npy", array, allow_pickle=False)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return _commit_entry(root, staging, key, {"format": CACHE_FORMAT, "key": key, "arrays": names, "meta": dict(meta)})


def _staging_dir(key: str, cache_dir: Optional[PathLike]) -> tuple:
    """(the entry's parent directory, a fresh private temporary directory beside it to write the entry in)."""
    root = _entry_dir(key, cache_dir)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    staging = root / f".tmp-{key}-{uuid.uuid4().hex}"
    staging.mkdir(mode=0o700)
    return root, staging


def _commit_entry(root: Path, staging: Path, key: str, document: Mapping[str, Any]) -> Path:
    """Write the entry's meta.json into `staging`, then rename it into place as `root/key` (a reader never
    sees half an entry); returns the entry's directory."""
    try:
        (staging / "meta.json").write_text(json.dumps(document, default=str), encoding="utf-8")
        target = root / key
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(staging, target)
        except OSError:  # another run stored the same entry meanwhile: keep theirs
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def load_arrays(key: str, cache_dir: Optional[PathLike] = None) -> Optional[tuple]:
    """`(arrays, meta)` stored under `key`, or None on a miss (absent, other format, unreadable)."""
    entry = _entry_dir(key, cache_dir) / key
    if not (entry / "meta.json").is_file():
        return None
    try:
        document = json.loads((entry / "meta.json").read_text(encoding="utf-8"))
        if document.get("format") != CACHE_FORMAT or document.get("key") != key:
            return None
        arrays = {
            name: np.load(entry / f"a{index}.npy", allow_pickle=False) for index, name in enumerate(document["arrays"])
        }
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.warning("cache entry %s is unreadable (%s: %s): treated as a miss", entry, type(error).__name__, error)
        return None
    return arrays, document["meta"]


def save_encoded_source(
    key: str,
    codes: np.ndarray,
    encoding: TableEncoding,
    ledger_entries: Sequence[LedgerEntry] = (),
    cache_dir: Optional[PathLike] = None,
) -> Path:
    """Store a table's codes, its fitted encoding and the ledger entries spent fitting it under `key`."""
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] != len(encoding.modelled_columns):
        raise ValueError(
            f"table '{encoding.table_name}': codes of shape {codes.shape} do not match the "
            f"{len(encoding.modelled_columns)} modelled columns"
        )
    arrays = {"codes": codes, **{f"encoding.{name}": array for name, array in encoding.arrays().items()}}
    meta = {
        "table": encoding.table_name,
        "n_rows": int(codes.shape[0]),
        "encoding": encoding.to_json(),
        "ledger_entries": [entry.to_dict() for entry in ledger_entries],
    }
    return save_arrays(key, arrays, meta, cache_dir)


def load_encoded_source(key: str, cache_dir: Optional[PathLike] = None) -> Optional[CachedSource]:
    """The entry stored by `save_encoded_source` under `key`, or None on a miss."""
    found = load_arrays(key, cache_dir)
    if found is None:
        return None
    arrays, meta = found
    try:
        prefix = "encoding."
        encoding = TableEncoding.from_parts(
            meta["encoding"], {name[len(prefix) :]: a for name, a in arrays.items() if name.startswith(prefix)}
        )
        codes = arrays["codes"]
        entries = [LedgerEntry.from_dict(entry) for entry in meta.get("ledger_entries", [])]
    except (KeyError, ValueError, TypeError) as error:
        log.warning("cache entry %s cannot be decoded (%s: %s): treated as a miss", key, type(error).__name__, error)
        return None
    if codes.shape[0] != meta.get("n_rows"):
        return None
    return CachedSource(codes=codes, encoding=encoding, ledger_entries=entries, meta=meta)


def source_fingerprint(table: str, location: Any, *, nrows: Optional[int] = None, sources: Any = None) -> tuple:
    """`(label, n_rows)` of a source without reading its rows, for `cache_key`.

    A database table: its location label and `SELECT COUNT(*)`. A local file: its path with its size and
    modification time in the label, and the row count from the Parquet footer (None for CSV: the size and
    time stand for it). An S3 object: its URI with its ETag, and None. `nrows` (the training config's)
    caps the count. A source changed in place with the same row count (SQL `UPDATE`) is not detected:
    use the cache with snapshots or append-only sources, or clear it.
    """
    from .locations import location_kind, location_label, location_path
    from .sources import DataSources

    kind = location_kind(location)
    label = location_label(location)
    n_rows: Optional[int] = None
    registry = DataSources.coerce(sources)
    try:
        if kind == "sql":
            import sqlalchemy as sa

            from .sql import reflect_table

            engine = registry.engine(location.source_id)
            reflected = reflect_table(engine, location.table_name, location.schema_name)
            with engine.connect() as connection:
                n_rows = int(connection.execute(sa.select(sa.func.count()).select_from(reflected)).scalar_one())
        elif kind == "s3":
            from .s3 import parse_s3_path

            path = parse_s3_path(str(location_path(location)))
            head = registry.s3_client(getattr(location, "source_id", None)).head_object(
                Bucket=path.bucket, Key=path.key
            )
            label = f"{label} etag {head.get('ETag')} size {head.get('ContentLength')}"
        else:
            path = Path(str(location_path(location))).expanduser()
            stat = path.stat()
            label = f"{path.resolve()} size {stat.st_size} mtime_ns {stat.st_mtime_ns}"
            if path.name.lower().endswith((".parquet", ".pq")):
                import pyarrow.parquet as pq

                n_rows = int(pq.ParquetFile(path).metadata.num_rows)
    except Exception as error:
        from .sources import scrub

        message = f"table '{table}': cannot fingerprint its source for the cache: " + scrub(
            str(error), registry.secrets(getattr(location, "source_id", None))
        )
        if isinstance(error, (OSError, LookupError, ValueError)):
            raise type(error)(message) from None
        raise RuntimeError(f"{message} ({type(error).__name__})") from None
    finally:
        if not isinstance(sources, DataSources):
            registry.dispose()
    if n_rows is not None and nrows is not None:
        n_rows = min(n_rows, int(nrows))
    return label, n_rows


def save_frames(
    key: str, frames: Mapping[str, Any], meta: Mapping[str, Any], cache_dir: Optional[PathLike] = None
) -> Optional[Path]:
    """Store named DataFrames as Parquet files (`t<i>.parquet`, index kept) with JSON metadata under `key`,
    written into a temporary directory and renamed into place; returns the entry's directory, or None when a
    frame cannot be stored as Parquet (logged: the run goes on without the cache)."""
    root, staging = _staging_dir(key, cache_dir)
    names = list(frames)
    try:
        for index, name in enumerate(names):
            frames[name].to_parquet(staging / f"t{index}.parquet", engine="pyarrow")
    except Exception as error:  # noqa: BLE001 - a frame pyarrow cannot store is not cached, never an error
        shutil.rmtree(staging, ignore_errors=True)
        log.warning("cache entry %s not written (%s: %s)", key, type(error).__name__, error)
        return None
    return _commit_entry(root, staging, key, {"format": CACHE_FORMAT, "key": key, "frames": names, "meta": dict(meta)})


def load_frames(key: str, cache_dir: Optional[PathLike] = None) -> Optional[tuple]:
    """`(frames, meta)` stored by `save_frames` under `key`, or None on a miss (absent, other format,
    unreadable: logged)."""
    import pyarrow.parquet as pq

    entry = _entry_dir(key, cache_dir) / key
    if not (entry / "meta.json").is_file():
        return None
    try:
        document = json.loads((entry / "meta.json").read_text(encoding="utf-8"))
        if document.get("format") != CACHE_FORMAT or document.get("key") != key or "frames" not in document:
            return None
        frames = {
            name: pq.read_table(entry / f"t{index}.parquet").to_pandas()
            for index, name in enumerate(document["frames"])
        }
    except Exception as error:  # noqa: BLE001 - any unreadable entry is a miss
        log.warning("cache entry %s is unreadable (%s: %s): treated as a miss", entry, type(error).__name__, error)
        return None
    return frames, document["meta"]


# --------------------------------------------------------------------------------------------------
# The spill: one training's passes over a remote table replayed from local disk

SPILL_ENV = "HAZY_SPILL"
"""'0' (or 'false', 'no', 'off') turns the spill off: every pass reads the source again."""
SPILL_DIR_ENV = "HAZY_SPILL_DIR"
"""Where spill directories are made (default: the system's temporary directory)."""
SPILL_COMPRESSION_ENV = "HAZY_SPILL_COMPRESSION"
DEFAULT_SPILL_COMPRESSION = "uncompressed"
"""The spill's Arrow files: 'uncompressed' (the default: 0.004 s to read back 100,000 census rows, 15 MB),
'lz4' (0.03 s, 6 MB) or 'zstd' (3 MB, slower still); `HAZY_SPILL_COMPRESSION` overrides."""
_NO = ("0", "false", "no", "off")


def spill_enabled() -> bool:
    """Whether `HAZY_SPILL` leaves the spill on (the default)."""
    return os.environ.get(SPILL_ENV, "1").strip().lower() not in _NO


class SpilledChunks:
    """Repeatable passes over chunks that read the source once: the first complete pass of `read()` writes
    each chunk, as it goes by, to its own Arrow IPC file (`HAZY_SPILL_COMPRESSION`) in a private temporary
    directory (mode 0700: the rows are as sensitive as the source), and every later pass reads those files
    back instead of the source. Streamed training passes over a table several times (`core.streaming`,
    `privbayes_streaming`, the evaluation sample): a database or S3 table is then read once.

    A replayed chunk equals the one read, dtype for dtype (the Arrow file keeps pandas' metadata). A chunk
    whose columns would not come back identical (object columns other than dates, non-text names, mixed
    values) turns the spill off for good: that pass and the later ones read the source. A first pass
    stopped early writes nothing. The directory is deleted when this object is collected (or at exit);
    `close()` deletes it at once. Memory: one chunk and its Arrow copy, never the table.
    """

    def __init__(self, read: Callable[[], Iterator[Any]], label: str = "table") -> None:
        self._read = read
        self.label = label
        self.directory: Optional[Path] = None
        self.chunks: Optional[int] = None
        self.disabled = not spill_enabled()
        self._finalizer: Optional[weakref.finalize] = None

    def __call__(self) -> Iterator[Any]:
        return self._replay() if self.chunks is not None else self._first_pass()

    def _replay(self) -> Iterator[Any]:
        import pyarrow.feather as feather

        assert self.directory is not None and self.chunks is not None
        for index in range(self.chunks):
            yield feather.read_table(self.directory / f"{index}.arrow", memory_map=False).to_pandas()

    def _first_pass(self) -> Iterator[Any]:
        if self.disabled:
            yield from self._read()
            return
        configured = os.environ.get(SPILL_DIR_ENV)
        parent = Path(configured).expanduser() if configured else None
        if parent is not None:
            parent.mkdir(parents=True, exist_ok=True)
        directory = Path(tempfile.mkdtemp(prefix="hazy-spill-", dir=parent))
        written, complete = 0, False
        try:
            for chunk in self._read():
                if not self.disabled:
                    if _spill_chunk(chunk, directory / f"{written}.arrow", self.label):
                        written += 1
                    else:
                        self.disabled = True
                        shutil.rmtree(directory, ignore_errors=True)
                yield chunk
            complete = True
        finally:
            if complete and not self.disabled:
                self.directory, self.chunks = directory, written
                self._finalizer = weakref.finalize(self, shutil.rmtree, str(directory), True)
                log.info("table '%s': %d chunk(s) spilled to %s for the next passes", self.label, written, directory)
            else:
                shutil.rmtree(directory, ignore_errors=True)

    def close(self) -> None:
        """Delete the spill now; later passes read the source."""
        if self._finalizer is not None:
            self._finalizer()
        self.directory, self.chunks = None, None


def _spill_chunk(frame: Any, path: Path, label: str) -> bool:
    """Write one chunk; False (nothing written) when it would not come back identical or cannot be written."""
    import pyarrow as pa
    import pyarrow.feather as feather

    try:
        if not all(isinstance(name, str) for name in frame.columns) or frame.columns.duplicated().any():
            return False
        table = pa.Table.from_pandas(frame, preserve_index=False)
        for name, dtype in frame.dtypes.items():
            arrow_type = table.schema.field(name).type
            dates = pa.types.is_date32(arrow_type) or pa.types.is_null(arrow_type)
            if isinstance(dtype, np.dtype) and dtype.kind == "O" and not dates:
                return False  # object columns come back as they went only when they hold dates (or only None)
        compression = os.environ.get(SPILL_COMPRESSION_ENV, DEFAULT_SPILL_COMPRESSION).strip().lower()
        feather.write_feather(table, path, compression=compression)
    except Exception as error:  # noqa: BLE001 - a chunk that cannot be spilled turns the spill off
        log.info("table '%s': not spilled (%s: %s)", label, type(error).__name__, error)
        return False
    return True
