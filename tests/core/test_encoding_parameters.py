"""Discretisation parameters: n_bins, bin strategies, skew_threshold, single_threshold, drop_empty_bins,
max_cat and the other-bucket, split_time and preserve_datetime_range."""

import json

import numpy as np
import pandas as pd
import pytest

from airflow_provider_hazy.config.model_parameters import PrivBayesConfig
from airflow_provider_hazy.config.schema import TabularTable
from airflow_provider_hazy.core.bin_rules import budget_bins
from airflow_provider_hazy.core.domains import MIN_CATEGORY_COUNT
from airflow_provider_hazy.core.encoding import fit_table_encoding
from airflow_provider_hazy.core.privacy import BudgetLedger


def make_table(*columns):
    return TabularTable.model_validate({"name": "people", "columns": list(columns)})


def fit(df, table, **params):
    return fit_table_encoding(
        df,
        table,
        PrivBayesConfig(**params),
        processing_epsilon=None,
        rng=np.random.default_rng(0),
        ledger=BudgetLedger(),
        table_name=table.name,
    )


def bins_of(encoding, column=0):
    """The BinnedDomain of a numeric or datetime encoder."""
    return encoding.encoders[column].domain


@pytest.fixture
def incomes():
    """Right-skewed incomes, 30% of them exactly zero."""
    rng = np.random.default_rng(11)
    values = rng.lognormal(10, 1, 2000)
    values[rng.random(2000) < 0.3] = 0.0
    return pd.DataFrame({"income": values})


INCOME = {"name": "income", "type": "float"}


def test_n_bins_sets_the_number_of_codes():
    df = pd.DataFrame({"age": np.arange(0, 1000)})
    assert fit(df, make_table({"name": "age", "type": "integer"}), n_bins=10).domain_sizes == [10]


def test_a_columns_own_n_bins_overrides_the_generators():
    df = pd.DataFrame({"age": np.arange(0, 1000)})
    table = make_table({"name": "age", "type": "integer", "n_bins": 5})
    assert fit(df, table, n_bins=10).domain_sizes == [5]


def test_uniform_bins_have_equal_widths(incomes):
    # an explicit skew_threshold turns off the engine's quantile bins for skewed columns (bin_rules)
    domain = bins_of(fit(incomes, make_table(INCOME), n_bins=10, skew_threshold=100.0, single_threshold=0.5))
    widths = domain.upper - domain.lower
    assert domain.strategy == "uniform"
    assert np.allclose(widths, widths[0])


def test_quantile_bins_hold_equal_counts(incomes):
    positive = incomes[incomes["income"] > 0]
    encoding = fit(positive, make_table(INCOME), n_bins=10, bin_strategy_default="quantile")
    counts = np.bincount(encoding.encode(positive)[:, 0])
    assert bins_of(encoding).strategy == "quantile"
    assert counts.max() - counts.min() <= 2


def test_a_columns_own_bin_strategy_overrides_the_default(incomes):
    table = make_table({**INCOME, "bin_strategy": "quantile"})
    assert bins_of(fit(incomes, table, bin_strategy_default="uniform")).strategy == "quantile"


def test_skew_threshold_switches_a_skewed_column_to_quantile_bins(incomes):
    assert bins_of(fit(incomes, make_table(INCOME), skew_threshold=1.0)).strategy == "quantile"


def test_skew_threshold_leaves_a_symmetric_column_uniform():
    df = pd.DataFrame({"income": np.random.default_rng(1).normal(0, 1, 2000)})
    assert bins_of(fit(df, make_table(INCOME), skew_threshold=1.0)).strategy == "uniform"


def test_single_threshold_gives_a_frequent_value_a_bin_of_its_own(incomes):
    encoding = fit(incomes, make_table(INCOME), n_bins=10, single_threshold=0.1)
    zero_code = encoding.encode(pd.DataFrame({"income": [0.0]}))[0, 0]
    decoded = encoding.decode(np.full((100, 1), zero_code), np.random.default_rng(0))
    assert (decoded["income"] == 0.0).all()
    positive_code = encoding.encode(pd.DataFrame({"income": [1.0]}))[0, 0]
    assert positive_code != zero_code


def test_without_single_threshold_the_engine_gives_a_frequent_value_its_own_bin(incomes):
    # bin_rules.POINT_SHARE: 30% of the rows are 0, so 0 is a point bin and decodes to exactly 0
    encoding = fit(incomes, make_table(INCOME), n_bins=10)
    codes = encoding.encode(pd.DataFrame({"income": [0.0, 1.0]}))[:, 0]
    assert codes[0] != codes[1]
    decoded = encoding.decode(np.full((1000, 1), codes[0]), np.random.default_rng(0))["income"]
    assert (decoded == 0.0).all()


def test_a_large_single_threshold_keeps_a_frequent_value_in_a_shared_bin(incomes):
    encoding = fit(incomes, make_table(INCOME), n_bins=10, single_threshold=0.5)
    codes = encoding.encode(pd.DataFrame({"income": [0.0, 1.0]}))[:, 0]
    assert codes[0] == codes[1]


def test_single_threshold_on_integers_splits_the_bin_around_the_value():
    df = pd.DataFrame({"children": np.r_[np.zeros(500, dtype=int), np.arange(1, 501)]})
    encoding = fit(df, make_table({"name": "children", "type": "integer"}), n_bins=5, single_threshold=0.2)
    domain = bins_of(encoding)
    assert domain.lower[0] == 0 and domain.upper[0] == 1 and domain.point[0]


def test_drop_empty_bins_removes_bins_no_value_falls_in():
    df = pd.DataFrame({"x": np.r_[np.linspace(0, 0.9, 100), np.linspace(9, 10, 100)]})
    column = {"name": "x", "type": "float", "n_bins": 10}  # a column's own n_bins is used as it is
    kept = fit(df, make_table(column), skew_threshold=100.0, drop_empty_bins=True)
    full = fit(df, make_table(column), skew_threshold=100.0)
    assert full.domain_sizes == [10] and kept.domain_sizes == [2]


def test_decoded_values_avoid_dropped_empty_bins():
    df = pd.DataFrame({"x": np.r_[np.linspace(0, 0.9, 100), np.linspace(9, 10, 100)]})
    column = {"name": "x", "type": "float", "n_bins": 10}
    encoding = fit(df, make_table(column), skew_threshold=100.0, drop_empty_bins=True)
    decoded = encoding.decode(encoding.encode(df), np.random.default_rng(0))["x"]
    assert not ((decoded > 1) & (decoded < 9)).any()


def test_max_cat_keeps_the_most_frequent_categories_and_merges_the_rest():
    df = pd.DataFrame({"city": ["leeds"] * 10 + ["york"] * 8 + ["bath"] * 6 + ["ely"]})
    encoding = fit(df, make_table({"name": "city", "type": "category"}), max_cat=2)
    assert encoding.encoders[0].categories == ["leeds", "york"]
    assert encoding.domain_sizes == [3]
    codes = encoding.encode(df)[:, 0]
    assert set(codes[-7:]) == {2}


def test_a_category_held_by_fewer_than_the_minimum_rows_never_reaches_the_model():
    rare = ["ely"] * (MIN_CATEGORY_COUNT - 1) + ["case-7731"]
    df = pd.DataFrame({"city": ["leeds"] * MIN_CATEGORY_COUNT + ["york"] * 8 + rare})
    encoding = fit(df, make_table({"name": "city", "type": "category"}), max_cat=100)
    assert encoding.encoders[0].categories == ["leeds", "york"]
    assert encoding.encoders[0].other_bucket  # the rare values are merged, not dropped
    assert "case-7731" not in json.dumps(encoding.to_json()) and "ely" not in json.dumps(encoding.to_json())


def test_a_category_column_of_mostly_unique_values_is_warned_about_by_name(caplog):
    df = pd.DataFrame({"case_no": [f"C-{i}" for i in range(300)] + ["C-1"] * 10})
    with caplog.at_level("WARNING"):
        encoding = fit(df, make_table({"name": "case_no", "type": "category"}), max_cat=100)
    assert "column 'case_no'" in caplog.text and "looks like an identifier" in caplog.text
    assert encoding.encoders[0].categories == ["C-1"]


def test_the_other_bucket_decodes_to_the_label_other():
    df = pd.DataFrame({"city": ["leeds"] * 10 + ["york"] * 8 + ["bath"] * 5})
    encoding = fit(df, make_table({"name": "city", "type": "category"}), max_cat=2)
    decoded = encoding.decode(np.array([[2]]), np.random.default_rng(0))
    assert decoded["city"].tolist() == ["other"]


def test_the_other_label_avoids_a_real_category_called_other():
    df = pd.DataFrame({"city": ["other"] * 10 + ["york"] * 8 + ["bath"] * 5})
    encoding = fit(df, make_table({"name": "city", "type": "category"}), max_cat=2)
    assert encoding.decode(np.array([[2]]), np.random.default_rng(0))["city"].tolist() == ["other_"]


def test_the_other_bucket_of_numeric_categories_decodes_to_null():
    df = pd.DataFrame({"grade": [1] * 10 + [2] * 8 + [3] * 5})
    encoding = fit(df, make_table({"name": "grade", "type": "category"}), max_cat=2)
    decoded = encoding.decode(np.array([[0], [2]]), np.random.default_rng(0))["grade"]
    assert decoded.iloc[0] == 1 and pd.isna(decoded.iloc[1])


def test_a_columns_own_max_cat_overrides_the_generators():
    df = pd.DataFrame({"city": list("aabbccd") * MIN_CATEGORY_COUNT})
    encoding = fit(df, make_table({"name": "city", "type": "category", "max_cat": 1}), max_cat=100)
    assert encoding.domain_sizes == [2]


def test_without_merged_categories_there_is_no_other_bucket():
    df = pd.DataFrame({"city": list("aabbc") * MIN_CATEGORY_COUNT})
    assert fit(df, make_table({"name": "city", "type": "category"})).domain_sizes == [3]


def test_dates_are_binned_on_their_day_number():
    df = pd.DataFrame({"day": pd.date_range("2020-01-01", periods=1000, freq="D")})
    encoding = fit(df, make_table({"name": "day", "type": "date"}), n_bins=10)
    assert encoding.domain_sizes == [10]
    decoded = encoding.decode(encoding.encode(df), np.random.default_rng(0))["day"]
    assert (decoded == decoded.dt.normalize()).all()


@pytest.fixture
def stamps():
    """Datetimes whose first and last values fall mid-day."""
    rng = np.random.default_rng(4)
    seconds = rng.integers(1_600_000_000, 1_600_000_000 + 30 * 86400, 1000)
    seconds[0], seconds[1] = 1_600_000_000, 1_600_000_000 + 30 * 86400
    return pd.DataFrame({"at": seconds.astype("datetime64[s]")})


def decode_extreme_days(encoding, n_rows=4000):
    """Decode rows on the first and last date bins with every time-of-day bin."""
    sizes = encoding.domain_sizes
    rng = np.random.default_rng(0)
    codes = np.column_stack([rng.choice([0, sizes[0] - 1], n_rows), rng.integers(0, sizes[1], n_rows)])
    return encoding.decode(codes, rng)["at"]


def test_preserve_datetime_range_keeps_split_datetimes_inside_the_training_range(stamps):
    encoding = fit(stamps, make_table({"name": "at", "type": "datetime"}), split_time=True)
    decoded = decode_extreme_days(encoding)
    assert decoded.min() >= stamps["at"].min() and decoded.max() <= stamps["at"].max()


def test_without_preserve_datetime_range_split_datetimes_may_leave_the_range(stamps):
    table = make_table({"name": "at", "type": "datetime"})
    decoded = decode_extreme_days(fit(stamps, table, split_time=True, preserve_datetime_range=False))
    assert decoded.min() < stamps["at"].min() or decoded.max() > stamps["at"].max()


def test_split_time_bins_the_time_of_day_separately(stamps):
    encoding = fit(stamps, make_table({"name": "at", "type": "datetime"}), split_time=True, n_bins=24)
    # n_bins is the most a column gets: 1,000 rows afford ceil(1000 ** (1/3)) = 10 (bin_rules.budget_bins)
    assert encoding.domain_sizes[1] == min(24, budget_bins(len(stamps), 1000.0, 1)) == 10
    codes = encoding.encode(pd.DataFrame({"at": pd.to_datetime(["2020-09-15 00:30", "2020-10-11 00:40"])}))
    assert codes[0, 1] == codes[1, 1] and codes[0, 0] != codes[1, 0]
