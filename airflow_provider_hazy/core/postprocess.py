"""What happens to a generated table between sampling and writing.

`limit_strings` and `drop_unique_violation` use metadata the model recorded at training time;
`post_generation` steps are the user's own, applied in the order given. Errors name the table and column.
"""

from __future__ import annotations

import sqlite3
from typing import Dict, Iterable, Sequence

import pandas as pd

from ..config.sample_params import (
    CastColumn,
    ClipColumn,
    DropColumns,
    PostGenerationStep,
    RenameColumns,
    SqlExpression,
)

_CASTS = {"int": "Int64", "float": "float64", "str": "string", "bool": "boolean"}


def limit_string_lengths(frame: pd.DataFrame, max_lengths: Dict[str, int]) -> pd.DataFrame:
    """Cut string columns to the longest length seen in the training data."""
    frame = frame.copy()
    for column, length in max_lengths.items():
        if column in frame.columns and (frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column])):
            values = frame[column]
            cut = values.str.slice(0, length)
            frame[column] = values.where(cut.isna(), cut)  # non-strings (numbers in an object column) stay
    return frame


def drop_unique_violations(frame: pd.DataFrame, unique_columns: Iterable[str]) -> pd.DataFrame:
    """Drop rows that repeat a value (nulls excepted) of a column that was unique in the training data."""
    keep = pd.Series(True, index=frame.index)
    for column in unique_columns:
        if column in frame.columns:
            values = frame[column]
            keep &= ~(values.duplicated(keep="first") & values.notna())
    return frame[keep].reset_index(drop=True)


def _require(frame: pd.DataFrame, table: str, columns: Sequence[str], action: str) -> None:
    for column in columns:
        if column not in frame.columns:
            raise ValueError(f"post_generation of table '{table}', {action}: unknown column '{column}'")


def _sql_expression(frame: pd.DataFrame, table: str, step: SqlExpression) -> pd.Series:
    connection = sqlite3.connect(":memory:")
    try:
        frame.to_sql("generated", connection, index=False)
        # The expression is the user's own SQL over their generated rows, evaluated in a throwaway
        # in-memory database that holds nothing else.
        query = f"SELECT {step.expression} AS value FROM generated ORDER BY rowid"  # noqa: S608
        result = pd.read_sql_query(query, connection)
    except (sqlite3.Error, pd.errors.DatabaseError) as error:
        raise ValueError(
            f"post_generation of table '{table}', sql_expression for column '{step.column}': {error}"
        ) from error
    finally:
        connection.close()
    return result["value"].set_axis(frame.index)


def apply_post_generation(frame: pd.DataFrame, table: str, steps: Sequence[PostGenerationStep]) -> pd.DataFrame:
    """Apply the configured steps, in order, to one generated table."""
    frame = frame.copy()
    for step in steps:
        if isinstance(step, DropColumns):
            _require(frame, table, step.columns, "drop_columns")
            frame = frame.drop(columns=step.columns)
        elif isinstance(step, RenameColumns):
            _require(frame, table, list(step.mapping), "rename_columns")
            frame = frame.rename(columns=step.mapping)
        elif isinstance(step, ClipColumn):
            _require(frame, table, [step.column], "clip")
            frame[step.column] = pd.to_numeric(frame[step.column]).clip(lower=step.lower, upper=step.upper)
        elif isinstance(step, CastColumn):
            _require(frame, table, [step.column], "cast")
            frame[step.column] = _cast(frame[step.column], step.dtype, table)
        elif isinstance(step, SqlExpression):
            frame[step.column] = _sql_expression(frame, table, step)
    return frame


def _cast(values: pd.Series, dtype: str, table: str) -> pd.Series:
    try:
        if dtype == "datetime":
            return pd.to_datetime(values)
        if dtype == "date":
            return pd.to_datetime(values).dt.date
        if dtype == "int":
            return pd.to_numeric(values).round().astype("Int64")
        return values.astype(_CASTS[dtype])
    except (TypeError, ValueError) as error:
        where = f"post_generation of table '{table}', cast of column '{values.name}' to {dtype}"
        raise ValueError(f"{where}: {error}") from error
