"""The encoded-source cache: a stored entry comes back identical; another schema, location or row count misses."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from airflow_provider_hazy.config.model_parameters import PrivBayesConfig
from airflow_provider_hazy.config.schema import TabularTable
from airflow_provider_hazy.core.encoding import fit_table_encoding, prepare_frame
from airflow_provider_hazy.core.privacy import BudgetLedger
from airflow_provider_hazy.io import source_cache
from airflow_provider_hazy.io.source_cache import cache_key, load_encoded_source, save_encoded_source

TABLE = TabularTable.model_validate(
    {
        "name": "people",
        "columns": [
            {"name": "id", "type": "id"},
            {"name": "age", "type": "integer"},
            {"name": "city", "type": "category"},
        ],
    }
)


def _encoded(n_rows: int = 500):
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {"id": np.arange(n_rows), "age": rng.integers(18, 90, n_rows), "city": rng.choice(["a", "b", "c"], n_rows)}
    )
    frame = prepare_frame(frame, TABLE)
    ledger = BudgetLedger()
    encoding = fit_table_encoding(
        frame, TABLE, PrivBayesConfig(epsilon=1.0), processing_epsilon=0.5, rng=rng, ledger=ledger, table_name="people"
    )
    return frame, encoding, encoding.encode(frame), ledger


def test_saved_entry_comes_back_and_encodes_the_same(tmp_path) -> None:
    frame, encoding, codes, ledger = _encoded()
    assert len(ledger.entries) > 0  # the DP processing spent budget: it must travel with the entry
    key = cache_key(TABLE, "data/people.csv", len(frame), {"processing_epsilon": 0.5})
    assert load_encoded_source(key, tmp_path) is None
    path = save_encoded_source(key, codes, encoding, ledger.entries, cache_dir=tmp_path)
    assert path == tmp_path / key and not list(tmp_path.glob(".tmp-*"))
    assert all(item.suffix in (".npy", ".json") for item in path.iterdir())
    hit = load_encoded_source(key, tmp_path)
    assert hit is not None and hit.n_rows == len(frame)
    np.testing.assert_array_equal(hit.codes, codes)
    np.testing.assert_array_equal(hit.encoding.encode(frame), codes)
    assert hit.encoding.domain_sizes == encoding.domain_sizes
    assert [entry.to_dict() for entry in hit.ledger_entries] == [entry.to_dict() for entry in ledger.entries]
    for array_file in path.glob("*.npy"):
        np.load(array_file, allow_pickle=False)  # plain arrays, no pickle


def test_key_changes_with_schema_location_row_count_and_settings() -> None:
    key = cache_key(TABLE, "data/people.csv", 500)
    assert key == cache_key(TABLE, "data/people.csv", 500)
    other_schema = TABLE.model_copy(update={"columns": TABLE.columns[:2]})
    assert cache_key(other_schema, "data/people.csv", 500) != key
    assert cache_key(TABLE, "source 'db' table 'people'", 500) != key
    assert cache_key(TABLE, "data/people.csv", 501) != key
    assert cache_key(TABLE, "data/people.csv", 500, {"n_bins": 10}) != key


def test_miss_on_changed_row_count_and_on_a_corrupt_entry(tmp_path) -> None:
    frame, encoding, codes, ledger = _encoded()
    key = cache_key(TABLE, "data/people.csv", len(frame))
    save_encoded_source(key, codes, encoding, ledger.entries, cache_dir=tmp_path)
    assert load_encoded_source(cache_key(TABLE, "data/people.csv", len(frame) + 1), tmp_path) is None
    (tmp_path / key / "a0.npy").write_bytes(b"not an array")
    assert load_encoded_source(key, tmp_path) is None
    meta = json.loads((tmp_path / key / "meta.json").read_text())
    meta["format"] = 999
    (tmp_path / key / "meta.json").write_text(json.dumps(meta))
    assert load_encoded_source(key, tmp_path) is None


def test_default_directory_and_bad_input(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HAZY_CACHE_DIR", str(tmp_path / "cache"))
    assert source_cache.default_cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("HAZY_CACHE_DIR")
    assert source_cache.default_cache_dir().parts[-2:] == (".cache", "airflow-provider-hazy")
    frame, encoding, codes, _ = _encoded(50)
    key = cache_key(TABLE, "x", 50)
    with pytest.raises(ValueError, match="table 'people': codes of shape"):
        save_encoded_source(key, codes[:, :1], encoding, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="not a key"):
        load_encoded_source("../etc", tmp_path)


def test_source_fingerprint_counts_rows_without_reading_them(tmp_path, monkeypatch) -> None:
    import sqlite3
    import time

    from airflow_provider_hazy.config import DatabaseReadTableConfig
    from airflow_provider_hazy.io.source_cache import source_fingerprint

    database = tmp_path / "src.db"
    with sqlite3.connect(database) as connection:
        connection.execute('CREATE TABLE "my table" (id INTEGER PRIMARY KEY, x TEXT)')
        connection.executemany('INSERT INTO "my table" VALUES (?, ?)', [(i, str(i)) for i in range(123)])
    monkeypatch.setenv("HAZY_CONN_SRC", f"sqlite:///{database}")
    location = DatabaseReadTableConfig(source_id="src", table_name="my table")
    label, n_rows = source_fingerprint("t", location)
    assert (label, n_rows) == ("source 'src' table 'my table'", 123)
    assert source_fingerprint("t", location, nrows=100)[1] == 100
    with pytest.raises(LookupError, match="table 't': cannot fingerprint.*'nope' does not exist"):
        source_fingerprint("t", DatabaseReadTableConfig(source_id="src", table_name="nope"))

    parquet = tmp_path / "t.parquet"
    pd.DataFrame({"x": range(77)}).to_parquet(parquet)
    label, n_rows = source_fingerprint("t", str(parquet))
    assert n_rows == 77 and str(parquet) in label and "mtime_ns" in label
    csv = tmp_path / "t.csv"
    csv.write_text("x\n1\n2\n", encoding="utf-8")
    first, n_rows = source_fingerprint("t", str(csv))
    assert n_rows is None
    time.sleep(0.01)
    csv.write_text("x\n1\n2\n3\n", encoding="utf-8")
    assert source_fingerprint("t", str(csv))[0] != first  # a rewritten file is another key
    with pytest.raises(OSError, match="table 't'"):
        source_fingerprint("t", str(tmp_path / "missing.csv"))
