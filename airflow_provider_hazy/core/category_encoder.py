"""Category columns: kept categories <-> codes, with an other-bucket for the rest.

Codes: null (0, if the column has nulls), the kept categories in sorted order, then the other-bucket (if
any), which holds the categories merged by `max_cat` and any value unseen in training. The other-bucket
decodes to the label `other` (`other_`, `other__`, ... if `other` is itself a category) for text
categories, and to null for numeric or boolean categories, whose type has no room for a label. Categories
are stored in JSON in their own type (`value_type`: str, int, float or bool); codes are not ordinal.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import numpy as np
import pandas as pd

from ..config.model_parameters import ProcessingParams
from ..config.schema import CategoryColumn
from .column_encoders import ColumnEncoder
from .domains import MIN_CATEGORY_COUNT, fit_categories
from .dp_preprocessing import PrivateColumn, private_value_type

OTHER_LABEL = "other"
log = logging.getLogger(__name__)


def warn_if_identifier_like(table: str, column: str, counts: pd.Series, max_cat: int) -> bool:
    """Log a warning naming the column when a category column looks like an identifier: more distinct values
    than `max_cat`, most of them held by one row. Returns whether it warned."""
    n_distinct = len(counts)
    singletons = int((counts == 1).sum())
    if n_distinct <= max_cat or singletons * 2 <= n_distinct:
        return False
    log.warning(
        "table '%s', column '%s': %d distinct values (max_cat %d), %d of them held by one row: this looks like "
        "an identifier, not a category. Type it as id, person or location, or leave it out; values held by "
        "fewer than %d rows are merged into the other-bucket.",
        table, column, n_distinct, max_cat, singletons, MIN_CATEGORY_COUNT,
    )
    return True


def category_value_type(series: pd.Series) -> str:
    """'str', 'int', 'float' or 'bool': how the categories are stored and decoded."""
    if isinstance(series.dtype, pd.StringDtype):
        return "str"
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    if inferred == "boolean":
        return "bool"
    if inferred == "integer":
        return "int"
    if inferred in ("floating", "mixed-integer-float", "decimal"):
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        finite = values[np.isfinite(values)]
        return "int" if np.all(finite == np.round(finite)) else "float"
    return "str"


def as_category_values(series: pd.Series, value_type: str) -> pd.Series:
    """The column in the categories' type (text categories compare as text); unconvertible values -> NaN."""
    if value_type == "str":
        if isinstance(series.dtype, pd.StringDtype):
            return series
        if series.dtype == object and pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):
            return series
        return series.astype("str")
    if value_type == "bool":
        return series
    return pd.to_numeric(series, errors="coerce")


def category_json_value(value: Any, value_type: str) -> Any:
    """A category as a JSON value of the categories' type (str, int, float or bool)."""
    if value_type == "str":
        return str(value)
    if value_type == "int":
        return int(value)
    if value_type == "float":
        return float(value)
    return bool(value)


@dataclass(eq=False)
class CategoryEncoder(ColumnEncoder):
    """Kept categories (sorted), an optional other-bucket and an optional null code."""

    table: str
    column: str
    categories: List[Any]
    value_type: str
    other_bucket: bool
    has_null: bool
    kind: str = "category"

    def __post_init__(self) -> None:
        if self.value_type in ("int", "float"):
            self._index = pd.Index(np.asarray(self.categories, dtype=np.float64))
        else:
            self._index = pd.Index(self.categories, dtype="str" if self.value_type == "str" else object)

    @property
    def n_codes(self) -> int:
        return int(self.has_null) + len(self.categories) + int(self.other_bucket)

    @property
    def null_code(self) -> Optional[int]:
        return 0 if self.has_null else None

    @property
    def other_code(self) -> Optional[int]:
        return self.n_codes - 1 if self.other_bucket else None

    @property
    def other_label(self) -> Optional[str]:
        """What the other-bucket decodes to: a label for text categories, null otherwise."""
        if not self.other_bucket or self.value_type != "str":
            return None
        label = OTHER_LABEL
        taken = set(self.categories)
        while label in taken:
            label += "_"
        return label

    def _fallback_code(self) -> int:
        """The code of a value outside the domain: the other-bucket, else the first category."""
        if self.other_bucket:
            return self.n_codes - 1
        return int(self.has_null) if self.categories else 0

    def encode(self, series: pd.Series) -> np.ndarray:
        values = as_category_values(series, self.value_type)
        row_codes, uniques = pd.factorize(values)
        found = self._index.get_indexer(uniques)
        mapped = np.where(found >= 0, found + int(self.has_null), self._fallback_code())
        null_code = 0 if self.has_null else self._fallback_code()
        codes = np.append(mapped, null_code)[row_codes]  # row code -1 (null) takes the appended null code
        null_but_present = (row_codes < 0) & series.notna().to_numpy()
        codes[null_but_present] = self._fallback_code()  # values the categories' type cannot hold
        return codes.astype(np.int64)

    def decode(self, codes: np.ndarray, rng: np.random.Generator) -> pd.Series:
        labels: List[Any] = ([None] if self.has_null else []) + list(self.categories)
        if self.other_bucket:
            labels.append(self.other_label)
        codes = np.asarray(codes, dtype=np.int64)
        nullable = self.has_null or self.other_bucket
        if self.value_type == "str":
            values = pd.array(np.array(labels, dtype=object), dtype="str").take(codes)
        elif self.value_type == "float":
            values = np.array([np.nan if v is None else v for v in labels], dtype=np.float64)[codes]
        else:
            dtype = ("Int64" if self.value_type == "int" else "boolean") if nullable else None
            values = pd.array(labels, dtype=dtype).take(codes) if dtype else np.array(labels)[codes]
        return pd.Series(values, name=self.column)

    def to_json(self) -> Dict[str, Any]:
        return {
            **self._header(),
            "categories": list(self.categories),
            "value_type": self.value_type,
            "other_bucket": self.other_bucket,
            "other_label": self.other_label,
        }

    def describe(self) -> Dict[str, Any]:
        return {
            "categories": len(self.categories),
            "other_bucket": self.other_bucket,
            "other_decodes_to": self.other_label,
            "null_code": self.null_code,
        }

    @classmethod
    def from_parts(cls, data: Dict[str, Any], arrays: Dict[str, np.ndarray], table: str = "") -> CategoryEncoder:
        return cls(
            table=table,
            column=data["column"],
            categories=list(data["categories"]),
            value_type=data["value_type"],
            other_bucket=bool(data["other_bucket"]),
            has_null=data["null_code"] is not None,
        )


def fit_category_encoder(
    series: pd.Series,
    column: CategoryColumn,
    params: ProcessingParams,
    private: Optional[PrivateColumn],
    table: str,
) -> CategoryEncoder:
    if private is None:
        value_type = category_value_type(series)
    else:  # read through a charged mechanism, never off the values (one row could flip it)
        value_type = private_value_type(series.dropna().value_counts(sort=False), private)
    values = as_category_values(series, value_type)
    present = values.dropna()
    max_cat = column.max_cat or params.max_cat
    warn_if_identifier_like(table, column.name, present.value_counts(sort=False), max_cat)
    kept, other, has_null = fit_categories(present, len(series) - len(present), max_cat, private)
    categories = [category_json_value(value, value_type) for value in kept]
    if not categories and not other:
        has_null = True  # a column with no values at all still needs one code
    return CategoryEncoder(table, column.name, categories, value_type, other, has_null)
