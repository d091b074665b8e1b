"""A memory estimate before training refuses a configuration that cannot fit, naming the setting to change;
ordinary configurations pass it."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_hazy import api
from airflow_provider_hazy.config import TrainingConfig
from airflow_provider_hazy.memory_guard import MemoryEstimateError, available_memory, check_training_memory
from airflow_provider_hazy.outcome import EXIT_CONFIG

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def wide_config(n_columns: int, **generator) -> TrainingConfig:
    columns = [{"name": f"c{i}", "type": "float"} for i in range(n_columns)]
    return TrainingConfig.model_validate(
        {
            "data_schema": {"tables": [{"name": "wide", "columns": columns}]},
            "data_input": [{"name": "wide", "location": "does-not-exist.csv"}],
            "model_output": "out/wide.hmf",
            "model_parameters": {"generator": {"generator_type": "priv_bayes", **generator}},
        }
    )


def test_this_machine_reports_its_available_memory():
    assert available_memory() > 100e6


def test_a_table_too_wide_for_memory_is_refused_before_any_data_is_read_naming_n_parents():
    # 20,000 columns at n_parents 3: every column's table reaches the cap of privbayes.MAX_TABLE_CELLS
    # (262,144 cells), ~126 GB in all; the source file does not exist, so the refusal comes before reading
    with pytest.raises(MemoryEstimateError) as caught:
        api.train(wide_config(20_000, n_parents=3))
    message = str(caught.value)
    assert message.startswith("training needs about 125.8 GB of memory, more than the ")
    assert "table 'wide': 20000 modelled columns" in message
    assert message.endswith("set model_parameters.generator.n_parents to 1 or lower (now 3)")
    assert caught.value.exit_code == EXIT_CONFIG


def test_when_no_n_parents_fits_the_message_names_n_bins_and_max_cat():
    with pytest.raises(MemoryEstimateError, match=r"lower model_parameters.generator.n_bins \(now 1000\) or max_cat"):
        check_training_memory(wide_config(50, n_bins=1000, n_parents=2), available=1_000_000)


def test_too_many_rows_name_nrows():
    config = wide_config(10, n_parents=0).model_copy(update={"nrows": 10**9})
    with pytest.raises(MemoryEstimateError, match=r"lower nrows \(now 1000000000\)"):
        check_training_memory(config, available=10**9)


def test_the_example_config_fits():
    check_training_memory(TrainingConfig.from_file(EXAMPLES / "training.yaml"))
