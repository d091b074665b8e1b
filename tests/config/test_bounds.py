"""Upper bounds on the settings that size a model, with messages that say why; the reference defaults and
field order are untouched (tests/config/test_defaults.py)."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from airflow_provider_hazy.cli import main
from airflow_provider_hazy.config import IndependentConfig, PrivBayesConfig, TrainingConfig
from airflow_provider_hazy.config.bounds import MAX_CAT, MAX_EPSILON, MAX_N_BINS
from airflow_provider_hazy.config.schema import CategoryColumn, FloatColumn, IntegerColumn


@pytest.mark.parametrize(
    ("make", "field", "reason"),
    [
        (lambda: PrivBayesConfig(n_bins=10**8), "n_bins", "finer bins add noise, not detail"),
        (lambda: PrivBayesConfig(max_cat=10**6), "max_cat", "too rare to stand out of the noise"),
        (lambda: PrivBayesConfig(epsilon=1e308), "epsilon", "no meaningful privacy"),
        (lambda: IndependentConfig(epsilon=1e7), "epsilon", "no meaningful privacy"),
        (lambda: PrivBayesConfig(processing_epsilon=1e308), "processing_epsilon", "no meaningful privacy"),
        (lambda: FloatColumn(name="x", n_bins=MAX_N_BINS + 1), "n_bins", "count tables grow"),
        (lambda: IntegerColumn(name="x", n_bins=10**8), "n_bins", "count tables grow"),
        (lambda: CategoryColumn(name="x", max_cat=MAX_CAT + 1), "max_cat", "count tables grow"),
    ],
)
def test_values_above_the_bound_are_refused_saying_why(make, field, reason):
    with pytest.raises(ValidationError) as caught:
        make()
    [error] = caught.value.errors()
    assert error["loc"] == (field,)
    assert reason in error["msg"]


def test_the_bounds_themselves_are_accepted():
    config = PrivBayesConfig(n_bins=MAX_N_BINS, max_cat=MAX_CAT, epsilon=MAX_EPSILON, processing_epsilon=MAX_EPSILON)
    assert (config.n_bins, config.max_cat, config.epsilon) == (MAX_N_BINS, MAX_CAT, MAX_EPSILON)


def test_a_yaml_float_1e8_for_n_bins_is_refused_by_the_cli_in_one_line(tmp_path, capsys):
    path = tmp_path / "training.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "data_schema": {"tables": [{"name": "t", "columns": [{"name": "x", "type": "float"}]}]},
                "data_input": [{"name": "t", "location": "t.csv"}],
                "model_parameters": {"generator": {"n_bins": 1e8, "epsilon": 1e308}},
            }
        )
    )
    assert main(["train", str(path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        "hazy train: invalid configuration: model_parameters.generator.priv_bayes.n_bins: n_bins 100000000 is more "
        "than 10000: every bin's count gets its own noise, so finer bins add noise, not detail, and the count "
        "tables grow with n_bins ** (n_parents + 1)",
        "hazy train: invalid configuration: model_parameters.generator.priv_bayes.epsilon: epsilon 1e+308 is more "
        "than 1e+06: its noise (scale 1/epsilon) would be far below one count, so the model would hold the data's "
        "exact counts with no meaningful privacy, and the mechanisms' arithmetic overflows beyond it",
    ]


def test_defaults_are_the_reference_defaults():
    generator = TrainingConfig.model_fields["model_parameters"].default_factory().generator
    assert (generator.n_bins, generator.max_cat, generator.epsilon) == (100, 100, 1000.0)
