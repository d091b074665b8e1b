"""S3 tables through boto3: CSV (`.csv`, `.csv.gz`) and Parquet at `s3://bucket/key`, in chunks and batches.

Client: `s3_client_from_url(url)` builds a client from a data source's URL:

- `http(s)://[key:secret@]host[:port][?region_name=...]` for an S3-compatible endpoint (MinIO, moto, ...);
- `s3://[key:secret@][?region_name=...]` for AWS itself;
- no URL: boto3's default chain (the standard `AWS_*` environment variables, `AWS_ENDPOINT_URL`, profiles).

Credentials in the URL's userinfo win; without them the standard AWS environment variables apply. Other
query parameters: `session_token`, `addressing_style` (`path`, the default for a custom endpoint, or
`virtual`) and `verify=false`.

Reads: CSV streams from the object body in chunks (gzip decompressed on the fly); Parquet reads the
footer and then the row groups it needs through ranged GETs, so neither holds the whole object.

Writes (`S3TableWriter`): nothing is visible at the key until `close()`.

- CSV: each batch is serialised in memory and appended to a buffer; full parts (`part_size`, at least
  5 MiB) go up as a multipart upload, completed on `close()` (a table smaller than one part is one PUT).
  `.csv.gz` compresses each batch as its own gzip member (a multi-member gzip file, which gzip, pandas
  and Spark read as one stream), so a failed batch can be dropped from the buffer without corrupting it.
  `if_exists='append'` copies the existing object in front of the new rows.
- Parquet: row groups (one per batch) go to a local temporary file, uploaded once on `close()` (boto3's
  managed transfer, multipart when large) and then deleted; local disk holds the table until then.
  Appending to an existing Parquet object is refused.

A batch that fails (bad values, a failed part upload) leaves the buffer as it was before the batch and
raises, so the caller can send the batch elsewhere and go on.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import tempfile
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..config import IfExists
from .files import (
    DEFAULT_CHUNK_ROWS,
    count_csv_rows,
    count_parquet_rows,
    file_format,
    read_csv_chunks,
    read_parquet_chunks,
)
from .masking import mask_url
from .timeouts import s3_timeouts

log = logging.getLogger(__name__)

MIN_PART_SIZE = 5 * 1024 * 1024
DEFAULT_PART_SIZE = 16 * 1024 * 1024
READ_BUFFER_SIZE = 8 * 1024 * 1024


@dataclass(frozen=True)
class S3Path:
    """A bucket and key parsed from `s3://bucket/key`."""

    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def is_s3_path(path: object) -> bool:
    """True for an `s3://` (or `s3a://`) URI."""
    return isinstance(path, str) and path.lower().startswith(("s3://", "s3a://"))


def parse_s3_path(path: str) -> S3Path:
    """Bucket and key of `s3://bucket/key` (ValueError naming the path otherwise)."""
    parts = urlsplit(path)
    if parts.scheme.lower() not in ("s3", "s3a") or not parts.netloc or not parts.path.strip("/"):
        raise ValueError(f"{path}: not an S3 object path (expected s3://bucket/key)")
    return S3Path(bucket=parts.netloc, key=parts.path.lstrip("/"))


def make_s3_client(
    *,
    endpoint_url: Optional[str] = None,
    access_key: Optional[str] = None,
    secret_key: Optional[str] = None,
    session_token: Optional[str] = None,
    region_name: Optional[str] = None,
    addressing_style: Optional[str] = None,
    verify: Optional[bool] = None,
    connect_timeout: Optional[float] = None,
    read_timeout: Optional[float] = None,
    **client_kwargs: Any,
) -> Any:
    """A boto3 S3 client; unset credentials come from boto3's default chain (the `AWS_*` variables, ...).

    A custom `endpoint_url` defaults to path-style addressing (what S3-compatible stores expect). Connect
    and read timeouts default to `io.timeouts` (10 s, 60 s), with 3 attempts in botocore's standard mode.
    """
    import boto3
    from botocore.config import Config

    kwargs: Dict[str, Any] = {}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    if access_key:
        kwargs["aws_access_key_id"] = access_key
        kwargs["aws_secret_access_key"] = secret_key or ""
    if session_token:
        kwargs["aws_session_token"] = session_token
    if verify is not None:
        kwargs["verify"] = verify
    region = region_name or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    addressing = addressing_style or ("path" if endpoint_url else "auto")
    config = Config(
        s3={"addressing_style": addressing}, signature_version="s3v4", **s3_timeouts(connect_timeout, read_timeout)
    )
    kwargs.update(client_kwargs)
    # A session per client: boto3's default session caches credentials across environment changes.
    return boto3.session.Session().client("s3", region_name=region, config=config, **kwargs)


def s3_client_from_url(url: Optional[str] = None, **client_kwargs: Any) -> Any:
    """A boto3 S3 client for a data source's URL (see the module docstring); errors never hold secrets."""
    if not url:
        import boto3
        from botocore.config import Config

        timeouts = {key: client_kwargs.pop(key) for key in ("connect_timeout", "read_timeout") if key in client_kwargs}
        config = Config(**s3_timeouts(**timeouts))
        return boto3.session.Session().client("s3", config=config, **client_kwargs)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https", "s3", "aws"):
        raise ValueError(f"unsupported S3 endpoint URL {mask_url(url)} (use http(s)://host:port or s3://)")
    query = {key.lower(): value for key, value in parse_qsl(parts.query)}
    endpoint_url = None
    if scheme in ("http", "https"):
        host = parts.hostname or ""
        if not host:
            raise ValueError(f"S3 endpoint URL {mask_url(url)} has no host")
        netloc = f"[{host}]" if ":" in host else host
        if parts.port:
            netloc += f":{parts.port}"
        endpoint_url = f"{scheme}://{netloc}{parts.path.rstrip('/')}"
    verify = query.get("verify", "").lower()
    return make_s3_client(
        endpoint_url=endpoint_url,
        access_key=unquote(parts.username) if parts.username else None,
        secret_key=unquote(parts.password or ""),
        session_token=query.get("session_token") or query.get("aws_session_token"),
        region_name=query.get("region_name") or query.get("region"),
        addressing_style=query.get("addressing_style"),
        verify=False if verify in ("false", "0", "no") else None,
        **client_kwargs,
    )


def s3_source_url(
    *,
    endpoint_url: Optional[str] = None,
    access_key: Optional[str] = None,
    secret_key: Optional[str] = None,
    region_name: Optional[str] = None,
    session_token: Optional[str] = None,
) -> str:
    """The data-source URL for these settings (the inverse of `s3_client_from_url`); it holds secrets."""
    base = urlsplit(endpoint_url) if endpoint_url else None
    scheme = base.scheme if base is not None else "s3"
    userinfo = ""
    if access_key:
        userinfo = quote(access_key, safe="") + ":" + quote(secret_key or "", safe="") + "@"
    netloc = userinfo + (base.netloc.rsplit("@", 1)[-1] if base is not None else "")
    path = base.path if base is not None else ""
    query = {key: value for key, value in (("region_name", region_name), ("session_token", session_token)) if value}
    return urlunsplit((scheme, netloc, path or "/", urlencode(query), ""))


def _not_found(error: Exception) -> bool:
    response = getattr(error, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound", "NoSuchBucket")


def object_size(client: Any, path: Union[str, S3Path]) -> Optional[int]:
    """The object's size in bytes, None when it does not exist."""
    from botocore.exceptions import ClientError

    location = parse_s3_path(path) if isinstance(path, str) else path
    try:
        return int(client.head_object(Bucket=location.bucket, Key=location.key)["ContentLength"])
    except ClientError as error:
        if _not_found(error):
            return None
        raise


class _S3ObjectFile(io.RawIOBase):
    """A seekable read-only view of an S3 object through ranged GETs (for Parquet footers and row groups)."""

    def __init__(self, client: Any, location: S3Path, size: int) -> None:
        super().__init__()
        self._client = client
        self._location = location
        self._size = size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        if self._position >= self._size or len(buffer) == 0:
            return 0
        end = min(self._position + len(buffer), self._size) - 1
        response = self._client.get_object(
            Bucket=self._location.bucket, Key=self._location.key, Range=f"bytes={self._position}-{end}"
        )
        data = response["Body"].read()
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)


def read_s3_table_chunks(
    client: Any,
    path: str,
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    nrows: Optional[int] = None,
    text_columns: Optional[Sequence[str]] = None,
) -> Iterator[pd.DataFrame]:
    """Read `s3://bucket/key` (CSV, CSV.gz or Parquet by extension) in DataFrames of at most `chunk_size` rows.

    The object is looked up now (FileNotFoundError naming the path when it does not exist); its rows are
    fetched as the iterator is consumed.
    """
    kind = file_format(path)
    location = parse_s3_path(path)
    size = object_size(client, location)
    if size is None:
        raise FileNotFoundError(f"{path}: no such S3 object")
    if kind == "parquet":
        raw = _S3ObjectFile(client, location, size)
        return read_parquet_chunks(io.BufferedReader(raw, buffer_size=READ_BUFFER_SIZE), chunk_size, nrows)

    def csv_chunks() -> Iterator[pd.DataFrame]:
        body = client.get_object(Bucket=location.bucket, Key=location.key)["Body"]
        try:
            stream: Any = body
            if path.lower().endswith(".gz"):
                stream = gzip.GzipFile(fileobj=body, mode="rb")
            yield from read_csv_chunks(
                stream, chunk_size=chunk_size, nrows=nrows, compression=None, text_columns=text_columns
            )
        finally:
            body.close()

    return csv_chunks()


def count_s3_rows(client: Any, path: str) -> int:
    """The rows of an S3 table without holding them: a Parquet object's footer (ranged GETs), a CSV object's
    records parsed from its streamed body (gzip decompressed on the fly)."""
    location = parse_s3_path(path)
    size = object_size(client, location)
    if size is None:
        raise FileNotFoundError(f"{path}: no such S3 object")
    if file_format(path) == "parquet":
        raw = _S3ObjectFile(client, location, size)
        return count_parquet_rows(io.BufferedReader(raw, buffer_size=READ_BUFFER_SIZE))
    body = client.get_object(Bucket=location.bucket, Key=location.key)["Body"]
    try:
        stream: Any = gzip.GzipFile(fileobj=body, mode="rb") if path.lower().endswith(".gz") else body
        return count_csv_rows(stream)
    finally:
        body.close()


def read_s3_table(client: Any, path: str, nrows: Optional[int] = None) -> pd.DataFrame:
    """Read a whole S3 table (the first `nrows` rows when set)."""
    frames = list(read_s3_table_chunks(client, path, nrows=nrows))
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


class S3TableWriter:
    """Writes an S3 table batch by batch; the object appears at its key on `close()` (see the module doc)."""

    def __init__(
        self,
        client: Any,
        path: str,
        if_exists: Union[IfExists, str] = IfExists.FAIL,
        *,
        part_size: int = DEFAULT_PART_SIZE,
        temp_dir: Optional[str] = None,
    ) -> None:
        self.client = client
        self.path = path
        self.location = parse_s3_path(path)
        self.format = file_format(path)
        self.gzip = path.lower().endswith(".gz")
        self.if_exists = IfExists(if_exists)
        self.part_size = max(int(part_size), MIN_PART_SIZE)
        self.temp_dir = temp_dir
        self.batches_written = 0
        self.rows_written = 0
        self._buffer = bytearray()
        self._upload_id: Optional[str] = None
        self._parts: List[Dict[str, Any]] = []
        self._header_written = False
        self._parquet_writer: Optional[pq.ParquetWriter] = None
        self._temp_path: Optional[str] = None
        self._closed = False

    # -- first batch: if_exists -------------------------------------------------------------------

    def _prepare(self) -> None:
        size = object_size(self.client, self.location)
        if size is None:
            return
        if self.if_exists == IfExists.FAIL:
            raise FileExistsError(f"{self.path}: already exists and if_exists is 'fail'")
        if self.if_exists == IfExists.REPLACE:
            return  # replaced when the new object is completed
        if self.format == "parquet":
            raise ValueError(f"{self.path}: if_exists 'append' to an existing Parquet object is not supported")
        self._header_written = True
        if size >= MIN_PART_SIZE:
            self._start_upload()
            assert self._upload_id is not None
            response = self.client.upload_part_copy(
                Bucket=self.location.bucket,
                Key=self.location.key,
                UploadId=self._upload_id,
                PartNumber=1,
                CopySource={"Bucket": self.location.bucket, "Key": self.location.key},
            )
            self._parts.append({"PartNumber": 1, "ETag": response["CopyPartResult"]["ETag"]})
            last = self.client.get_object(
                Bucket=self.location.bucket, Key=self.location.key, Range=f"bytes={size - 1}-{size - 1}"
            )["Body"].read()
            if not self.gzip and last != b"\n":
                self._buffer.extend(b"\n")
            return
        if size:
            existing = self.client.get_object(Bucket=self.location.bucket, Key=self.location.key)["Body"].read()
            if not self.gzip and not existing.endswith(b"\n"):
                existing += b"\n"
            self._buffer.extend(existing)

    # -- batches ----------------------------------------------------------------------------------

    def write_batch(self, frame: pd.DataFrame) -> int:
        """Add one batch; returns its row count. On failure the table is as it was before the batch."""
        if self._closed:
            raise ValueError(f"{self.path}: writer is closed")
        if self.batches_written == 0 and not self._header_written and self._upload_id is None:
            self._prepare()
        if self.format == "parquet":
            self._write_parquet(frame)
        else:
            self._write_csv(frame)
        self.batches_written += 1
        self.rows_written += len(frame)
        return len(frame)

    def _write_csv(self, frame: pd.DataFrame) -> None:
        data = frame.to_csv(index=False, header=not self._header_written, lineterminator="\n").encode("utf-8")
        if self.gzip:
            data = gzip.compress(data, compresslevel=6)
        mark = len(self._buffer)
        self._buffer.extend(data)
        try:
            if len(self._buffer) >= self.part_size:
                self._flush_part()
        except Exception:
            del self._buffer[mark:]
            raise
        self._header_written = True

    def _start_upload(self) -> None:
        if self._upload_id is None:
            response = self.client.create_multipart_upload(Bucket=self.location.bucket, Key=self.location.key)
            self._upload_id = response["UploadId"]

    def _flush_part(self) -> None:
        self._start_upload()
        number = len(self._parts) + 1
        response = self.client.upload_part(
            Bucket=self.location.bucket,
            Key=self.location.key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=bytes(self._buffer),
        )
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})
        self._buffer.clear()

    def _write_parquet(self, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._parquet_writer is None:
            handle, self._temp_path = tempfile.mkstemp(suffix=".parquet", prefix="hazy-s3-", dir=self.temp_dir)
            os.close(handle)
            self._parquet_writer = pq.ParquetWriter(self._temp_path, table.schema)
        elif table.schema != self._parquet_writer.schema:
            table = table.cast(self._parquet_writer.schema)
        self._parquet_writer.write_table(table)

    # -- finish -----------------------------------------------------------------------------------

    def close(self) -> None:
        """Make the table visible at its key (nothing is written when no batch was)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.format == "parquet":
                self._close_parquet()
            else:
                self._close_csv()
        except Exception:
            self.abort()
            raise
        log.info("wrote %s rows in %s batches to %s", self.rows_written, self.batches_written, self.path)

    def _close_csv(self) -> None:
        if self._upload_id is None:
            if self.batches_written:
                self.client.put_object(Bucket=self.location.bucket, Key=self.location.key, Body=bytes(self._buffer))
            return
        if self._buffer or not self._parts:
            self._flush_part()
        self.client.complete_multipart_upload(
            Bucket=self.location.bucket,
            Key=self.location.key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        )
        self._upload_id = None

    def _close_parquet(self) -> None:
        if self._parquet_writer is None:
            return
        self._parquet_writer.close()
        self._parquet_writer = None
        try:
            self.client.upload_file(self._temp_path, self.location.bucket, self.location.key)
        finally:
            self._remove_temp()

    def _remove_temp(self) -> None:
        if self._temp_path and os.path.exists(self._temp_path):
            os.unlink(self._temp_path)
        self._temp_path = None

    def abort(self) -> None:
        """Drop everything written so far (the key is left as it was)."""
        self._closed = True
        self._buffer.clear()
        if self._upload_id is not None:
            try:
                self.client.abort_multipart_upload(
                    Bucket=self.location.bucket, Key=self.location.key, UploadId=self._upload_id
                )
            except Exception:  # noqa: BLE001 - best effort; S3 lifecycle rules clean up the rest
                log.warning("could not abort the multipart upload to %s", self.path)
            self._upload_id = None
        if self._parquet_writer is not None:
            self._parquet_writer.close()
            self._parquet_writer = None
        self._remove_temp()

    def __enter__(self) -> S3TableWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
