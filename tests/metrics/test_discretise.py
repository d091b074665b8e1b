"""The shared discretisation: bins fitted on the real column, applied to any other."""

from __future__ import annotations

import numpy as np
import pandas as pd

from airflow_provider_hazy.metrics.discretise import NULL_LABEL, OTHER_LABEL, discretise, fit_column_bins


def test_nulls_get_the_last_bin_of_their_own():
    pair = discretise(pd.Series([1.0, None, 3.0]), pd.Series([None, None, 2.0]), "float")
    assert pair.bins.labels[-1] == NULL_LABEL
    assert pair.real[1] == pair.bins.null_code
    assert list(pair.synthetic[:2]) == [pair.bins.null_code] * 2


def test_categories_unseen_in_the_real_column_fall_into_other():
    pair = discretise(pd.Series(["a", "b", "a"]), pd.Series(["a", "z", None]), "category")
    assert pair.bins.labels == ("a", "b", OTHER_LABEL, NULL_LABEL)
    assert list(pair.synthetic) == [0, 2, 3]


def test_only_the_most_frequent_real_categories_get_a_bin():
    real = pd.Series(["common"] * 10 + ["rare"])
    bins = fit_column_bins(real, "category", max_categories=1)
    assert list(bins.codes(pd.Series(["common", "rare"]))) == [0, 1]  # rare -> other


def test_categories_compare_as_text_when_one_side_is_numeric():
    pair = discretise(pd.Series([1, 2, 2]), pd.Series(["2", "1", "7"]), "category")
    assert list(pair.synthetic) == [0, 1, 2]


def test_few_distinct_numbers_get_one_bin_each():
    pair = discretise(pd.Series([1, 2, 3, 3]), pd.Series([3, 2, 2.6, 99]), "integer")
    assert pair.bins.labels[:3] == ("1", "2", "3")
    assert list(pair.synthetic) == [2, 1, 2, 2]  # 2.6 is nearest 3; 99 falls into the open last bin


def test_quantile_bins_hold_about_equal_shares_of_the_real_column():
    real = pd.Series(np.random.default_rng(0).lognormal(size=10_000))
    bins = fit_column_bins(real, "float", n_bins=20)
    shares = np.bincount(bins.codes(real), minlength=bins.n_codes)[:-1] / len(real)
    assert bins.n_codes == 21
    assert np.allclose(shares, 0.05, atol=0.002)


def test_uniform_bins_are_equal_width():
    real = pd.Series(np.linspace(0.0, 100.0, 1_001))
    bins = fit_column_bins(real, "float", n_bins=4, strategy="uniform")
    assert list(bins.cuts) == [25.0, 50.0, 75.0]


def test_datetime_text_is_binned_like_timestamps_and_bad_text_is_null():
    real = pd.Series(pd.date_range("2020-01-01", periods=100, freq="D"))
    synthetic = pd.Series(["2020-01-01", "2020-04-09", "not a date"])
    pair = discretise(real, synthetic, "date")
    assert pair.synthetic[0] == pair.real[0]
    assert pair.synthetic[1] == pair.real[-1]
    assert pair.synthetic[2] == pair.bins.null_code
