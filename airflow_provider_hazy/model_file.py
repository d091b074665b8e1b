"""The `.hmf` model file: a zip of `manifest.json` and `.npy` arrays, never pickle, never a source row.

Layout:
    manifest.json          format, format_version, the model's metadata (see `api`), and under
                           `arrays` the SHA-256 of every array file, so tampering is detected
    arrays/<name>.npy      NumPy arrays, loaded with allow_pickle=False

Loading checks, in order: the file is a zip, it holds a manifest of this format, the format version is
one this package reads, every listed array is present with the right checksum and a plain dtype.
Each failure is a `ModelFileError` that says what is wrong with which file.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any, Dict, Tuple, Union

import numpy as np

MODEL_FORMAT = "hazy-model"
MODEL_FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
ARRAY_DIR = "arrays/"

PathLike = Union[str, Path]


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


def _read_manifest(archive: zipfile.ZipFile, label: str) -> Dict[str, Any]:
    try:
        manifest = json.loads(archive.read(MANIFEST_NAME).decode("utf-8"))
    except KeyError as error:
        raise ModelFileError(f"{label}: not a model file (no {MANIFEST_NAME})") from error
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, UnicodeDecodeError) as error:
        raise ModelFileError(f"{label}: damaged model file ({MANIFEST_NAME} unreadable: {error})") from error
    if not isinstance(manifest, dict) or manifest.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"{label}: not a model file (manifest format is not '{MODEL_FORMAT}')")
    version = manifest.get("format_version")
    if version != MODEL_FORMAT_VERSION:
        raise ModelFileError(
            f"{label}: model format version {version!r} is not supported "
            f"(this package reads version {MODEL_FORMAT_VERSION})"
        )
    if not isinstance(manifest.get("arrays"), dict):
        raise ModelFileError(f"{label}: damaged model file (manifest lists no arrays)")
    return manifest


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
        arrays: Dict[str, np.ndarray] = {}
        for name, checksum in manifest["arrays"].items():
            member = ARRAY_DIR + name + ".npy"
            try:
                data = archive.read(member)
            except KeyError as error:
                raise ModelFileError(f"{label}: damaged model file (array '{name}' missing)") from error
            except (zipfile.BadZipFile, EOFError, OSError, zipfile.LargeZipFile) as error:
                raise ModelFileError(f"{label}: damaged model file (array '{name}' unreadable)") from error
            if hashlib.sha256(data).hexdigest() != checksum:
                raise ModelFileError(f"{label}: tampered or damaged model file (array '{name}' checksum differs)")
            try:
                arrays[name] = np.load(io.BytesIO(data), allow_pickle=False)
            except ValueError as error:
                raise ModelFileError(f"{label}: array '{name}' is not a plain NumPy array ({error})") from error
        return manifest, arrays
