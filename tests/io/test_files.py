"""Local CSV and Parquet tables: format from the extension, batches appended, if_exists honoured."""

import pandas as pd
import pytest

from airflow_provider_hazy.config import IfExists
from airflow_provider_hazy.io.files import FileTableWriter, file_format, read_file_table

FRAME = pd.DataFrame({"id": [1, 2, 3], "name": ["a", "b", None], "x": [0.5, 1.5, 2.5]})


@pytest.mark.parametrize(
    ("name", "kind"), [("t.csv", "csv"), ("T.CSV.GZ", "csv"), ("t.parquet", "parquet"), ("t.pq", "parquet")]
)
def test_format_comes_from_the_extension(name, kind):
    assert file_format(name) == kind


def test_an_unknown_extension_is_named_in_the_error():
    with pytest.raises(ValueError, match="t.xlsx: unknown table file format"):
        file_format("t.xlsx")


@pytest.mark.parametrize("name", ["t.csv", "t.csv.gz", "t.parquet"])
def test_batches_append_to_one_table(tmp_path, name):
    path = tmp_path / name
    with FileTableWriter(path) as writer:
        writer.write_batch(FRAME)
        writer.write_batch(FRAME)
    result = read_file_table(path)
    assert len(result) == 6
    assert result["id"].tolist() == [1, 2, 3, 1, 2, 3]


def test_if_exists_fail_refuses_an_existing_file(tmp_path):
    path = tmp_path / "t.csv"
    FRAME.to_csv(path, index=False)
    with pytest.raises(FileExistsError, match="if_exists is 'fail'"):
        FileTableWriter(path).write_batch(FRAME)


def test_if_exists_replace_overwrites_and_append_adds(tmp_path):
    path = tmp_path / "t.csv"
    FRAME.to_csv(path, index=False)
    FileTableWriter(path, IfExists.REPLACE).write_batch(FRAME.head(1))
    assert len(read_file_table(path)) == 1
    FileTableWriter(path, IfExists.APPEND).write_batch(FRAME)
    assert len(read_file_table(path)) == 4


def test_read_honours_nrows(tmp_path):
    path = tmp_path / "t.parquet"
    with FileTableWriter(path) as writer:
        writer.write_batch(FRAME)
    assert len(read_file_table(path, nrows=2)) == 2
