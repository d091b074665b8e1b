"""Where the registry keeps model files: a folder or an S3 prefix, content-addressed by SHA-256.

A file's key is its SHA-256 (`<root>/<ab>/<sha256>.hmf`), so the same bytes are stored once, a download
is checked against its address, and writing is idempotent (a folder write goes to a temporary file first
and is renamed into place; an S3 PUT is atomic). The store never decides what to keep: the registry's
`hazy_blobs` rows do, under a row lock (`Registry`).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Optional, Protocol, Set

from ..io.s3 import is_s3_path, parse_s3_path

SUFFIX = ".hmf"


class StoreError(IOError):
    """A model file the store cannot write or return as it was stored."""


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of `data`, as 64 hex digits (a model file's address)."""
    return hashlib.sha256(data).hexdigest()


def _relative_key(sha256: str) -> str:
    return f"{sha256[:2]}/{sha256}{SUFFIX}"


def _checked(sha256: str, data: bytes, where: str) -> bytes:
    if sha256_hex(data) != sha256:
        raise StoreError(f"{where}: stored bytes do not match their SHA-256 {sha256} (damaged or replaced)")
    return data


class ModelStore(Protocol):
    """What the registry needs of a store."""

    location: str

    def put(self, sha256: str, data: bytes) -> None: ...
    def get(self, sha256: str) -> bytes: ...
    def exists(self, sha256: str) -> bool: ...
    def delete(self, sha256: str) -> None: ...
    def addresses(self) -> Set[str]: ...


class FolderStore:
    """Model files in a local (or mounted) folder."""

    def __init__(self, root: os.PathLike | str) -> None:
        self.root = Path(root).expanduser()
        self.location = str(self.root)

    def path(self, sha256: str) -> Path:
        """Where the file of `sha256` lives."""
        return self.root / _relative_key(sha256)

    def put(self, sha256: str, data: bytes) -> None:
        target = self.path(sha256)
        if target.exists() and sha256_hex(target.read_bytes()) == sha256:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".upload-", dir=target.parent)
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def get(self, sha256: str) -> bytes:
        path = self.path(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError as error:
            raise StoreError(f"model file {sha256} is missing from the store {self.location}") from error
        return _checked(sha256, data, str(path))

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def addresses(self) -> Set[str]:
        if not self.root.exists():
            return set()
        return {path.stem for path in self.root.glob(f"??/*{SUFFIX}")}


class S3Store:
    """Model files under an S3 prefix (`s3://bucket/prefix`), through a boto3 client."""

    def __init__(self, location: str, client: Any) -> None:
        if not location.endswith("/"):
            location += "/"
        parsed = parse_s3_path(location + "x")
        self.bucket = parsed.bucket
        self.prefix = parsed.key[:-1]
        self.location = f"s3://{self.bucket}/{self.prefix}"
        self.client = client

    def key(self, sha256: str) -> str:
        """The object key of `sha256`."""
        return self.prefix + _relative_key(sha256)

    def put(self, sha256: str, data: bytes) -> None:
        if self.exists(sha256):
            return
        self.client.put_object(Bucket=self.bucket, Key=self.key(sha256), Body=data)

    def get(self, sha256: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key(sha256))
        except Exception as error:  # noqa: BLE001 - botocore's ClientError, reported by address
            raise StoreError(f"model file {sha256} is missing from the store {self.location} ({error})") from error
        return _checked(sha256, response["Body"].read(), f"{self.location}{_relative_key(sha256)}")

    def exists(self, sha256: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except Exception as error:  # noqa: BLE001
            code = str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def delete(self, sha256: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(sha256))

    def addresses(self) -> Set[str]:
        found: Set[str] = set()
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                name = item["Key"].rsplit("/", 1)[-1]
                if name.endswith(SUFFIX):
                    found.add(name[: -len(SUFFIX)])
        return found


def open_store(location: os.PathLike | str, s3_client: Optional[Any] = None) -> ModelStore:
    """A store for a folder path or an `s3://bucket/prefix` (the client: given, else boto3's default chain)."""
    location = str(location)
    if is_s3_path(location):
        if s3_client is None:
            from ..io.s3 import s3_client_from_url

            s3_client = s3_client_from_url(None)
        return S3Store(location, s3_client)
    return FolderStore(location)
