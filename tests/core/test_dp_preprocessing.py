"""processing_epsilon: every preprocessing statistic is a DP release charged to the ledger, summing to the
budget; without it nothing is charged and the encoding says processing_private False."""

import math

import numpy as np
import pandas as pd
import pytest

from airflow_provider_hazy.config.model_parameters import PrivBayesConfig
from airflow_provider_hazy.config.schema import TabularTable
from airflow_provider_hazy.core.dp_preprocessing import split_budget
from airflow_provider_hazy.core.encoding import fit_table_encoding
from airflow_provider_hazy.core.privacy import BudgetLedger


def make_table(*columns, name="accounts"):
    return TabularTable.model_validate({"name": name, "columns": list(columns)})


def fit(df, table, processing_epsilon, ledger=None, seed=0, **params):
    return fit_table_encoding(
        df,
        table,
        PrivBayesConfig(**params),
        processing_epsilon=processing_epsilon,
        rng=np.random.default_rng(seed),
        ledger=ledger if ledger is not None else BudgetLedger(),
        table_name=table.name,
    )


@pytest.fixture
def accounts():
    rng = np.random.default_rng(5)
    n = 20000
    frame = pd.DataFrame(
        {
            "account_id": np.arange(n),
            "holder": ["someone"] * n,
            "branch": rng.choice(["north", "south", "east", "west"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "balance": np.where(rng.random(n) < 0.3, 0.0, rng.lognormal(8, 1, n)),
            "age": rng.integers(18, 95, n),
            "active": rng.random(n) < 0.7,
            "opened": pd.Series(rng.integers(15000, 19000, n).astype("datetime64[D]")).dt.strftime("%Y-%m-%d"),
            "last_seen": rng.integers(1.5e9, 1.7e9, n).astype("datetime64[s]"),
        }
    )
    frame.loc[:99, "branch"] = "a-branch-held-by-one-row-" + pd.Series(range(100)).astype(str)
    table = make_table(
        {"name": "account_id", "type": "id"},
        {"name": "holder", "type": "person"},
        {"name": "branch", "type": "category"},
        {"name": "balance", "type": "float"},
        {"name": "age", "type": "integer"},
        {"name": "active", "type": "bool"},
        {"name": "opened", "type": "date"},
        {"name": "last_seen", "type": "datetime"},
    )
    return frame, table


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"split_time": True},
        {"bin_strategy_default": "quantile", "single_threshold": 0.1, "drop_empty_bins": True},
        {"skew_threshold": 1.0, "split_time": True, "single_threshold": 0.2},
    ],
    ids=["defaults", "split_time", "quantile-single-drop", "skew-split-single"],
)
def test_preprocessing_charges_sum_to_exactly_processing_epsilon(accounts, params):
    df, table = accounts
    ledger = BudgetLedger()
    fit(df, table, processing_epsilon=0.7, ledger=ledger, **params)
    assert ledger.total_for_table("accounts") == pytest.approx(0.7, rel=1e-12, abs=0)


def test_shares_of_a_budget_sum_to_it_exactly():
    assert math.fsum(split_budget(0.7, 13)) == 0.7


def test_with_processing_epsilon_the_encoding_is_processing_private(accounts):
    df, table = accounts
    assert fit(df, table, processing_epsilon=1.0).processing_private is True


def test_without_processing_epsilon_nothing_is_charged_and_it_is_not_private(accounts):
    df, table = accounts
    ledger = BudgetLedger()
    encoding = fit(df, table, processing_epsilon=None, ledger=ledger)
    assert encoding.processing_private is False
    assert ledger.total_epsilon == 0
    assert encoding.to_json()["processing_private"] is False


def test_a_table_without_modelled_columns_spends_nothing():
    table = make_table({"name": "id", "type": "id"}, {"name": "who", "type": "person"})
    ledger = BudgetLedger()
    fit(pd.DataFrame({"id": [1, 2], "who": ["a", "b"]}), table, processing_epsilon=1.0, ledger=ledger)
    assert ledger.total_epsilon == 0


def test_a_large_budget_finds_ranges_close_to_the_true_ones(accounts):
    df, table = accounts
    rows = {row["name"]: row for row in fit(df, table, processing_epsilon=1000.0).describe()}
    low, high = rows["age"]["range"]
    assert 16 <= low <= 20 and 92 <= high <= 96
    first, last = rows["opened"]["range"]
    assert first[:4] == "2011" and last[:4] in ("2021", "2022")


def test_private_category_domains_keep_frequent_categories_and_drop_rare_ones(accounts):
    df, table = accounts
    encoding = fit(df, table, processing_epsilon=2.0)
    branch = next(encoder for encoder in encoding.encoders if encoder.column == "branch")
    assert branch.categories == ["east", "north", "south", "west"]
    assert branch.other_bucket  # always present under DP: whether anything was merged is not released


def test_a_private_null_code_appears_for_a_column_with_many_nulls():
    table = make_table({"name": "score", "type": "float"})
    df = pd.DataFrame({"score": np.where(np.arange(5000) % 2 == 0, np.nan, np.arange(5000.0))})
    assert fit(df, table, processing_epsilon=5.0).null_codes == [0]


def test_a_private_single_value_bin_is_found_for_a_very_frequent_value(accounts):
    df, table = accounts
    encoding = fit(df[["balance"]], make_table({"name": "balance", "type": "float"}), 10.0, single_threshold=0.1)
    zero_code = encoding.encode(pd.DataFrame({"balance": [0.0]}))[0, 0]
    decoded = encoding.decode(np.full((20, 1), zero_code), np.random.default_rng(0))["balance"]
    assert (decoded == 0.0).all()


def test_private_encodings_record_no_non_private_metadata(accounts):
    df, table = accounts
    encoding = fit(df, table, processing_epsilon=1.0)
    assert encoding.max_string_lengths == {}
    assert encoding.unique_columns == ["account_id"]


def test_private_encodings_still_encode_and_decode_every_row(accounts):
    df, table = accounts
    encoding = fit(df, table, processing_epsilon=0.5, split_time=True)
    codes = encoding.encode(df)
    frame = encoding.generate(codes, 0, np.random.default_rng(0))
    assert codes.shape == (len(df), len(encoding.domain_sizes))
    assert (codes < np.array(encoding.domain_sizes)).all()
    assert list(frame.columns) == list(df.columns) and len(frame) == len(df)
