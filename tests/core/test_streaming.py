"""Streaming training: a table read in chunks gives the model of one in-memory read, in bounded memory."""

from __future__ import annotations

import json
import re
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from airflow_provider_hazy import api
from airflow_provider_hazy.config import TrainingConfig
from airflow_provider_hazy.config.model_parameters import PrivBayesConfig
from airflow_provider_hazy.core import privbayes, streaming
from airflow_provider_hazy.core.bin_rules import MIN_BINS
from airflow_provider_hazy.core.encoding import fit_table_encoding, prepare_frame
from airflow_provider_hazy.core.noise import ReproducibleNoise
from airflow_provider_hazy.core.privacy import BudgetLedger
from airflow_provider_hazy.core.privbayes_streaming import fit_from_chunks
from airflow_provider_hazy.core.streaming import fit_table_encoding_from_chunks

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"



def _ledger() -> BudgetLedger:
    """A ledger with the test-only reproducible noise: the comparisons below are byte for byte."""
    return BudgetLedger(noise=ReproducibleNoise(0))

def _config(tmp_path: Path, **generator) -> TrainingConfig:
    config = TrainingConfig.from_file(EXAMPLES / "training.yaml")
    data = config.model_dump(mode="json", exclude_none=True)
    data["model_output"] = str(tmp_path / "model.hmf")
    data["data_input"][0]["location"] = str(EXAMPLES / "customers.csv")
    data["model_parameters"]["generator"].update(generator)
    return TrainingConfig.model_validate(data)


def _model_bytes(config: TrainingConfig, chunk_rows: int) -> bytes:
    """The model file written by training with this chunk size (always to the same path)."""
    return api.train(config, chunk_rows=chunk_rows).read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize(
    "generator",
    [
        {"network_sample_rows": 1200},
        {"processing_epsilon": 1.0, "bin_strategy_default": "quantile", "split_time": True},
        {"skew_threshold": 0.5, "drop_empty_bins": True, "bin_strategy_default": "quantile"},
    ],
    ids=["sampled-network", "dp-preprocessing", "quantile-empty-bins"],
)
def test_chunked_training_writes_the_bytes_of_one_in_memory_read(tmp_path, generator, reproducible_noise):
    config = _config(tmp_path, **generator)
    whole = _model_bytes(config, 10**9)  # one chunk: the table in memory
    for chunk_rows in (997, 2048):
        assert _model_bytes(config, chunk_rows) == whole


def test_columns_with_many_distinct_values_are_chunk_invariant_too(tmp_path, monkeypatch, reproducible_noise):
    """Past DISTINCT_CAP a column is binned from an exact fine histogram read in another pass."""
    monkeypatch.setattr(streaming, "DISTINCT_CAP", 40)
    config = _config(tmp_path, bin_strategy_default="quantile", skew_threshold=0.5, drop_empty_bins=True)
    whole = _model_bytes(config, 10**9)
    assert _model_bytes(config, 613) == whole
    info = api.inspect_model(tmp_path / "model.hmf")
    income = next(c for c in info["tables"]["customers"]["columns"] if c["name"] == "income")
    assert income["n_bins"] >= MIN_BINS  # quantile bins from the histogram, not one degenerate bin


def _frame_and_table():
    config = TrainingConfig.from_file(EXAMPLES / "training.yaml")
    table = config.data_schema.tables[0]
    return prepare_frame(pd.read_csv(EXAMPLES / "customers.csv"), table), table, config.model_parameters.generator


def _chunks(frame: pd.DataFrame, size: int):
    return lambda: (frame.iloc[i : i + size].reset_index(drop=True) for i in range(0, len(frame), size))


def test_exact_summaries_give_the_in_memory_encoders():
    """Columns with few distinct values: the encoders equal those fit on the whole sorted column."""
    frame, table, generator = _frame_and_table()
    params = PrivBayesConfig.model_validate(
        {**generator.model_dump(), "bin_strategy_default": "quantile", "split_time": True, "drop_empty_bins": True}
    )
    old = fit_table_encoding(
        frame, table, params, processing_epsilon=None, rng=np.random.default_rng(3), ledger=_ledger()
    )
    new, n_rows = fit_table_encoding_from_chunks(
        _chunks(frame, 777), table, params, processing_epsilon=None, rng=np.random.default_rng(3), ledger=_ledger()
    )
    assert n_rows == len(frame)
    assert json.dumps(new.to_json(), sort_keys=True) == json.dumps(old.to_json(), sort_keys=True)
    assert {k: v.tobytes() for k, v in new.arrays().items()} == {k: v.tobytes() for k, v in old.arrays().items()}


def test_private_preprocessing_is_charged_as_in_memory():
    """With processing_epsilon the same mechanisms are charged (same epsilons, sensitivities, scales) and
    they sum to processing_epsilon; noise is added once to the counts of the whole table."""
    frame, table, generator = _frame_and_table()
    params = PrivBayesConfig.model_validate({**generator.model_dump(), "processing_epsilon": 0.8})
    old_ledger, new_ledger = _ledger(), _ledger()
    fit_table_encoding(frame, table, params, processing_epsilon=0.8, rng=np.random.default_rng(0), ledger=old_ledger)
    encoding, _ = fit_table_encoding_from_chunks(
        _chunks(frame, 1500), table, params, processing_epsilon=0.8, rng=np.random.default_rng(0), ledger=new_ledger
    )
    assert encoding.processing_private and encoding.max_string_lengths == {}

    def charges(ledger):
        return sorted(
            # cell and candidate numbers follow the noisy range, so they are left out
            (re.sub(r"\d+", "N", json.dumps(e["detail"])), e["epsilon"], e["sensitivity"], e["scale"])
            for e in ledger.to_dict()["entries"]
        )

    assert charges(new_ledger) == charges(old_ledger)
    assert new_ledger.total_epsilon == pytest.approx(0.8)


def test_fit_from_chunks_equals_fit_on_the_whole_matrix():
    rng = np.random.default_rng(1)
    n = 6000
    codes = np.column_stack([rng.integers(0, 6, n), rng.integers(0, 4, n), rng.integers(0, 9, n)])
    codes[:, 1] = (codes[:, 0] + rng.integers(0, 2, n)) % 4
    sizes = [6, 4, 9]
    hierarchies = [privbayes.ordinal_hierarchy(size) for size in sizes]
    options = dict(epsilon=1.5, network_sample_rows=2500, hierarchies=hierarchies, n_parents=2)
    expected_ledger = _ledger()
    expected = privbayes.fit(codes, sizes, rng=np.random.default_rng(9), ledger=expected_ledger, **options)
    for size in (500, 1777):
        ledger = _ledger()
        chunks = lambda size=size: (codes[i : i + size] for i in range(0, n, size))  # noqa: E731
        model = fit_from_chunks(chunks, n, sizes, rng=np.random.default_rng(9), ledger=ledger, **options)
        assert model == expected
        assert ledger.to_dict() == expected_ledger.to_dict()


def test_a_table_that_changes_between_passes_is_an_error():
    codes = np.zeros((100, 2), dtype=np.int64)
    passes = iter([100, 90])

    def chunks():
        return iter([codes[: next(passes)]])

    with pytest.raises(RuntimeError, match="changed between passes"):
        fit_from_chunks(chunks, 100, [2, 2], epsilon=1.0, rng=np.random.default_rng(0), ledger=_ledger())


def _generated_chunks(n_chunks: int, chunk_rows: int):
    """A table produced chunk by chunk (never held whole): the same chunks on every pass."""

    def chunks():
        for index in range(n_chunks):
            rng = np.random.default_rng(index)
            age = rng.integers(18, 90, chunk_rows)
            yield pd.DataFrame(
                {
                    "segment": np.array(["retail", "business", "public"], dtype=object)[rng.integers(0, 3, chunk_rows)],
                    "age": age,
                    "income": np.round(age * 900 + rng.normal(0, 5000, chunk_rows), -2),
                    "score": rng.normal(600, 80, chunk_rows),
                    "active": rng.random(chunk_rows) < 0.7,
                }
            )

    return chunks


def _peak_training_memory(n_chunks: int, chunk_rows: int) -> int:
    from airflow_provider_hazy.config.schema import TabularTable

    table = TabularTable.model_validate(
        {
            "name": "big",
            "columns": [
                {"name": "segment", "type": "category"},
                {"name": "age", "type": "integer"},
                {"name": "income", "type": "float"},
                {"name": "score", "type": "float"},
                {"name": "active", "type": "bool"},
            ],
        }
    )
    params = PrivBayesConfig(epsilon=1.0, n_bins=20, network_sample_rows=5000, bin_strategy_default="quantile")
    chunks = _generated_chunks(n_chunks, chunk_rows)
    tracemalloc.start()
    try:
        rng, ledger = np.random.default_rng(0), _ledger()
        encoding, n_rows = fit_table_encoding_from_chunks(
            chunks, table, params, processing_epsilon=None, rng=rng, ledger=ledger
        )
        fit_from_chunks(
            lambda: (encoding.encode(frame) for frame in chunks()),
            n_rows,
            encoding.domain_sizes,
            epsilon=1.0,
            network_sample_rows=5000,
            hierarchies=encoding.hierarchies(),
            rng=rng,
            ledger=ledger,
        )
        assert n_rows == n_chunks * chunk_rows
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_peak_memory_depends_on_the_chunk_not_the_table_length():
    chunk_rows = 20_000
    small = _peak_training_memory(15, chunk_rows)  # 300,000 rows
    large = _peak_training_memory(45, chunk_rows)  # 900,000 rows
    table_bytes = 45 * chunk_rows * 5 * 8  # the large table's numbers alone
    assert large < 1.15 * small, (small, large)
    assert large < table_bytes / 3, (large, table_bytes)
