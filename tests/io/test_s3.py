"""S3 tables through boto3 against a moto server: CSV, CSV.gz and Parquet round trips, chunks, batches."""

import gzip

import numpy as np
import pandas as pd
import pytest

from airflow_provider_hazy.config import IfExists
from airflow_provider_hazy.io.s3 import (
    MIN_PART_SIZE,
    S3TableWriter,
    count_s3_rows,
    parse_s3_path,
    read_s3_table,
    read_s3_table_chunks,
    s3_client_from_url,
    s3_source_url,
)

FORMATS = ["t.csv", "t.csv.gz", "t.parquet"]


def frame(start: int = 0, rows: int = 5) -> pd.DataFrame:
    ids = np.arange(start, start + rows)
    return pd.DataFrame(
        {
            "id": ids,
            "x": ids * 0.25,
            "name": [f'Zoë, "{i}"\nnext' if i % 2 else None for i in ids],
            "flag": ids % 3 == 0,
        }
    )


def test_s3_paths_parse_into_bucket_and_key():
    location = parse_s3_path("s3://bucket/a/b/t.csv.gz")
    assert (location.bucket, location.key) == ("bucket", "a/b/t.csv.gz")
    with pytest.raises(ValueError, match="not an S3 object path"):
        parse_s3_path("s3://bucket-only")


@pytest.mark.parametrize("key", FORMATS)
def test_batches_round_trip(s3_client, s3_bucket, key):
    path = f"s3://{s3_bucket}/dir/{key}"
    with S3TableWriter(s3_client, path) as writer:
        writer.write_batch(frame(0))
        writer.write_batch(frame(5))
    back = read_s3_table(s3_client, path)
    pd.testing.assert_frame_equal(back, pd.concat([frame(0), frame(5)], ignore_index=True), check_dtype=False)


@pytest.mark.parametrize("key", FORMATS)
def test_rows_are_counted_without_reading_the_table(s3_client, s3_bucket, key):
    path = f"s3://{s3_bucket}/count/{key}"
    with S3TableWriter(s3_client, path) as writer:  # quoted newlines inside values, nulls, several batches
        for start in range(0, 1_500, 500):
            writer.write_batch(frame(start, 500))
    assert count_s3_rows(s3_client, path) == 1_500 == len(read_s3_table(s3_client, path))
    with pytest.raises(FileNotFoundError, match="no such S3 object"):
        count_s3_rows(s3_client, f"s3://{s3_bucket}/count/missing.csv")


@pytest.mark.parametrize("key", FORMATS)
def test_reads_come_in_chunks_and_honour_nrows(s3_client, s3_bucket, key):
    path = f"s3://{s3_bucket}/{key}"
    with S3TableWriter(s3_client, path) as writer:
        for start in range(0, 2_500, 500):
            writer.write_batch(frame(start, 500))
    assert [len(c) for c in read_s3_table_chunks(s3_client, path, chunk_size=1_000)] == [1_000, 1_000, 500]
    chunks = list(read_s3_table_chunks(s3_client, path, chunk_size=400, nrows=1_000))
    assert [len(c) for c in chunks] == [400, 400, 200]
    assert pd.concat(chunks)["id"].tolist() == list(range(1_000))


def test_csv_gz_is_gzip(s3_client, s3_bucket):
    path = f"s3://{s3_bucket}/t.csv.gz"
    with S3TableWriter(s3_client, path) as writer:
        writer.write_batch(frame(0))
        writer.write_batch(frame(5))
    body = s3_client.get_object(Bucket=s3_bucket, Key="t.csv.gz")["Body"].read()
    text = gzip.decompress(body).decode("utf-8")
    assert text.startswith("id,x,name,flag\n") and text.count("id,x,name,flag") == 1


def test_nothing_is_visible_before_close(s3_client, s3_bucket):
    writer = S3TableWriter(s3_client, f"s3://{s3_bucket}/t.csv")
    writer.write_batch(frame())
    assert s3_client.list_objects_v2(Bucket=s3_bucket).get("KeyCount", 0) == 0
    writer.close()
    assert s3_client.list_objects_v2(Bucket=s3_bucket)["KeyCount"] == 1


def test_a_large_csv_goes_up_in_parts(s3_client, s3_bucket):
    path = f"s3://{s3_bucket}/big.csv"
    rows = 120_000  # ~ 6 MiB per batch of text
    big = pd.DataFrame({"id": np.arange(rows), "text": ["a fairly long text value " * 2] * rows})
    with S3TableWriter(s3_client, path, part_size=MIN_PART_SIZE) as writer:
        writer.write_batch(big)
        writer.write_batch(big)
        assert len(writer._parts) >= 2
    assert len(read_s3_table(s3_client, path)) == 2 * rows


def test_a_failing_batch_leaves_the_earlier_ones(s3_client, s3_bucket):
    path = f"s3://{s3_bucket}/t.parquet"
    with S3TableWriter(s3_client, path) as writer:
        writer.write_batch(frame(0))
        with pytest.raises(Exception):  # noqa: B017 - any Arrow conversion error
            writer.write_batch(pd.DataFrame({"id": ["not an int"], "x": [1.0], "name": ["a"], "flag": [True]}))
        writer.write_batch(frame(5))
    assert read_s3_table(s3_client, path)["id"].tolist() == list(range(10))


def test_if_exists_fail_refuses_an_existing_object(s3_client, s3_bucket):
    path = f"s3://{s3_bucket}/t.csv"
    with S3TableWriter(s3_client, path) as writer:
        writer.write_batch(frame())
    with pytest.raises(FileExistsError, match="already exists and if_exists is 'fail'"):
        S3TableWriter(s3_client, path).write_batch(frame())


@pytest.mark.parametrize("key", ["t.csv", "t.csv.gz"])
def test_if_exists_replace_and_append(s3_client, s3_bucket, key):
    path = f"s3://{s3_bucket}/{key}"
    with S3TableWriter(s3_client, path) as writer:
        writer.write_batch(frame(0))
    with S3TableWriter(s3_client, path, IfExists.REPLACE) as writer:
        writer.write_batch(frame(100, 2))
    assert read_s3_table(s3_client, path)["id"].tolist() == [100, 101]
    with S3TableWriter(s3_client, path, IfExists.APPEND) as writer:
        writer.write_batch(frame(200, 2))
    assert read_s3_table(s3_client, path)["id"].tolist() == [100, 101, 200, 201]


def test_appending_to_parquet_is_refused(s3_client, s3_bucket):
    path = f"s3://{s3_bucket}/t.parquet"
    with S3TableWriter(s3_client, path) as writer:
        writer.write_batch(frame())
    with pytest.raises(ValueError, match="append"):
        S3TableWriter(s3_client, path, IfExists.APPEND).write_batch(frame())


def test_a_missing_object_is_named(s3_client, s3_bucket):
    with pytest.raises(FileNotFoundError, match=f"s3://{s3_bucket}/none.csv: no such S3 object"):
        read_s3_table_chunks(s3_client, f"s3://{s3_bucket}/none.csv")


def test_credentials_come_from_the_standard_environment_variables(monkeypatch, s3_endpoint, s3_client, s3_bucket):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-env")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-env-secret")
    client = s3_client_from_url(s3_endpoint)
    credentials = client._request_signer._credentials
    assert credentials.access_key == "from-env"
    client.put_object(Bucket=s3_bucket, Key="k.csv", Body=b"a\n1\n")
    assert read_s3_table(client, f"s3://{s3_bucket}/k.csv")["a"].tolist() == [1]


def test_userinfo_credentials_win(s3_url, s3_credentials, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-env")
    credentials = s3_client_from_url(s3_url)._request_signer._credentials
    assert (credentials.access_key, credentials.secret_key) == s3_credentials


def test_source_urls_round_trip_through_the_client_builder(s3_endpoint):
    url = s3_source_url(endpoint_url=s3_endpoint, access_key="AK/1", secret_key="se+cr/et", region_name="eu-west-2")
    client = s3_client_from_url(url)
    credentials = client._request_signer._credentials
    assert (credentials.access_key, credentials.secret_key) == ("AK/1", "se+cr/et")
    assert client.meta.region_name == "eu-west-2"
    assert client.meta.endpoint_url == s3_endpoint
    assert s3_client_from_url(s3_source_url(region_name="eu-west-1")).meta.endpoint_url.startswith("https://s3.")
