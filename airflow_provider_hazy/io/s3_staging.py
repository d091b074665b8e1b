"""Write-audit-publish for S3 outputs (docs/publish.md): staging prefixes, cleaning and publishing by copy.

A run writes an S3 output `s3://bucket/dir/t.csv` under a staging prefix of its own, named as a file
target's staging folder (`io.staging.staged_folder_name`): `s3://bucket/dir/.hzs_<run id>_t.csv/t.csv`
(a mapped run: `.hzm_<run id>_t.csv/t/part-00000.csv`, ...). The prefix also holds a marker object
`_hazy_run` (the run id), written before the first batch, so that a staging exists (and can be found and
cleaned) even when no object of it was completed.

S3 has no rename: `publish_s3` copies each staged object onto its target key (a server-side copy, multipart
for large objects), then deletes what the new output replaces (parts of an earlier mapped run, or the
single object an earlier unmapped run wrote where parts now go) and finally the staging prefix. What a
reader sees:

- a single object is replaced atomically: a GET returns the whole previous object or the whole new one;
- a mapped run's parts are copied one by one: a reader listing the parts during the publish can see some
  new parts beside old ones (and old parts with higher numbers until they are deleted);
- `append` to an existing CSV object builds the appended object in one multipart upload onto the target
  key (the existing object copied server-side, then the staged rows without their header), completed in
  one step: readers see the old or the appended object.

A run killed or failing before its publish leaves every target object untouched; its staging prefix
(completed objects, incomplete multipart uploads, the marker) stays until the next run on the same target
removes it (`clean_stale_s3`). A run killed during the publish can leave a mapped output with part of the
new parts copied; its staging is still complete and the next run cleans it and writes its own output.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
from typing import Any, Callable, List, Optional

from .s3 import DEFAULT_PART_SIZE, MIN_PART_SIZE, S3Path, object_size, parse_s3_path
from .staging import staged_folder_name, staged_folder_pattern

log = logging.getLogger(__name__)
MARKER = "_hazy_run"


def staged_s3_path(path: str, run_id: str, kind: str) -> str:
    """The staged path of the S3 output `path` for run `run_id` (`kind`: 'hzs' or 'hzm')."""
    head, _, name = path.rpartition("/")
    return f"{head}/{staged_folder_name(name, run_id, kind)}/{name}"


def _prefix(staged_path: str) -> S3Path:
    """The staging prefix (ending in '/') of a staged path."""
    where = parse_s3_path(staged_path)
    return S3Path(where.bucket, where.key.rpartition("/")[0] + "/")


def _parts_prefix(key: str) -> str:
    """`dir/t.csv` -> `dir/t/part-` (as `locations.part_path`)."""
    head, _, name = key.rpartition("/")
    stem = name.partition(".")[0]
    return f"{head}/{stem}/part-" if head else f"{stem}/part-"


def _keys(client: Any, bucket: str, prefix: str) -> List[str]:
    keys: List[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return sorted(keys)


def _delete(client: Any, bucket: str, keys: List[str]) -> None:
    for start in range(0, len(keys), 1000):
        chunk = keys[start : start + 1000]
        client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in chunk], "Quiet": True})


def _remove_prefix(client: Any, bucket: str, prefix: str) -> None:
    """Delete every object under `prefix` and abort its incomplete multipart uploads."""
    _delete(client, bucket, _keys(client, bucket, prefix))
    for upload in client.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", []):
        client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])


def start_staging(client: Any, staged_path: str, run_id: str) -> None:
    """Write the staging's marker object (before the first batch)."""
    prefix = _prefix(staged_path)
    body = json.dumps({"run_id": run_id}).encode("utf-8")
    client.put_object(Bucket=prefix.bucket, Key=prefix.key + MARKER, Body=body)


def staging_exists(client: Any, staged_path: str) -> bool:
    """Whether the staging of `staged_path` was started (its marker exists)."""
    prefix = _prefix(staged_path)
    return object_size(client, S3Path(prefix.bucket, prefix.key + MARKER)) is not None


def discard_s3(client: Any, staged_path: str) -> None:
    """Drop a run's staging prefix (objects and incomplete uploads)."""
    prefix = _prefix(staged_path)
    _remove_prefix(client, prefix.bucket, prefix.key)


def clean_stale_s3(client: Any, target_path: str, stale: Callable[[re.Match], bool]) -> List[str]:
    """Remove the staging prefixes of `target_path` that `stale` says earlier runs left; returns them."""
    target = parse_s3_path(target_path)
    head, _, name = target.key.rpartition("/")
    base = f"{head}/" if head else ""
    pattern = staged_folder_pattern(name)
    folders = set()
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=target.bucket, Prefix=base + ".hz", Delimiter="/"
    ):
        folders |= {item["Prefix"][len(base) :].rstrip("/") for item in page.get("CommonPrefixes", [])}
    uploads = client.list_multipart_uploads(Bucket=target.bucket, Prefix=base + ".hz").get("Uploads", [])
    folders |= {upload["Key"][len(base) :].split("/", 1)[0] for upload in uploads}
    removed: List[str] = []
    for folder in sorted(folders):
        match = pattern.match(folder)
        if match and stale(match):
            _remove_prefix(client, target.bucket, f"{base}{folder}/")
            removed.append(f"s3://{target.bucket}/{base}{folder}/")
    return removed


def target_exists(client: Any, target_path: str) -> Optional[str]:
    """What exists at an S3 output: its path, 'N part(s) under ...', or None."""
    target = parse_s3_path(target_path)
    if object_size(client, target) is not None:
        return target_path
    parts = _keys(client, target.bucket, _parts_prefix(target.key))
    if parts:
        return f"{len(parts)} part(s) under s3://{target.bucket}/{_parts_prefix(target.key)}"
    return None


def _copy(client: Any, bucket: str, source_key: str, key: str) -> None:
    client.copy({"Bucket": bucket, "Key": source_key}, bucket, key)  # managed: multipart when large


def publish_s3(client: Any, staged_path: str, target_path: str, append: bool) -> str:
    """Copy a run's staged object (or parts) onto the target, remove what it replaces, drop the staging;
    returns 'replaced', 'created' or 'appended'."""
    staged, target = parse_s3_path(staged_path), parse_s3_path(target_path)
    if staged.bucket != target.bucket:  # never: the staging is beside the target
        raise ValueError(f"{staged_path}: staging outside the bucket of {target_path}")
    bucket = target.bucket
    prefix = _prefix(staged_path).key
    staged_keys = [key for key in _keys(client, bucket, prefix) if key != prefix + MARKER]
    target_parts_prefix, staged_parts_prefix = _parts_prefix(target.key), _parts_prefix(staged.key)
    old_parts = _keys(client, bucket, target_parts_prefix)
    whole = object_size(client, target) is not None
    existed = whole or bool(old_parts)
    if staged.key in staged_keys:
        if append and whole:
            _append_object(client, target, staged)
        else:
            _copy(client, bucket, staged.key, target.key)
            if old_parts and not append:
                _delete(client, bucket, old_parts)
    else:
        new_parts = [key for key in staged_keys if key.startswith(staged_parts_prefix)]
        names = {key[len(staged_parts_prefix) :] for key in new_parts}
        for key in new_parts:
            _copy(client, bucket, key, target_parts_prefix + key[len(staged_parts_prefix) :])
        if not append:
            _delete(client, bucket, [key for key in old_parts if key[len(target_parts_prefix) :] not in names])
            if whole:
                _delete(client, bucket, [target.key])
    _remove_prefix(client, bucket, prefix)
    if append and existed:
        return "appended"
    return "replaced" if existed else "created"


def _append_object(client: Any, target: S3Path, staged: S3Path) -> None:
    """Replace the CSV object `target` by itself followed by the rows of `staged` (its header dropped), in
    one multipart upload: the existing object copied server-side when it is large enough to be a part."""
    gz = target.key.lower().endswith(".gz")
    size = object_size(client, target) or 0
    upload_id = client.create_multipart_upload(Bucket=target.bucket, Key=target.key)["UploadId"]
    parts: List[dict] = []
    buffer = bytearray()

    def flush() -> None:
        number = len(parts) + 1
        response = client.upload_part(
            Bucket=target.bucket, Key=target.key, UploadId=upload_id, PartNumber=number, Body=bytes(buffer)
        )
        parts.append({"PartNumber": number, "ETag": response["ETag"]})
        buffer.clear()

    try:
        if size >= MIN_PART_SIZE:
            response = client.upload_part_copy(
                Bucket=target.bucket,
                Key=target.key,
                UploadId=upload_id,
                PartNumber=1,
                CopySource={"Bucket": target.bucket, "Key": target.key},
            )
            parts.append({"PartNumber": 1, "ETag": response["CopyPartResult"]["ETag"]})
            last = client.get_object(Bucket=target.bucket, Key=target.key, Range=f"bytes={size - 1}-{size - 1}")
            if not gz and last["Body"].read() != b"\n":
                buffer.extend(b"\n")
        elif size:
            existing = client.get_object(Bucket=target.bucket, Key=target.key)["Body"].read()
            buffer.extend(existing if gz or existing.endswith(b"\n") else existing + b"\n")
        body = client.get_object(Bucket=staged.bucket, Key=staged.key)["Body"]
        stream: Any = gzip.GzipFile(fileobj=body, mode="rb") if gz else body
        header_done = False
        while True:
            chunk = stream.read(DEFAULT_PART_SIZE)
            if not chunk:
                break
            if not header_done:
                end = chunk.find(b"\n")
                while end < 0:  # a header longer than a chunk
                    more = stream.read(DEFAULT_PART_SIZE)
                    if not more:
                        break
                    chunk += more
                    end = chunk.find(b"\n")
                chunk = chunk[end + 1 :] if end >= 0 else b""
                header_done = True
            if chunk:
                buffer.extend(gzip.compress(chunk, compresslevel=6) if gz else chunk)
            if len(buffer) >= MIN_PART_SIZE:
                flush()
        if buffer or not parts:
            flush()
        client.complete_multipart_upload(
            Bucket=target.bucket, Key=target.key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except BaseException:
        client.abort_multipart_upload(Bucket=target.bucket, Key=target.key, UploadId=upload_id)
        raise
