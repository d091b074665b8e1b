"""The part folders of a mapped run, local and on S3 (moto): where a batch's part goes, what the prepare
step does per `if_exists`, and how a generated table is read back (the single file, else its parts)."""

from __future__ import annotations

import pandas as pd
import pytest

from airflow_provider_hazy.config import PathWriteTableConfig
from airflow_provider_hazy.io.locations import (
    list_parts,
    open_writer,
    part_location,
    part_path,
    prepare_parts,
    read_output_table,
)


def test_part_paths_keep_the_extension_and_compression():
    assert part_path("out/t.parquet", 3) == "out/t/part-00003.parquet"
    assert part_path("s3://b/x/t.csv.gz", 12) == "s3://b/x/t/part-00012.csv.gz"
    assert part_path("t.csv", 0) == "t/part-00000.csv"
    location = part_location(PathWriteTableConfig(path="s3://b/t.parquet", source_id="lake", if_exists="fail"), 1)
    assert location.path == "s3://b/t/part-00001.parquet"
    assert (location.source_id, location.if_exists.value) == ("lake", "replace")


def _write_parts(table, location, frames, sources=None):
    for index, frame in enumerate(frames):
        with open_writer(table, part_location(location, index), sources=sources) as writer:
            writer.write_batch(frame)


def _check_parts_lifecycle(location, whole_path_writer, sources=None):
    frames = [pd.DataFrame({"id": [2 * i, 2 * i + 1], "v": ["a", "b"]}) for i in range(3)]
    _write_parts("t", location, frames, sources)
    assert len(list_parts("t", location, sources=sources)) == 3
    union = pd.concat(frames, ignore_index=True)
    pd.testing.assert_frame_equal(read_output_table("t", location, sources=sources), union)

    with pytest.raises(FileExistsError, match="table 't': 3 part"):
        prepare_parts("t", location.model_copy(update={"if_exists": "fail"}), sources=sources)
    assert prepare_parts("t", location.model_copy(update={"if_exists": "append"}), sources=sources) == 0
    whole = pd.DataFrame({"id": [99], "v": ["whole"]})
    whole_path_writer(whole)  # an unmapped run's single file at the same path is read first
    pd.testing.assert_frame_equal(read_output_table("t", location, sources=sources), whole)
    assert prepare_parts("t", location.model_copy(update={"if_exists": "replace"}), sources=sources) == 4
    assert list_parts("t", location, sources=sources) == []
    with pytest.raises(Exception, match="table 't'"):  # nothing left: the missing table is named
        read_output_table("t", location, sources=sources)


def test_local_parts_lifecycle(tmp_path):
    location = PathWriteTableConfig(path=str(tmp_path / "out" / "t.parquet"), if_exists="replace")

    def write_whole(frame):
        frame.to_parquet(tmp_path / "out" / "t.parquet", index=False)

    _check_parts_lifecycle(location, write_whole)


def test_s3_parts_lifecycle(s3_url, s3_bucket, s3_client):
    from airflow_provider_hazy.config import SecretDataSourceIO
    from airflow_provider_hazy.io.sources import DataSources

    sources = DataSources([SecretDataSourceIO(id="lake", connection_url=s3_url)])
    location = PathWriteTableConfig(path=f"s3://{s3_bucket}/out/t.csv", source_id="lake", if_exists="replace")

    def write_whole(frame):
        s3_client.put_object(Bucket=s3_bucket, Key="out/t.csv", Body=frame.to_csv(index=False).encode())

    try:
        _check_parts_lifecycle(location, write_whole, sources)
    finally:
        sources.dispose()
