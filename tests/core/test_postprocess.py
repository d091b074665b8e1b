"""Steps between sampling and writing: string limits, unique violations, user post-generation steps."""

import pandas as pd
import pytest

from airflow_provider_hazy.config import CastColumn, ClipColumn, DropColumns, RenameColumns, SqlExpression
from airflow_provider_hazy.core.postprocess import (
    apply_post_generation,
    drop_unique_violations,
    limit_string_lengths,
)


def test_limit_string_lengths_cuts_only_strings_longer_than_the_limit():
    frame = pd.DataFrame({"name": ["abcdef", "ab", None], "n": [1, 2, 3]})
    result = limit_string_lengths(frame, {"name": 3})
    assert result["name"].tolist()[:2] == ["abc", "ab"]
    assert pd.isna(result["name"].iloc[2])
    assert result["n"].tolist() == [1, 2, 3]


def test_drop_unique_violations_keeps_first_occurrence_and_nulls():
    frame = pd.DataFrame({"email": ["a", "b", "a", None, None], "x": [1, 2, 3, 4, 5]})
    result = drop_unique_violations(frame, ["email"])
    assert result["x"].tolist() == [1, 2, 4, 5]


def test_post_generation_steps_run_in_order():
    frame = pd.DataFrame({"a": [1.0, 5.0, 9.0], "b": ["x", "y", "z"], "c": [1, 2, 3]})
    steps = [
        ClipColumn(column="a", lower=2, upper=8),
        SqlExpression(column="d", expression="a * 10 + c"),
        CastColumn(column="a", dtype="int"),
        DropColumns(columns=["c"]),
        RenameColumns(mapping={"b": "label"}),
    ]
    result = apply_post_generation(frame, "t", steps)
    assert list(result.columns) == ["a", "label", "d"]
    assert result["a"].tolist() == [2, 5, 8]
    assert result["d"].tolist() == [21, 52, 83]


def test_post_generation_names_table_and_column_of_an_unknown_column():
    frame = pd.DataFrame({"a": [1]})
    with pytest.raises(ValueError, match="table 'orders', clip: unknown column 'amount'"):
        apply_post_generation(frame, "orders", [ClipColumn(column="amount", lower=0)])


def test_a_bad_sql_expression_names_table_and_column():
    frame = pd.DataFrame({"a": [1]})
    with pytest.raises(ValueError, match="table 'orders', sql_expression for column 'b'"):
        apply_post_generation(frame, "orders", [SqlExpression(column="b", expression="nosuchcol + 1")])
