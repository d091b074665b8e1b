"""A table <-> a matrix of integer codes: which columns are modelled, how, and how the others are generated.

Modelled columns (category, integer, float, bool, datetime, date) are encoded by the encoders of
`column_encoders` and `datetime_encoders`; a datetime with `split_time` becomes two code columns. Generated
columns (id, person, location, age, constant) are never modelled and never read from the source: see
`generated_columns`. Foreign keys are left null here; multi-table synthesis fills them.

processing_private
    `processing_private: false` (no `processing_epsilon`): the preprocessing statistics - bin edges, category
    domains, whether a column has nulls, datetime ranges - come from the data as they are, without noise.
    The model's epsilon then covers the network and the conditionals only; the encoders reveal, for
    instance, each column's exact minimum and maximum and every category kept.
    `processing_private: true`: every one of those statistics comes from a mechanism of `dp_preprocessing`
    run on the generator passed in and charged to the ledger. The table's `processing_epsilon` is shared
    equally by its modelled columns and, within a column, by its mechanisms, so the ledger entries for the
    preprocessing of a table sum to exactly `processing_epsilon` (a table with no modelled column spends
    nothing). Category domains found without a public domain are (epsilon, delta)-DP, delta =
    `dp_preprocessing.CATEGORY_DELTA` per column. The text format of a date column and the resolution of a
    datetime (whole seconds or finer) are read from the data in both modes, as part of the schema.

Non-private metadata (recorded only when `processing_private` is false; never used for training)
    `max_string_lengths`: the longest string of each text column (for `limit_strings`).
    `unique_columns`: id columns, and columns whose non-null source values were all distinct (for
    `drop_unique_violation`); person, location, age and constant columns are not listed, as their values
    are drawn without regard to the source. Under DP only the id columns are listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union

import numpy as np
import pandas as pd

from ..config.model_parameters import ProcessingParams
from ..config.schema import BaseTable, ReferenceTable, SequentialTable, TabularTable
from . import generated_columns as generated
from .bin_rules import resolve_params
from .category_encoder import CategoryEncoder, fit_category_encoder
from .column_encoders import (
    BoolEncoder,
    CodePart,
    NumericEncoder,
    fit_bool_encoder,
    fit_numeric_encoder,
    numeric_private_steps,
    where,
)
from .datetime_encoders import (
    DatetimeEncoder,
    SplitDatetimeEncoder,
    datetime_private_steps,
    fit_datetime_encoder,
)
from .dp_preprocessing import PrivateColumn, split_budget
from .privacy import BudgetLedger
from .privbayes import ordinal_hierarchy

MODELLED_TYPES = ("category", "integer", "float", "bool", "datetime", "date")
NOT_UNIQUE_CHECKED_TYPES = ("person", "location", "age", "constant")
ENCODER_KINDS = {
    "category": CategoryEncoder,
    "bool": BoolEncoder,
    "integer": NumericEncoder,
    "float": NumericEncoder,
    "datetime": DatetimeEncoder,
    "date": DatetimeEncoder,
    "datetime_split": SplitDatetimeEncoder,
}
_TABLE_CLASSES = {"tabular": TabularTable, "reference": ReferenceTable, "sequential": SequentialTable}
Encoder = Union[CategoryEncoder, BoolEncoder, NumericEncoder, DatetimeEncoder, SplitDatetimeEncoder]


def is_text(series: pd.Series) -> bool:
    """Whether a column holds text (a string dtype, or object values pandas infers as strings)."""
    if pd.api.types.is_string_dtype(series.dtype) and series.dtype != object:
        return True
    inferred = pd.api.types.infer_dtype(series, skipna=True) if series.dtype == object else ""
    return inferred in ("string", "mixed", "mixed-integer")  # object columns holding some strings


def _clean_text(series: pd.Series, strip_strings: bool, empty_strings_as_null: bool) -> pd.Series:
    """Strip strings and/or turn empty strings into nulls, leaving non-string values alone."""
    if strip_strings:
        stripped = series.str.strip()
        series = stripped.fillna(series) if series.dtype == object else stripped
    if empty_strings_as_null:
        series = series.mask(series.eq("").fillna(False).astype(bool))
    return series


def prepare_frame(
    df: pd.DataFrame, table: BaseTable, *, strip_strings: bool = False, empty_strings_as_null: bool = True
) -> pd.DataFrame:
    """The table's columns in schema order (others dropped), with text cleaned as configured.

    A schema column missing from the data is a ValueError naming the table and the column.
    """
    names = [column.name for column in table.columns]
    for name in names:
        if name not in df.columns:
            raise ValueError(f"{where(table.name, name)}: not in the data (columns found: {list(df.columns)})")
    frame = df.loc[:, names].reset_index(drop=True)
    for name in names:
        if (strip_strings or empty_strings_as_null) and is_text(frame[name]):
            frame[name] = _clean_text(frame[name], strip_strings, empty_strings_as_null)
    return frame


def private_steps(column, params: ProcessingParams) -> int:
    """How many DP mechanisms fitting this column's encoder runs (each takes an equal share of its budget)."""
    if column.type in ("integer", "float"):
        return numeric_private_steps(column, params)
    if column.type in ("datetime", "date"):
        return datetime_private_steps(column, params)
    if column.type == "category":
        return 2  # the value type (noisy class counts), then one noisy histogram (with the null count)
    return 1  # bool: the null count


def _fit_encoder(series: pd.Series, column, params: ProcessingParams, private, table: str) -> Encoder:
    if column.type == "category":
        return fit_category_encoder(series, column, params, private, table)
    if column.type == "bool":
        return fit_bool_encoder(series, column, private, table)
    if column.type in ("integer", "float"):
        return fit_numeric_encoder(series, column, params, private, table)
    return fit_datetime_encoder(series, column, params, private, table)


def coarsening_maps(part: CodePart) -> List[np.ndarray]:
    """Generalisations of one code column, finest first: level 0 is the identity; each further level of an
    ordinal column merges adjacent value codes in pairs (the null code stays apart), down to two values."""
    identity = np.arange(part.n_codes)
    if not part.ordinal:
        return [identity]
    return [identity, *ordinal_hierarchy(part.n_codes, part.null_code)]


@dataclass(eq=False)
class TableEncoding:
    """The encoders of one table's modelled columns and what is needed to generate the other columns."""

    table: BaseTable
    encoders: List[Encoder]
    processing_private: bool
    id_key: int
    max_string_lengths: Dict[str, int] = field(default_factory=dict)
    unique_columns: List[str] = field(default_factory=list)

    @property
    def table_name(self) -> str:
        return self.table.name

    @property
    def code_parts(self) -> List[CodePart]:
        return [part for encoder in self.encoders for part in encoder.code_parts()]

    @property
    def modelled_columns(self) -> List[str]:
        """Names of the code columns (a split datetime 'x' gives 'x:date' and 'x:time')."""
        return [part.name for part in self.code_parts]

    @property
    def domain_sizes(self) -> List[int]:
        return [part.n_codes for part in self.code_parts]

    @property
    def ordinal(self) -> List[bool]:
        return [part.ordinal for part in self.code_parts]

    @property
    def null_codes(self) -> List[Optional[int]]:
        return [part.null_code for part in self.code_parts]

    def hierarchies(self) -> List[List[np.ndarray]]:
        """Per code column, the maps to coarser codes the PrivBayes core may use for parents."""
        return [coarsening_maps(part) for part in self.code_parts]

    def encode(self, df: pd.DataFrame) -> np.ndarray:
        """The (n, d) int64 codes of a frame holding the modelled columns (column-major: each code column is
        contiguous)."""
        codes = np.empty((len(df), len(self.code_parts)), dtype=np.int64, order="F")
        position = 0
        for encoder in self.encoders:
            if encoder.column not in df.columns:
                raise ValueError(f"{where(self.table_name, encoder.column)}: not in the data")
            column_codes = encoder.encode_columns(df[encoder.column].reset_index(drop=True))
            codes[:, position : position + column_codes.shape[1]] = column_codes
            position += column_codes.shape[1]
        return codes

    def _check_codes(self, codes: np.ndarray) -> np.ndarray:
        codes = np.asarray(codes)
        parts = self.code_parts
        if codes.ndim != 2 or codes.shape[1] != len(parts):
            raise ValueError(f"table '{self.table_name}': codes must have shape (n, {len(parts)}), not {codes.shape}")
        if len(codes):
            sizes = np.array([part.n_codes for part in parts])
            bad = (codes.min(axis=0) < 0) | (codes.max(axis=0) >= sizes)
            if bad.any():
                part = parts[int(np.flatnonzero(bad)[0])]
                raise ValueError(f"{where(self.table_name, part.name)}: codes outside 0..{part.n_codes - 1}")
        return codes.astype(np.int64, copy=False)

    def _decode_typed(self, codes: np.ndarray, rng: np.random.Generator) -> Dict[str, Any]:
        """Decoded modelled columns; datetimes still as datetime64 arrays (ages are computed from them)."""
        codes = self._check_codes(codes)
        decoded: Dict[str, Any] = {}
        position = 0
        for encoder in self.encoders:
            width = len(encoder.code_parts())
            block = codes[:, position : position + width]
            position += width
            if isinstance(encoder, SplitDatetimeEncoder):
                decoded[encoder.column] = encoder.decode_datetimes(block, rng)
            elif isinstance(encoder, DatetimeEncoder):
                decoded[encoder.column] = encoder.decode_datetimes(block[:, 0], rng)
            else:
                decoded[encoder.column] = encoder.decode_columns(block, rng)
        return decoded

    def _present(self, name: str, value: Any) -> pd.Series:
        encoder = next(encoder for encoder in self.encoders if encoder.column == name)
        if isinstance(encoder, (DatetimeEncoder, SplitDatetimeEncoder)):
            return encoder.present(value)
        return value

    def decode(self, codes: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
        """The modelled columns (schema order) of the rows whose codes are given."""
        decoded = self._decode_typed(codes, rng)
        columns = {name: self._present(name, value).reset_index(drop=True) for name, value in decoded.items()}
        return pd.DataFrame(columns, index=pd.RangeIndex(len(codes)), copy=False)

    def generate(self, codes: np.ndarray, start_index: int, rng: np.random.Generator) -> pd.DataFrame:
        """Every schema column, in schema order, for global rows [start_index, start_index + len(codes)):
        modelled columns decoded from `codes`, the others generated."""
        decoded = self._decode_typed(codes, rng)
        n_rows = len(codes)
        faker = generated.FakerPicks(n_rows, rng)
        out: Dict[str, pd.Series] = {}
        for column in self.table.columns:
            name = column.name
            if name in decoded:
                out[name] = self._present(name, decoded[name])
            elif column.type == "id":
                out[name] = generated.generate_ids(column, n_rows, start_index, self.id_key, self.table_name)
            elif column.type in ("person", "location"):
                out[name] = faker.column(column)
            elif column.type == "age":
                out[name] = generated.ages(decoded[column.dob_column], column.reference_date, name)
            elif column.type == "constant":
                out[name] = generated.constant(column.value, n_rows, name)
            else:  # foreign_key: assigned by multi-table synthesis
                out[name] = generated.constant(None, n_rows, name)
        # no copy: the columns are this call's own arrays, kept one block each (no consolidation)
        return pd.DataFrame({name: series.reset_index(drop=True) for name, series in out.items()}, copy=False)

    def describe(self) -> List[Dict[str, Any]]:
        """Per schema column: its type and how it is encoded or generated (for `hazy inspect`)."""
        encoders = {encoder.column: encoder for encoder in self.encoders}
        rows = []
        for column in self.table.columns:
            entry: Dict[str, Any] = {"name": column.name, "type": column.type}
            encoder = encoders.get(column.name)
            if encoder is not None:
                parts = encoder.code_parts()
                entry.update(modelled=True, code_columns=[part.name for part in parts])
                entry.update(n_codes=[part.n_codes for part in parts] if len(parts) > 1 else parts[0].n_codes)
                entry.update(encoder.describe())
            else:
                entry.update(modelled=False, generated=_generated_summary(column))
            rows.append(entry)
        return rows

    def to_json(self) -> Dict[str, Any]:
        return {
            "table": self.table.model_dump(mode="json"),
            "processing_private": self.processing_private,
            "id_key": self.id_key,
            "modelled_columns": self.modelled_columns,
            "domain_sizes": self.domain_sizes,
            "ordinal": self.ordinal,
            "null_codes": self.null_codes,
            "encoders": [encoder.to_json() for encoder in self.encoders],
            "non_private_metadata": {
                "max_string_lengths": dict(self.max_string_lengths),
                "unique_columns": list(self.unique_columns),
            },
        }

    def arrays(self) -> Dict[str, np.ndarray]:
        """Numeric arrays of the encoders, named `e<encoder index>.<name>` (no object arrays)."""
        return {
            f"e{index}.{name}": array
            for index, encoder in enumerate(self.encoders)
            for name, array in encoder.arrays().items()
        }

    @classmethod
    def from_parts(cls, data: Dict[str, Any], arrays: Dict[str, np.ndarray]) -> TableEncoding:
        table_data = data["table"]
        table = _TABLE_CLASSES[table_data.get("type", "tabular")].model_validate(table_data)
        encoders = []
        for index, encoder_data in enumerate(data["encoders"]):
            prefix = f"e{index}."
            own = {name[len(prefix) :]: array for name, array in arrays.items() if name.startswith(prefix)}
            encoders.append(ENCODER_KINDS[encoder_data["kind"]].from_parts(encoder_data, own, table=table.name))
        metadata = data.get("non_private_metadata", {})
        return cls(
            table=table,
            encoders=encoders,
            processing_private=bool(data["processing_private"]),
            id_key=int(data["id_key"]),
            max_string_lengths={k: int(v) for k, v in metadata.get("max_string_lengths", {}).items()},
            unique_columns=list(metadata.get("unique_columns", [])),
        )


def _generated_summary(column) -> str:
    if column.type == "id":
        detail = {"numerical": f"from {column.start}", "uuid": "", "pattern": f"'{column.pattern}'"}
        return f"id {column.format.value} {detail[column.format.value]}".strip()
    if column.type in ("person", "location"):
        return f"{column.type} {column.part.value} (Faker, {column.locale})"
    if column.type == "age":
        return f"age at {column.reference_date.isoformat()} from '{column.dob_column}'"
    if column.type == "constant":
        return f"constant {column.value!r}"
    return f"foreign key to {column.ref_table}.{column.ref_column} (multi-table)"


def _non_private_metadata(df: pd.DataFrame, table: BaseTable) -> tuple:
    """(longest string per text column, columns unique in the source): read from the data as they are."""
    lengths: Dict[str, int] = {}
    unique: List[str] = []
    for column in table.columns:
        if column.type == "id":
            unique.append(column.name)
            continue
        if column.name not in df.columns:
            continue
        series = df[column.name]
        present = series.dropna()
        if is_text(series) and len(present):
            lengths[column.name] = int(present.astype(str).str.len().max())
        if column.type not in NOT_UNIQUE_CHECKED_TYPES and len(present) > 1 and present.is_unique:
            unique.append(column.name)
    return lengths, unique


def fit_table_encoding(
    df: pd.DataFrame,
    table: BaseTable,
    params: ProcessingParams,
    *,
    processing_epsilon: Optional[float],
    rng: np.random.Generator,
    ledger: BudgetLedger,
    table_name: Optional[str] = None,
    epsilon: Optional[float] = None,
) -> TableEncoding:
    """Fit an encoder per modelled column of `table` on `df` (a `prepare_frame` result).

    With `processing_epsilon`, every statistic is a DP release charged to `ledger` (summing to exactly
    `processing_epsilon`); without it nothing is charged and the encoding is `processing_private` False.
    `epsilon` is the table's model budget (default: `params.epsilon`), which bounds the bins per column
    (`bin_rules.resolve_params`).
    """
    table_name = table_name or table.name
    modelled = [column for column in table.columns if column.type in MODELLED_TYPES]
    params = resolve_params(params, len(df), len(modelled), epsilon)
    private = processing_epsilon is not None
    shares = split_budget(processing_epsilon, len(modelled)) if private and modelled else [None] * len(modelled)
    encoders: List[Encoder] = []
    for column, share in zip(modelled, shares):
        if column.name not in df.columns:
            raise ValueError(f"{where(table_name, column.name)}: not in the data")
        private_column = None
        if private:
            steps = private_steps(column, params)
            private_column = PrivateColumn(table_name, column.name, share, steps, ledger)
        series = df[column.name].reset_index(drop=True)
        encoders.append(_fit_encoder(series, column, params, private_column, table_name))
        if private_column is not None and private_column.steps_left:
            raise RuntimeError(f"{where(table_name, column.name)}: preprocessing budget not fully spent")
    id_key = int(rng.integers(2**62))
    if private:
        lengths, unique = {}, [column.name for column in table.columns if column.type == "id"]
    else:
        lengths, unique = _non_private_metadata(df, table)
    return TableEncoding(table, encoders, private, id_key, lengths, unique)
