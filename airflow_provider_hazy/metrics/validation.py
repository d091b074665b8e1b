"""Functional validation: the checks a database would enforce, run on generated tables before anyone uses them.

`validate(schema, tables, metadata, expected_rows)` checks every schema table present in `tables` (tables
not in the schema are ignored) and returns a `ValidationReport` with one entry per check:

    {"check": "foreign_key_integrity", "table": "orders", "column": "customer_id",
     "passed": False, "violations": 3, "examples": [1001, 1002, 1007]}

`violations` counts offending rows (for `row_count`: how many rows the table is off by; for
`columns_present`: missing columns); `examples` holds up to 5 distinct offending values, JSON-safe.

Checks, per table:
- `columns_present`: every schema column is in the frame (checks of a missing column are not run).
- `row_count`: the row count equals the expected count (`expected_rows[table]`, else the metadata's
  `rows`), an int, or lies in an inclusive `[low, high]` range. A table that is expected but absent
  from `tables` fails this check with 0 rows.
- `primary_key_unique`: no two rows share a primary key (`column` names the key columns, comma-separated);
  every row after the first of a key is a violation.
- `foreign_key_integrity`: every non-null foreign key is a key of the referenced table in `tables`
  (skipped, and passed, when that table is not given).
Per column:
- `not_null`: no nulls in a primary-key or id column, or in a column whose metadata says
  `"nullable": false`.
- `type`: integer, age and numerical id values are whole numbers; float values are numbers; bool values
  are booleans (or 0/1, true/false, t/f, yes/no, y/n text); datetime and date values parse (with the
  column's `format`, else ISO 8601); uuid ids are uuids; pattern ids match their pattern; person and
  location values are text. Category, foreign_key and constant columns have no type check.
- `constant_value`: every value of a constant column is its value.
- `category_domain`: every non-null value is one of the metadata's `categories`.
- `numeric_range` / `datetime_range`: every non-null value lies in the metadata's inclusive `[min, max]`
  (either bound may be absent; datetimes as ISO text or timestamps).
- `string_length`: no non-null value's text is longer than the metadata's `max_length`. Dates and timestamps
  held typed (a database's date and timestamp columns read back) have no text of their own and are not
  checked: their Python text ('2024-01-31') says nothing of the source's text format.

Metadata (plain JSON, from the model; every key optional)::

    {"<table>": {"rows": 1000,
                 "columns": {"<column>": {"nullable": false, "categories": ["a", "b"],
                                          "min": 0, "max": 99, "max_length": 12}}}}

Values compare as they are, or by their text when one side is numeric and the other is not (a CSV round
trip turns 1 into "1"). Every check is vectorised over rows.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from ..config.schema import ID_PATTERN_PLACEHOLDER, BaseTable, DataSchema
from .discretise import datetime_seconds, numeric_values
from .results import json_value

MAX_EXAMPLES = 5
BOOL_TEXT = ("true", "false", "t", "f", "yes", "no", "y", "n", "0", "1")
UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_PLACEHOLDER_CLASSES = {"digits": "[0-9]", "letters": "[A-Z]", "hex": "[0-9a-f]"}
ExpectedRows = Union[int, Sequence[int]]


@dataclass
class ValidationReport:
    """The checks run, in order; `passed` when every one passed."""

    checks: List[Dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(check["passed"] for check in self.checks)

    def failures(self) -> List[Dict[str, Any]]:
        """The checks that failed."""
        return [check for check in self.checks if not check["passed"]]

    def to_json(self) -> Dict[str, Any]:
        """A JSON-safe dict: passed, counts, and every check."""
        return {
            "passed": self.passed,
            "n_checks": len(self.checks),
            "n_failed": len(self.failures()),
            "checks": list(self.checks),
        }

    def summary(self) -> str:
        """One line per failed check, in the user's words (empty when every check passed)."""
        lines = []
        for check in self.failures():
            where = f"table '{check['table']}'" + (f", column '{check['column']}'" if check["column"] else "")
            lines.append(
                f"{where}: {check['check']} failed ({check['violations']} violation(s), "
                f"e.g. {check['examples']})" + (f": {check['detail']}" if check.get("detail") else "")
            )
        return "\n".join(lines)


def _check(
    check: str,
    table: str,
    column: Optional[str],
    bad: Union[np.ndarray, int],
    values: Union[pd.Series, pd.DataFrame, None] = None,
    **extra: Any,
) -> Dict[str, Any]:
    """A check entry: `bad` a row mask over `values` (examples drawn from it), or a violation count."""
    if isinstance(bad, np.ndarray):
        violations = int(bad.sum())
        examples = [] if values is None else _examples(values[bad])
    else:
        violations, examples = int(bad), extra.pop("examples", [])
    return {
        "check": check,
        "table": table,
        "column": column,
        "passed": violations == 0,
        "violations": violations,
        "examples": json_value(examples),
        **{key: json_value(value) for key, value in extra.items()},
    }


def _examples(values: Union[pd.Series, pd.DataFrame]) -> List[Any]:
    """Up to MAX_EXAMPLES distinct offending values (rows of a DataFrame as lists)."""
    first = values.iloc[: MAX_EXAMPLES * 20]
    if isinstance(first, pd.DataFrame):
        return first.drop_duplicates().iloc[:MAX_EXAMPLES].to_numpy(dtype=object).tolist()
    return list(pd.unique(first.to_numpy(dtype=object)))[:MAX_EXAMPLES]


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)


def matches_any(values: pd.Series, allowed: Union[pd.Series, List[Any]]) -> np.ndarray:
    """Which values are in `allowed`; compared as text when one side is numeric and the other is not."""
    allowed_series = allowed if isinstance(allowed, pd.Series) else pd.Series(list(allowed), dtype=object)
    if len(allowed_series.dropna()) and _is_numeric(values) != _is_numeric(allowed_series.infer_objects()):
        return values.astype(str).isin(set(allowed_series.dropna().astype(str))).to_numpy()
    return values.isin(allowed_series.dropna()).to_numpy()


def _present(series: pd.Series) -> np.ndarray:
    return series.notna().to_numpy()


# --- per-column rules -----------------------------------------------------------------------------------


def _is_text_column(schema: DataSchema, column: Any, depth: int = 0) -> bool:
    if column.type == "foreign_key":
        if depth > len(schema.tables) or column.ref_table not in schema.table_names:
            return False
        parent = schema.table(column.ref_table)
        referenced = next((c for c in parent.columns if c.name == column.ref_column), None)
        return referenced is not None and _is_text_column(schema, referenced, depth + 1)
    if column.type == "id":
        return column.format.value != "numerical"
    return column.type in ("person", "location")


def text_columns(schema: DataSchema, table: str) -> List[str]:
    """The columns of `table` whose values are text by the schema (pattern and uuid ids, person and location
    columns, foreign keys to such ids): read back as text from a CSV, so that a zero-padded id such as
    "01581" is checked as written, not as the number 1581 a CSV reader would infer."""
    if table not in schema.table_names:
        return []
    return [column.name for column in schema.table(table).columns if _is_text_column(schema, column)]



def pattern_regex(pattern: str) -> str:
    """A full-match regular expression for ids of an id pattern such as 'CUST-{digits:6}'."""
    parts, position = [], 0
    for match in ID_PATTERN_PLACEHOLDER.finditer(pattern):
        parts.append(re.escape(pattern[position : match.start()]))
        parts.append(f"{_PLACEHOLDER_CLASSES[match.group(1)]}{{{match.group(2)}}}")
        position = match.end()
    parts.append(re.escape(pattern[position:]))
    return "".join(parts)


def _not_text(series: pd.Series) -> np.ndarray:
    """Non-null values that are not strings."""
    if pd.api.types.is_string_dtype(series.dtype) and series.dtype != object:
        return np.zeros(len(series), dtype=bool)
    inferred = pd.api.types.infer_dtype(series, skipna=True) if series.dtype == object else ""
    if inferred in ("string", "empty"):
        return np.zeros(len(series), dtype=bool)
    if inferred in ("mixed", "mixed-integer"):
        return _present(series) & series.str.len().isna().to_numpy()
    return _present(series)


def _text_lengths(series: pd.Series) -> np.ndarray:
    """The length of each value's text (NaN for nulls, 0 for typed dates and timestamps), from the Arrow
    lengths of a text column or from the distinct values of any other."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return np.zeros(len(series))
    if pd.api.types.is_string_dtype(series.dtype) and series.dtype != object:
        return series.str.len().to_numpy(dtype=np.float64, na_value=np.nan)
    codes, uniques = pd.factorize(series)
    lengths = [0.0 if isinstance(v, (dt.date, dt.datetime, np.datetime64)) else float(len(str(v))) for v in uniques]
    return np.append(np.array(lengths, dtype=np.float64), np.nan)[codes]


def _type_violations(
    column, series: pd.Series, seconds: Optional[np.ndarray] = None
) -> Optional[Tuple[np.ndarray, str]]:
    """(mask of values of the wrong type, what was expected), or None for a type with no rule."""
    present = _present(series)
    kind = column.type
    if kind == "id":
        if column.format.value == "numerical":
            kind = "integer"
        else:
            regex = UUID_PATTERN if column.format.value == "uuid" else pattern_regex(column.pattern)
            text_ok = series.astype(str).str.fullmatch(regex).to_numpy(dtype=bool, na_value=False)
            return present & (~text_ok | _not_text(series)), f"{column.format.value} ids"
    if kind in ("integer", "age", "float"):
        if pd.api.types.is_bool_dtype(series.dtype):
            return present, "numbers"
        numbers = numeric_values(series)
        bad = present & np.isnan(numbers)
        if kind != "float":
            with np.errstate(invalid="ignore"):
                bad |= present & ~np.isnan(numbers) & (np.floor(numbers) != numbers)
            return bad, "whole numbers"
        return bad, "numbers"
    if kind == "bool":
        if pd.api.types.is_bool_dtype(series.dtype):
            return np.zeros(len(series), dtype=bool), "booleans"
        text = series.astype(str).str.strip().str.lower()
        numbers = numeric_values(series) if _is_numeric(series) else np.full(len(series), np.nan)
        ok = text.isin(BOOL_TEXT).to_numpy() | np.isin(numbers, (0.0, 1.0))
        return present & ~ok, "booleans"
    if kind in ("datetime", "date"):
        if seconds is None:
            seconds = datetime_seconds(series, getattr(column, "format", None))
        unparsed = present & np.isnan(seconds)
        if unparsed.any() and getattr(column, "format", None):
            retry = datetime_seconds(series[unparsed])
            unparsed[np.flatnonzero(unparsed)[~np.isnan(retry)]] = False
        return unparsed, f"{kind}s" + (f" in format '{column.format}'" if getattr(column, "format", None) else "")
    if kind in ("person", "location"):
        return _not_text(series), "text"
    return None


def _range_violations(
    column, series: pd.Series, low: Any, high: Any, seconds: Optional[np.ndarray] = None
) -> Tuple[str, np.ndarray]:
    if column.type in ("datetime", "date"):
        values = datetime_seconds(series, getattr(column, "format", None)) if seconds is None else seconds
        bounds = [None if b is None else float(datetime_seconds(pd.Series([b]))[0]) for b in (low, high)]
        tolerance = 1e-6
        check = "datetime_range"
    else:
        values = numeric_values(series)
        bounds = [None if b is None else float(b) for b in (low, high)]
        span = abs(bounds[1] - bounds[0]) if None not in bounds else 1.0
        tolerance = 1e-9 * max(1.0, span)
        check = "numeric_range"
    bad = np.zeros(len(series), dtype=bool)
    with np.errstate(invalid="ignore"):
        if bounds[0] is not None:
            bad |= values < bounds[0] - tolerance
        if bounds[1] is not None:
            bad |= values > bounds[1] + tolerance
    return check, bad


def _column_checks(table: BaseTable, frame: pd.DataFrame, meta: Dict[str, Any]) -> List[Dict[str, Any]]:
    checks: List[Dict[str, Any]] = []
    key_columns = set(table.key_columns)
    column_meta = meta.get("columns", {})
    for column in table.columns:
        name = column.name
        if name not in frame.columns:
            continue
        series = frame[name]
        info = column_meta.get(name, {})
        if name in key_columns or column.type == "id" or info.get("nullable") is False:
            checks.append(_check("not_null", table.name, name, series.isna().to_numpy(), series))
        # a date or datetime column is parsed once, for its type and range checks
        seconds = None
        if column.type in ("datetime", "date"):
            seconds = datetime_seconds(series, getattr(column, "format", None))
        typed = _type_violations(column, series, seconds)
        if typed is not None:
            bad, expected = typed
            checks.append(_check("type", table.name, name, bad, series, expected=expected))
        if column.type == "constant":
            if column.value is None:
                bad = _present(series)
            else:
                bad = ~matches_any(series, [column.value])
            checks.append(_check("constant_value", table.name, name, bad, series, expected=column.value))
        if "categories" in info:
            bad = _present(series) & ~matches_any(series, list(info["categories"]))
            checks.append(_check("category_domain", table.name, name, bad, series))
        if (info.get("min") is not None or info.get("max") is not None) and column.type in (
            "integer",
            "float",
            "age",
            "datetime",
            "date",
        ):
            check, bad = _range_violations(column, series, info.get("min"), info.get("max"), seconds)
            checks.append(_check(check, table.name, name, bad, series, expected=[info.get("min"), info.get("max")]))
        if info.get("max_length") is not None:
            bad = _present(series) & (_text_lengths(series) > int(info["max_length"]))
            checks.append(_check("string_length", table.name, name, bad, series, expected=int(info["max_length"])))
    return checks


# --- per-table rules ------------------------------------------------------------------------------------


def _row_count_check(table: str, n_rows: int, expected: ExpectedRows, present: bool = True) -> Dict[str, Any]:
    if isinstance(expected, (list, tuple)):
        low, high = int(expected[0]), int(expected[1])
    else:
        low = high = int(expected)
    off = max(low - n_rows, n_rows - high, 0)
    extra = {} if present else {"detail": "table not in the data"}
    return _check(
        "row_count",
        table,
        None,
        off,
        examples=[n_rows],
        expected=[low, high] if low != high else low,
        actual=n_rows,
        **extra,
    )


def _key_checks(schema: DataSchema, table: BaseTable, frame: pd.DataFrame, tables) -> List[Dict[str, Any]]:
    checks: List[Dict[str, Any]] = []
    key = [name for name in table.key_columns if name in frame.columns]
    if key and len(key) == len(table.key_columns):
        duplicated = frame.duplicated(subset=key, keep="first").to_numpy()
        values = frame[key[0]] if len(key) == 1 else frame[key]
        checks.append(_check("primary_key_unique", table.name, ", ".join(key), duplicated, values))
    for fk in table.foreign_keys:
        if fk.name not in frame.columns:
            continue
        parent = tables.get(fk.ref_table)
        reference = f"{fk.ref_table}.{fk.ref_column}"
        if parent is None or fk.ref_column not in parent.columns:
            checks.append(
                _check(
                    "foreign_key_integrity",
                    table.name,
                    fk.name,
                    0,
                    references=reference,
                    skipped=f"'{reference}' is not in the data",
                )
            )
            continue
        child = frame[fk.name]
        dangling = _present(child) & ~matches_any(child, parent[fk.ref_column])
        checks.append(_check("foreign_key_integrity", table.name, fk.name, dangling, child, references=reference))
    return checks


def validate(
    schema: DataSchema,
    tables: Dict[str, pd.DataFrame],
    metadata: Optional[Dict[str, Any]] = None,
    expected_rows: Optional[Dict[str, ExpectedRows]] = None,
) -> ValidationReport:
    """Run every check of the module docstring on the schema tables in `tables`."""
    metadata = metadata or {}
    expected_rows = expected_rows or {}
    report = ValidationReport()
    for table in schema.tables:
        meta = metadata.get(table.name, {})
        expected = expected_rows.get(table.name, meta.get("rows"))
        frame = tables.get(table.name)
        if frame is None:
            if expected is not None:
                report.checks.append(_row_count_check(table.name, 0, expected, present=False))
            continue
        missing = [column.name for column in table.columns if column.name not in frame.columns]
        report.checks.append(_check("columns_present", table.name, None, len(missing), examples=missing[:MAX_EXAMPLES]))
        if expected is not None:
            report.checks.append(_row_count_check(table.name, len(frame), expected))
        report.checks.extend(_key_checks(schema, table, frame, tables))
        report.checks.extend(_column_checks(table, frame, meta))
    return report
