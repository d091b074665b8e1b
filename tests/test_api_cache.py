"""`model_parameters.multi_table.use_cache`: the prepared source frames kept between training runs.

The source is a real SQLite database of the six-table bank schema (tests/multitable_data.py), read through
`HAZY_CONN_BANK`. A hit is shown by its effect: after an `UPDATE` that keeps every row count (a change the
fingerprint cannot see, as documented), a run on the warm cache gives the same model bytes as before the
update, while a run on an empty cache (which reads the source) does not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import pandas as pd
import pytest
import sqlalchemy as sa
from multitable_data import bank_schema, bank_tables

from airflow_provider_hazy import api
from airflow_provider_hazy.core.dp_preprocessing import PURPOSE as PREPROCESSING
from airflow_provider_hazy.io import source_cache
from airflow_provider_hazy.io.sql import engine_from_url


@pytest.fixture
def bank_db(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "bank.sqlite"
    engine = engine_from_url(f"sqlite:///{path}")
    try:
        for name, frame in bank_tables(n_customers=150).items():
            frame.to_sql(name, engine, index=False)
    finally:
        engine.dispose()
    monkeypatch.setenv("HAZY_CONN_BANK", f"sqlite:///{path}")
    return path


def _config(model: Path, cache: bool = True, epsilon: float = 1000.0, n_parents: int = 2) -> Dict[str, Any]:
    names = [table["name"] for table in bank_schema()["tables"]]
    return {
        "data_schema": bank_schema(),
        "data_sources": [{"id": "bank"}],
        "data_input": [{"name": n, "location": {"source_id": "bank", "table_name": n}} for n in names],
        "model_output": str(model),
        "random_state": 11,
        "model_parameters": {
            "generator": {"epsilon": epsilon, "n_parents": n_parents},
            "multi_table": {"use_cache": cache},
        },
        "evaluation": None,
        "sample_params": None,
    }


def _train(config: Dict[str, Any], cache_dir: Path, monkeypatch) -> bytes:
    """The model bytes of a run; every run writes the same model path (it is in the manifest)."""
    monkeypatch.setenv(source_cache.CACHE_DIR_ENV, str(cache_dir))
    Path(config["model_output"]).unlink(missing_ok=True)
    return Path(api.train(config)).read_bytes()


def _entries(cache_dir: Path) -> int:
    return sum(1 for entry in cache_dir.iterdir() if (entry / "meta.json").is_file()) if cache_dir.exists() else 0


def _execute(db: Path, sql: str) -> None:
    engine = engine_from_url(f"sqlite:///{db}")
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(sql))
    finally:
        engine.dispose()


def test_a_warm_cache_does_not_read_the_source_and_gives_the_same_model(
    bank_db, tmp_path, monkeypatch, reproducible_noise
) -> None:
    cache = tmp_path / "cache"
    first = _train(_config(tmp_path / "model.hmf"), cache, monkeypatch)
    assert _entries(cache) == 1
    _execute(bank_db, "UPDATE customers SET age_band = 'senior'")  # same row counts: same fingerprint
    warm = _train(_config(tmp_path / "model.hmf"), cache, monkeypatch)
    assert warm == first  # the update was not read
    cold = _train(_config(tmp_path / "model.hmf"), tmp_path / "empty-cache", monkeypatch)
    assert cold != first  # reading the source does see the update
    assert _entries(cache) == 1


def test_other_model_parameters_reuse_the_entry_and_match_a_fresh_read(
    bank_db, tmp_path, monkeypatch, reproducible_noise
) -> None:
    cache = tmp_path / "cache"
    _train(_config(tmp_path / "model.hmf"), cache, monkeypatch)
    reused = _train(_config(tmp_path / "model.hmf", epsilon=3.0, n_parents=1), cache, monkeypatch)
    assert _entries(cache) == 1
    model = api.load_model(tmp_path / "model.hmf")
    fresh = _train(_config(tmp_path / "model.hmf", epsilon=3.0, n_parents=1), tmp_path / "other-cache", monkeypatch)
    assert reused == fresh
    subset = _config(tmp_path / "model.hmf")
    subset["database_subsetting_params"] = {"target_table": "customers", "fraction": 0.5}
    _train(subset, cache, monkeypatch)  # subsetting runs on the cached frames
    assert _entries(cache) == 1
    assert api.load_model(tmp_path / "model.hmf").manifest["subset"]["tables"]["customers"]["rows"] == 75
    assert model.total_epsilon == pytest.approx(3.0)  # the ledger of the new run, all of it spent again


def test_a_changed_row_count_or_schema_misses(bank_db, tmp_path, monkeypatch) -> None:
    cache = tmp_path / "cache"
    first = _train(_config(tmp_path / "model.hmf"), cache, monkeypatch)
    _execute(bank_db, "UPDATE customers SET age_band = 'senior'")
    _execute(bank_db, "INSERT INTO customers VALUES ('C-9999999', 1, 'young')")
    grown = _train(_config(tmp_path / "model.hmf"), cache, monkeypatch)
    assert _entries(cache) == 2 and grown != first
    config = _config(tmp_path / "model.hmf")
    config["data_schema"]["tables"][1]["columns"] = config["data_schema"]["tables"][1]["columns"][:2]  # no age_band
    _train(config, cache, monkeypatch)
    assert _entries(cache) == 3


def test_without_use_cache_nothing_is_stored(bank_db, tmp_path, monkeypatch) -> None:
    cache = tmp_path / "cache"
    _train(_config(tmp_path / "model.hmf", cache=False), cache, monkeypatch)
    assert _entries(cache) == 0


def test_frames_round_trip_and_a_corrupt_entry_is_a_miss(tmp_path) -> None:
    frames = {
        "a b": pd.DataFrame({"x": [1, None, 3], "y": ["p", None, "q"]}).astype({"x": "Int64"}),
        "when": pd.DataFrame({"t": pd.to_datetime(["2020-01-01", None])}),
    }
    key = source_cache.cache_key(pd_schema(), "label", 5, {"kind": "test"})
    assert source_cache.load_frames(key, tmp_path) is None
    assert source_cache.save_frames(key, frames, {"n": 5}, tmp_path) is not None
    loaded, meta = source_cache.load_frames(key, tmp_path)
    assert meta == {"n": 5} and list(loaded) == ["a b", "when"]
    for name, frame in frames.items():
        pd.testing.assert_frame_equal(loaded[name], frame)
    (tmp_path / key / "t0.parquet").write_bytes(b"not parquet")
    assert source_cache.load_frames(key, tmp_path) is None


def test_a_frame_parquet_cannot_hold_is_not_cached(tmp_path) -> None:
    key = source_cache.cache_key(pd_schema(), "label", 1)
    mixed = {"t": pd.DataFrame({"v": [1, "text", b"bytes"]})}
    assert source_cache.save_frames(key, mixed, {}, tmp_path) is None
    assert source_cache.load_frames(key, tmp_path) is None
    assert not any(tmp_path.iterdir())


def pd_schema():
    from airflow_provider_hazy.config.schema import DataSchema

    return DataSchema.model_validate(bank_schema())


def test_private_preprocessing_is_charged_again_on_a_warm_cache(
    bank_db, tmp_path, monkeypatch, reproducible_noise
) -> None:
    config = _config(tmp_path / "model.hmf", epsilon=2.0)
    config["model_parameters"]["generator"]["processing_epsilon"] = 0.5
    cache = tmp_path / "cache"
    cold = _train(config, cache, monkeypatch)
    warm = _train(config, cache, monkeypatch)
    assert warm == cold and _entries(cache) == 1
    ledger = api.load_model(tmp_path / "model.hmf").manifest["privacy"]
    assert ledger["total_epsilon"] == pytest.approx(2.5)
    assert sum(e["epsilon"] for e in ledger["ledger"]["entries"] if e["purpose"] == PREPROCESSING) == pytest.approx(0.5)
