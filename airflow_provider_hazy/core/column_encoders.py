"""Per-column encoders of the modelled types: source values <-> integer codes.

Every encoder has `n_codes`, `ordinal`, `null_code` (0 when the column has nulls, else None),
`encode(series) -> int codes`, `decode(codes, rng) -> Series`, `to_json()` (strings and numbers),
`arrays()` (numeric .npy arrays, no objects) and `from_parts(json, arrays)`. A datetime split into date and
time of day (`datetime_encoders.SplitDatetimeEncoder`) has two code columns; the table-level methods
`encode_columns` / `decode_columns` / `code_parts` treat both shapes alike.

Bool codes: null (0, if any), False, True. Numeric codes: null (0, if any), then bins in value order (see
`binning`). Category codes: see `category_encoder`.

JSON of an encoder: {"kind", "column", "n_codes", "ordinal", "null_code"} and, by kind,
- category: "categories" (list, in their own type), "value_type" (str|int|float|bool), "other_bucket",
  "other_label";
- bool: nothing more;
- integer, float: "bins": {"integer", "has_null", "n_bins", "strategy", "n_points", "range": [low, high]},
  arrays "lower", "upper" (float64) and "point" (bool), one entry per bin;
- date, datetime: "source": {"storage": text|datetime64|date, "unit": D|s|us|ns, "format", "tz"} and
  "bins" as above, with the same arrays (epoch values in the unit);
- datetime_split (no n_codes / ordinal / null_code: two code columns): "parts" (name, n_codes, ordinal,
  null_code of each), "source", "range", "preserve_range", "date_bins", "time_bins", arrays
  "date.lower" ... "time.point".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Dict, List, Optional

import numpy as np
import pandas as pd

from ..config.model_parameters import ProcessingParams
from ..config.schema import NumericColumn
from .bin_rules import distinct_points, point_share, skew_threshold
from .binning import BinnedDomain
from .domains import BinSpec, fit_bins, fit_nulls
from .dp_preprocessing import PrivateColumn
from .value_grid import grid_of

_TRUE_TEXT = {"true", "t", "yes", "y", "1"}
_FALSE_TEXT = {"false", "f", "no", "n", "0"}


def where(table: str, column: str) -> str:
    """How errors name a column."""
    return f"table '{table}', column '{column}'"


def _example(series: pd.Series, mask: np.ndarray) -> str:
    return repr(series[mask].iloc[0]) if mask.any() else ""


@dataclass(frozen=True)
class CodePart:
    """One code column of the encoded table."""

    name: str
    n_codes: int
    ordinal: bool
    null_code: Optional[int]


class ColumnEncoder:
    """Base of the single-code-column encoders."""

    kind: str
    table: str
    column: str
    ordinal: ClassVar[bool] = False

    @property
    def n_codes(self) -> int:
        raise NotImplementedError

    @property
    def null_code(self) -> Optional[int]:
        raise NotImplementedError

    def encode(self, series: pd.Series) -> np.ndarray:
        raise NotImplementedError

    def decode(self, codes: np.ndarray, rng: np.random.Generator) -> pd.Series:
        raise NotImplementedError

    @property
    def where(self) -> str:
        return where(self.table, self.column)

    def code_parts(self) -> List[CodePart]:
        return [CodePart(self.column, self.n_codes, self.ordinal, self.null_code)]

    def encode_columns(self, series: pd.Series) -> np.ndarray:
        """Codes as an (n, width) array."""
        return self.encode(series)[:, None]

    def decode_columns(self, codes: np.ndarray, rng: np.random.Generator) -> pd.Series:
        return self.decode(codes[:, 0], rng)

    def _header(self) -> Dict[str, Any]:
        return {
            "kind": self.kind,
            "column": self.column,
            "n_codes": self.n_codes,
            "ordinal": self.ordinal,
            "null_code": self.null_code,
        }

    def arrays(self) -> Dict[str, np.ndarray]:
        return {}


# Booleans ---------------------------------------------------------------------------------------------------


def bool_values(series: pd.Series, where_: str) -> np.ndarray:
    """0.0 / 1.0 / NaN; text such as 'true', 'No', '1' is read; anything else is an error."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isnan(values) & (values != 0) & (values != 1)
    else:
        row_codes, uniques = pd.factorize(series)
        texts = pd.Index(uniques).astype(str).str.strip().str.lower()
        unique_values = np.where(texts.isin(_TRUE_TEXT), 1.0, np.where(texts.isin(_FALSE_TEXT), 0.0, np.nan))
        values = np.append(unique_values, np.nan)[row_codes]  # row code -1 (null) takes the appended NaN
        bad = (row_codes >= 0) & np.isnan(values)
    if bad.any():
        raise ValueError(
            f"{where_}: {int(bad.sum())} value(s) are not booleans, e.g. {_example(series, bad)} "
            "(expected true/false, yes/no or 1/0)"
        )
    return values


@dataclass(eq=False)
class BoolEncoder(ColumnEncoder):
    """Codes: null (0, if any), False, True."""

    table: str
    column: str
    has_null: bool
    kind: str = "bool"
    empty: bool = False  # the source held no value: every row decodes to null

    @property
    def n_codes(self) -> int:
        return 2 + int(self.has_null)

    @property
    def null_code(self) -> Optional[int]:
        return 0 if self.has_null else None

    def encode(self, series: pd.Series) -> np.ndarray:
        values = bool_values(series, self.where)
        offset = int(self.has_null)
        return np.where(np.isnan(values), 0, np.nan_to_num(values).astype(np.int64) + offset).astype(np.int64)

    def decode(self, codes: np.ndarray, rng: np.random.Generator) -> pd.Series:
        codes = np.asarray(codes, dtype=np.int64)
        values = codes == 1 + int(self.has_null)
        if self.empty:
            return pd.Series(pd.arrays.BooleanArray(values, np.ones(len(codes), dtype=bool)), name=self.column)
        if self.has_null:
            return pd.Series(pd.arrays.BooleanArray(values, codes == 0), name=self.column)
        return pd.Series(values, name=self.column)

    def to_json(self) -> Dict[str, Any]:
        return {**self._header(), "empty": True} if self.empty else self._header()

    def describe(self) -> Dict[str, Any]:
        return {"null_code": self.null_code}

    @classmethod
    def from_parts(cls, data: Dict[str, Any], arrays: Dict[str, np.ndarray], table: str = "") -> BoolEncoder:
        has_null = data["null_code"] is not None
        return cls(table=table, column=data["column"], has_null=has_null, empty=bool(data.get("empty", False)))


def fit_bool_encoder(series: pd.Series, column, private: Optional[PrivateColumn], table: str) -> BoolEncoder:
    values = bool_values(series, where(table, column.name))
    has_null, noisy_null = fit_nulls(int(np.isnan(values).sum()), private)
    if private is None:
        empty = not (~np.isnan(values)).any()
    else:  # post-processing of the noisy null count
        empty = private.no_values(len(values), noisy_null)
    return BoolEncoder(table, column.name, has_null or empty, empty=empty)


# Numbers ----------------------------------------------------------------------------------------------------


def numeric_values(series: pd.Series, where_: str, integer: bool) -> np.ndarray:
    """Float64 values (NaN for null); text that is not a number, infinities and fractions in an integer
    column are errors naming the column."""
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        converted = pd.to_numeric(series, errors="coerce")
        values = converted.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.isnan(values) & series.notna().to_numpy()
        if bad.any():
            raise ValueError(f"{where_}: {int(bad.sum())} value(s) are not numbers, e.g. {_example(series, bad)}")
    if np.isinf(values).any():
        raise ValueError(f"{where_}: holds infinite values")
    if integer:
        fractional = ~np.isnan(values) & (values != np.floor(values))
        if fractional.any():
            raise ValueError(
                f"{where_}: integer column holds {int(fractional.sum())} non-integer value(s), "
                f"e.g. {_example(series, fractional)}"
            )
    return values


def bin_spec(column: NumericColumn, params: ProcessingParams, integer: bool) -> BinSpec:
    """The binning of an integer or float column: the column's overrides, else the generator's settings, with
    the engine's rules (`bin_rules`) for the settings left at None."""
    return BinSpec(
        n_bins=column.n_bins or params.n_bins,
        default_strategy=params.bin_strategy_default.value,
        column_strategy=column.bin_strategy.value if column.bin_strategy is not None else None,
        skew_threshold=skew_threshold(params),
        single_threshold=point_share(params, column.n_bins or params.n_bins),
        drop_empty_bins=params.drop_empty_bins,
        integer=integer,
        distinct_points=distinct_points(params),
    )


class BinnedEncoder(ColumnEncoder):
    """Base of the encoders whose codes are the bins of a `BinnedDomain` (`domain`): ordinal codes, the
    domain's null code, the domain's arrays."""

    domain: BinnedDomain
    ordinal: ClassVar[bool] = True

    @property
    def n_codes(self) -> int:
        return self.domain.n_codes

    @property
    def null_code(self) -> Optional[int]:
        return self.domain.null_code

    def arrays(self) -> Dict[str, np.ndarray]:
        return self.domain.arrays()


@dataclass(eq=False)
class NumericEncoder(BinnedEncoder):
    """An integer or float column binned by `domain` (ordinal codes; integers decode to integers)."""

    table: str
    column: str
    kind: str
    domain: BinnedDomain

    def encode(self, series: pd.Series) -> np.ndarray:
        return self.domain.encode(numeric_values(series, self.where, self.kind == "integer"))

    def decode(self, codes: np.ndarray, rng: np.random.Generator) -> pd.Series:
        values = self.domain.decode(codes, rng)
        if self.kind == "float":
            return pd.Series(values, name=self.column)
        null = np.isnan(values)
        integers = np.where(null, 0, values).astype(np.int64) if null.any() else values.astype(np.int64)
        if self.domain.has_null:
            return pd.Series(pd.arrays.IntegerArray(integers, null), name=self.column)
        return pd.Series(integers, name=self.column)

    def to_json(self) -> Dict[str, Any]:
        return {**self._header(), "bins": self.domain.to_json()}

    def describe(self) -> Dict[str, Any]:
        return {
            "n_bins": self.domain.n_bins,
            "strategy": self.domain.strategy,
            "single_value_bins": int(self.domain.point.sum()),
            **({"grid_step": self.domain.step} if self.domain.step > 0 else {}),
            "range": list(self.domain.value_range),
            "null_code": self.null_code,
        }

    @classmethod
    def from_parts(cls, data: Dict[str, Any], arrays: Dict[str, np.ndarray], table: str = "") -> NumericEncoder:
        return cls(table, data["column"], data["kind"], BinnedDomain.from_parts(data["bins"], arrays))


def fit_numeric_encoder(
    series: pd.Series,
    column: NumericColumn,
    params: ProcessingParams,
    private: Optional[PrivateColumn],
    table: str,
) -> NumericEncoder:
    integer = column.type == "integer"
    values = numeric_values(series, where(table, column.name), integer)
    present = values[~np.isnan(values)]
    n_rows = len(values)
    has_null, null_count = fit_nulls(n_rows - len(present), private)
    spec = bin_spec(column, params, integer)
    domain = fit_bins(present, n_rows, has_null, spec, private, n_present=n_rows - null_count)
    if private is None:  # a value format, read from the data as the rest of non-private preprocessing
        domain = with_grid(domain, grid_of(present, integer))
    return NumericEncoder(table, column.name, column.type, domain)


def with_grid(domain: BinnedDomain, grid) -> BinnedDomain:
    """`domain` decoding onto the values' grid (`value_grid`), when there is one."""
    if grid is None:
        return domain
    return dataclasses.replace(domain, step=float(grid[0]), anchor=float(grid[1]))


def numeric_private_steps(column: NumericColumn, params: ProcessingParams) -> int:
    """Mechanisms a private fit of this column runs: the null count, then its bins."""
    return 1 + bin_spec(column, params, column.type == "integer").private_steps
