"""The `.hmf` model file: a zip of `manifest.json` and `.npy` arrays, never pickle, never a source row.

Layout:
    manifest.json          format, format_version, the model's metadata (see `api`), and under
                           `arrays` the SHA-256 of every array file, so tampering is detected
    arrays/<name>.npy      NumPy arrays, loaded with allow_pickle=False

Loading checks, in order: the file is a zip, its manifest's declared size is within `MAX_MANIFEST_BYTES`
and it is of this format and a version this package reads; then, before any array is read, every listed
array is present, its declared (uncompressed) size is the one the manifest records (`array_sizes`) and
the declared sizes together are within `max_model_bytes()` (default 2 GiB, `HAZY_MAX_MODEL_BYTES`); each
array is then read (never more than its declared size), checked against its checksum, and its `.npy`
header (a plain dtype, a shape that matches the bytes) checked before it is viewed, never allocated from
the header. Each failure is a `ModelFileError` that says what is wrong with which file, so a crafted file
(a 4 GiB member in a small archive, a header claiming a huge shape) is refused with bounded memory.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import zipfile
from pathlib import Path
from typing import Any, Dict, Tuple, Union

import numpy as np

MODEL_FORMAT = "hazy-model"
MODEL_FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
ARRAY_DIR = "arrays/"

MAX_MANIFEST_BYTES = 256 * 1024 * 1024
DEFAULT_MAX_MODEL_BYTES = 2 * 1024**3

PathLike = Union[str, Path]


def max_model_bytes() -> int:
    """The largest total (uncompressed) array size a model file may declare: `HAZY_MAX_MODEL_BYTES`, else
    2 GiB."""
    value = os.environ.get("HAZY_MAX_MODEL_BYTES", "").strip()
    return int(value) if value.isdigit() else DEFAULT_MAX_MODEL_BYTES


class ModelFileError(ValueError):
    """A file that is not a readable model of this package's format."""


def _array_bytes(array: np.ndarray) -> bytes:
    if array.dtype.hasobject:
        raise ModelFileError(f"array of dtype {array.dtype} cannot be stored: object arrays need pickle")
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def write_model_bytes(manifest: Dict[str, Any], arrays: Dict[str, np.ndarray]) -> bytes:
    """The bytes of a model file holding `manifest` and `arrays` (deterministic for equal inputs)."""
    payloads = {name: _array_bytes(array) for name, array in sorted(arrays.items())}
    full_manifest = dict(manifest)
    full_manifest["format"] = MODEL_FORMAT
    full_manifest["format_version"] = MODEL_FORMAT_VERSION
    full_manifest["arrays"] = {name: hashlib.sha256(data).hexdigest() for name, data in payloads.items()}
    full_manifest["array_sizes"] = {name: len(data) for name, data in payloads.items()}
    manifest_text = json.dumps(full_manifest, indent=1, sort_keys=True, allow_nan=False)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        # A fixed timestamp keeps the bytes identical across runs with the same random_state.
        _write_entry(archive, MANIFEST_NAME, manifest_text.encode("utf-8"))
        for name, data in payloads.items():
            _write_entry(archive, ARRAY_DIR + name + ".npy", data)
    return buffer.getvalue()


def _write_entry(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def write_model(path: PathLike, manifest: Dict[str, Any], arrays: Dict[str, np.ndarray]) -> Path:
    """Write a model file; returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(write_model_bytes(manifest, arrays))
    return path


def _open_archive(source: Union[PathLike, bytes]) -> Tuple[zipfile.ZipFile, str]:
    label = "model bytes" if isinstance(source, bytes) else str(source)
    try:
        handle = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")  # noqa: SIM115
    except OSError as error:
        raise ModelFileError(f"{label}: cannot open model file ({error.strerror})") from error
    try:
        return zipfile.ZipFile(handle), label
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        handle.close()
        raise ModelFileError(f"{label}: not a model file (not a zip archive, or truncated)") from error


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The bytes of a member, never more than its declared size (zipfile stops there and checks the CRC)."""
    with archive.open(info) as handle:
        data = handle.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise zipfile.BadZipFile(f"{info.filename}: {len(data)} bytes, {info.file_size} declared")
    return data


def _read_manifest(archive: zipfile.ZipFile, label: str) -> Dict[str, Any]:
    try:
        info = archive.getinfo(MANIFEST_NAME)
    except KeyError as error:
        raise ModelFileError(f"{label}: not a model file (no {MANIFEST_NAME})") from error
    if info.file_size > MAX_MANIFEST_BYTES:
        raise ModelFileError(
            f"{label}: damaged or crafted model file ({MANIFEST_NAME} declares {info.file_size} bytes, more than "
            f"the limit of {MAX_MANIFEST_BYTES})"
        )
    try:
        manifest = json.loads(_read_member(archive, info).decode("utf-8"))
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, UnicodeDecodeError, RecursionError) as error:
        raise ModelFileError(f"{label}: damaged model file ({MANIFEST_NAME} unreadable: {error})") from error
    if not isinstance(manifest, dict) or manifest.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"{label}: not a model file (manifest format is not '{MODEL_FORMAT}')")
    version = manifest.get("format_version")
    if version != MODEL_FORMAT_VERSION:
        raise ModelFileError(
            f"{label}: model format version {version!r} is not supported "
            f"(this package reads version {MODEL_FORMAT_VERSION})"
        )
    arrays = manifest.get("arrays")
    if not isinstance(arrays, dict) or not all(
        isinstance(name, str) and isinstance(checksum, str) for name, checksum in arrays.items()
    ):
        raise ModelFileError(f"{label}: damaged model file (manifest lists no arrays)")
    sizes = manifest.get("array_sizes")
    if sizes is not None and (
        not isinstance(sizes, dict)
        or set(sizes) != set(arrays)
        or not all(type(size) is int and size >= 0 for size in sizes.values())
    ):
        raise ModelFileError(f"{label}: damaged model file (manifest array_sizes do not match its arrays)")
    return manifest


def _array_members(archive: zipfile.ZipFile, manifest: Dict[str, Any], label: str) -> Dict[str, zipfile.ZipInfo]:
    """Every listed array's zip entry, checked against the manifest's sizes and the total limit, unread."""
    sizes = manifest.get("array_sizes")
    members: Dict[str, zipfile.ZipInfo] = {}
    for name in manifest["arrays"]:
        try:
            info = archive.getinfo(ARRAY_DIR + name + ".npy")
        except KeyError as error:
            raise ModelFileError(f"{label}: damaged model file (array '{name}' missing)") from error
        if sizes is not None and info.file_size != sizes[name]:
            raise ModelFileError(
                f"{label}: damaged or crafted model file (array '{name}' declares {info.file_size} bytes, the "
                f"manifest {sizes[name]})"
            )
        members[name] = info
    total = sum(info.file_size for info in members.values())
    limit = max_model_bytes()
    if total > limit:
        largest = max(members, key=lambda name: members[name].file_size)
        raise ModelFileError(
            f"{label}: model file declares {total} bytes of arrays (array '{largest}': "
            f"{members[largest].file_size}), more than the limit of {limit} (HAZY_MAX_MODEL_BYTES raises it)"
        )
    return members


def _load_npy(data: bytes, name: str, label: str) -> np.ndarray:
    """A `.npy` payload as an array, its header checked (plain dtype, shape matching the bytes) first."""
    from numpy.lib import format as npy

    stream = io.BytesIO(data)
    try:
        version = npy.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, dtype = npy.read_array_header_1_0(stream)
        elif version in ((2, 0), (3, 0)):
            shape, fortran_order, dtype = npy.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except Exception as error:  # noqa: BLE001 - NumPy's header parser raises ValueError, TokenError, ...
        raise ModelFileError(f"{label}: array '{name}' is not a plain NumPy array ({error})") from error
    if dtype.hasobject or dtype.fields is not None:
        raise ModelFileError(f"{label}: array '{name}' has dtype {dtype}: only plain dtypes are read (no pickle)")
    count = math.prod(shape)
    offset = stream.tell()
    if count * dtype.itemsize != len(data) - offset:
        raise ModelFileError(
            f"{label}: array '{name}' header declares shape {shape} of {dtype} ({count * dtype.itemsize} bytes), "
            f"the file holds {len(data) - offset}"
        )
    array = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    return array.reshape(shape, order="F" if fortran_order else "C")


def read_manifest(source: Union[PathLike, bytes]) -> Dict[str, Any]:
    """The manifest of a model file, checked for format and version; arrays are not read."""
    archive, label = _open_archive(source)
    with archive:
        return _read_manifest(archive, label)


def read_model(source: Union[PathLike, bytes]) -> Tuple[Dict[str, Any], Dict[str, np.ndarray]]:
    """The manifest and every array of a model file, each array checked against its checksum."""
    archive, label = _open_archive(source)
    with archive:
        manifest = _read_manifest(archive, label)
        members = _array_members(archive, manifest, label)
        arrays: Dict[str, np.ndarray] = {}
        for name, checksum in manifest["arrays"].items():
            try:
                data = _read_member(archive, members[name])
            except (zipfile.BadZipFile, EOFError, OSError, zipfile.LargeZipFile, NotImplementedError) as error:
                raise ModelFileError(f"{label}: damaged model file (array '{name}' unreadable: {error})") from error
            if hashlib.sha256(data).hexdigest() != checksum:
                raise ModelFileError(f"{label}: tampered or damaged model file (array '{name}' checksum differs)")
            arrays[name] = _load_npy(data, name, label)
        return manifest, arrays
