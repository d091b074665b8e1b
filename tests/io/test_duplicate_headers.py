"""A CSV header naming a column twice is refused with the name, never renamed silently (pandas' `x.1`)."""

import gzip

import pytest

from airflow_provider_hazy.io.files import read_csv_chunks, read_file_table
from airflow_provider_hazy.schema_infer import infer_schema_from_files


@pytest.fixture
def duplicated(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("id,amount,amount,name,name,name\n1,2,2,a,a,a\n2,3,3,b,b,b\n", encoding="utf-8")
    return path


def test_a_whole_file_read_names_every_duplicated_column(duplicated):
    expected = r"people\.csv: duplicate column names.*'amount' \(2 times\), 'name' \(3 times\)"
    with pytest.raises(ValueError, match=expected):
        read_file_table(duplicated)


def test_a_chunked_read_refuses_the_file_before_any_chunk(duplicated):
    with pytest.raises(ValueError, match="'amount' \\(2 times\\)"):
        next(read_csv_chunks(duplicated, chunk_size=1))


def test_a_stream_is_refused_too(duplicated, tmp_path):
    packed = tmp_path / "people.csv.gz"
    packed.write_bytes(gzip.compress(duplicated.read_bytes()))
    with gzip.open(packed, "rb") as stream, pytest.raises(ValueError, match="CSV stream: duplicate.*'amount'"):
        list(read_csv_chunks(stream, compression=None))


def test_schema_inference_refuses_it_as_well(duplicated):
    with pytest.raises(ValueError, match="duplicate column names"):
        infer_schema_from_files([duplicated])


def test_distinct_names_that_look_renamed_are_read_as_they_are(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("x,x.1\n1,2\n", encoding="utf-8")
    assert list(read_file_table(path).columns) == ["x", "x.1"]
    assert list(next(read_csv_chunks(path)).columns) == ["x", "x.1"]
