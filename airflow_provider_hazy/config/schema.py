"""The data schema: tables, their columns and keys, validated as a whole before any data is read."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Dict, List, Literal, Optional, Union

from pydantic import AfterValidator, Field, Tag, model_validator

from .base import HazyBaseModel, tag_or_default
from .bounds import check_max_cat, check_n_bins
from .enums import BinningStrategyType, IdFormat, LocationPart, PersonPart

# `{digits:6}`, `{letters:3}`, `{hex:8}`: the placeholders of an id pattern such as `CUST-{digits:6}`.
ID_PATTERN_PLACEHOLDER = re.compile(r"\{(digits|letters|hex):([1-9][0-9]*)\}")


class BaseColumn(HazyBaseModel):
    """A column of a table; `name` is the column's name in the source and target."""

    name: str = Field(min_length=1)


class IdColumn(BaseColumn):
    """A primary-key column: generated (unique), never modelled from the source."""

    type: Literal["id"] = "id"
    format: IdFormat = IdFormat.NUMERICAL
    pattern: Optional[str] = Field(default=None, description="For format 'pattern', e.g. 'CUST-{digits:6}'.")
    start: int = Field(default=1, description="First value of a numerical id.")

    @model_validator(mode="after")
    def _pattern_matches_format(self) -> IdColumn:
        if self.format == IdFormat.PATTERN:
            if not self.pattern or not ID_PATTERN_PLACEHOLDER.search(self.pattern):
                raise ValueError(
                    f"column '{self.name}': format 'pattern' needs a pattern with a placeholder "
                    "such as {digits:6}, {letters:3} or {hex:8}"
                )
        elif self.pattern is not None:
            raise ValueError(f"column '{self.name}': pattern is only allowed with format 'pattern'")
        return self


class ForeignKeyColumn(BaseColumn):
    """A column whose values are keys of another table's column (`ref_table`.`ref_column`)."""

    type: Literal["foreign_key"] = "foreign_key"
    ref_table: str = Field(min_length=1)
    ref_column: str = Field(min_length=1)


class CategoryColumn(BaseColumn):
    """A categorical column; `max_cat` overrides the generator's setting for this column."""

    type: Literal["category"] = "category"
    max_cat: Optional[Annotated[int, AfterValidator(check_max_cat)]] = Field(default=None, ge=1)


class NumericColumn(BaseColumn):
    """Binning overrides shared by integer and float columns."""

    n_bins: Optional[Annotated[int, AfterValidator(check_n_bins)]] = Field(default=None, ge=2)
    bin_strategy: Optional[BinningStrategyType] = None


class IntegerColumn(NumericColumn):
    """An integer column (generated values stay integers)."""

    type: Literal["integer"] = "integer"


class FloatColumn(NumericColumn):
    """A floating-point column."""

    type: Literal["float"] = "float"


class BoolColumn(BaseColumn):
    """A boolean column."""

    type: Literal["bool"] = "bool"


class DatetimeColumn(BaseColumn):
    """A timestamp column; `format` (strftime) is kept when the source stores text."""

    type: Literal["datetime"] = "datetime"
    format: Optional[str] = None


class DateColumn(BaseColumn):
    """A calendar-date column; `format` (strftime) is kept when the source stores text."""

    type: Literal["date"] = "date"
    format: Optional[str] = None


class PersonColumn(BaseColumn):
    """Names and e-mail addresses drawn from Faker (seeded), never from the source values."""

    type: Literal["person"] = "person"
    part: PersonPart = PersonPart.FULL_NAME
    locale: str = "en_GB"


class LocationColumn(BaseColumn):
    """Address parts drawn from Faker (seeded), never from the source values."""

    type: Literal["location"] = "location"
    part: LocationPart = LocationPart.CITY
    locale: str = "en_GB"


class AgeColumn(BaseColumn):
    """Age in whole years, derived from a date-of-birth column of the same table at `reference_date`."""

    type: Literal["age"] = "age"
    dob_column: str = Field(min_length=1)
    reference_date: date


class ConstantColumn(BaseColumn):
    """A column holding one value in every row."""

    type: Literal["constant"] = "constant"
    value: Union[bool, int, float, str, None] = None


Column = Annotated[
    Union[
        IdColumn,
        ForeignKeyColumn,
        CategoryColumn,
        IntegerColumn,
        FloatColumn,
        BoolColumn,
        DatetimeColumn,
        DateColumn,
        PersonColumn,
        LocationColumn,
        AgeColumn,
        ConstantColumn,
    ],
    Field(discriminator="type"),
]

KEY_COLUMN_TYPES = (IdColumn, ForeignKeyColumn)
COLUMN_KEYS = sorted(
    {
        key
        for model in (IdColumn, ForeignKeyColumn, CategoryColumn, IntegerColumn, FloatColumn, BoolColumn)
        + (DatetimeColumn, DateColumn, PersonColumn, LocationColumn, AgeColumn, ConstantColumn)
        for key in model.model_fields
    }
)


def check_column_keys(table: str, columns: List[object]) -> None:
    """Raise ValueError naming the keys that no column type has, in columns (raw dicts) without a `type`: a
    typo such as `tpye` would otherwise be "Unable to extract tag using discriminator 'type'" once per column,
    without the key. (An unknown key beside a valid `type` is pydantic's own error, with its full path.)"""
    unknown: Dict[str, List[str]] = {}
    for position, column in enumerate(columns):
        if isinstance(column, dict) and "type" not in column:
            for key in column:
                if key not in COLUMN_KEYS:
                    unknown.setdefault(str(key), []).append(str(column.get("name", f"#{position}")))
    if not unknown:
        return
    import difflib

    parts = []
    for key, names in unknown.items():
        close = difflib.get_close_matches(key, COLUMN_KEYS, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        shown = ", ".join(f"'{name}'" for name in names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        parts.append(f"unknown key '{key}'{hint} in column(s) {shown}")
    raise ValueError(f"table '{table}': " + "; ".join(parts) + f" (column keys: {', '.join(COLUMN_KEYS)})")
SORT_BY_TYPES = (DatetimeColumn, DateColumn, IntegerColumn, FloatColumn)
"""Column types a sequential table may order its rows by (generated as non-negative gaps from the previous row)."""


class BaseTable(HazyBaseModel):
    """A table: its columns and its primary key (one column, or several for a composite key).

    With `primary_key` empty, a table's single `id` column is its primary key.
    """

    name: str = Field(min_length=1)
    columns: List[Column] = Field(min_length=1)
    primary_key: List[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _no_unknown_column_keys(cls, data: object) -> object:
        """A key no column type knows (a typo such as `tpye`) is one error naming it, not one per column."""
        if isinstance(data, dict) and isinstance(data.get("columns"), list):
            check_column_keys(str(data.get("name", "")), data["columns"])
        return data

    @model_validator(mode="after")
    def _columns_consistent(self) -> BaseTable:
        names = [column.name for column in self.columns]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"table '{self.name}': duplicate column name(s) {duplicates}")
        self._require_columns(self.primary_key, "primary_key")
        if len(set(self.primary_key)) != len(self.primary_key):
            raise ValueError(f"table '{self.name}', primary_key: a column is listed twice")
        for column in self.primary_key:
            if not isinstance(self.column(column), KEY_COLUMN_TYPES):
                raise ValueError(
                    f"table '{self.name}', primary_key column '{column}': must be an id or foreign_key column"
                )
        id_columns = [c.name for c in self.columns if isinstance(c, IdColumn)]
        if not self.primary_key and len(id_columns) > 1:
            raise ValueError(f"table '{self.name}': several id columns {id_columns}; name the key in primary_key")
        for column in self.columns:
            if isinstance(column, AgeColumn):
                dob = self.column(column.dob_column) if column.dob_column in names else None
                if not isinstance(dob, (DateColumn, DatetimeColumn)):
                    raise ValueError(
                        f"table '{self.name}', column '{column.name}': dob_column '{column.dob_column}' "
                        "must be a date or datetime column of the same table"
                    )
        return self

    def _require_columns(self, columns: List[str], field: str) -> None:
        names = {column.name for column in self.columns}
        for column in columns:
            if column not in names:
                raise ValueError(f"table '{self.name}', {field}: unknown column '{column}'")

    def column(self, name: str) -> Column:
        """The column called `name` (KeyError naming the table when there is none)."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"table '{self.name}' has no column '{name}'")

    @property
    def key_columns(self) -> List[str]:
        """The primary key: `primary_key`, or the table's id column."""
        if self.primary_key:
            return list(self.primary_key)
        return [c.name for c in self.columns if isinstance(c, IdColumn)]

    @property
    def foreign_keys(self) -> List[ForeignKeyColumn]:
        """The table's foreign-key columns."""
        return [c for c in self.columns if isinstance(c, ForeignKeyColumn)]


class TabularTable(BaseTable):
    """Independent rows, modelled by the generator."""

    type: Literal["tabular"] = "tabular"


class ReferenceTable(BaseTable):
    """A lookup table copied as it is (same rows, source row count)."""

    type: Literal["reference"] = "reference"


class SequentialTable(BaseTable):
    """Rows grouped by `sequence_id` and ordered by `sort_by` (transactions of an account, say)."""

    type: Literal["sequential"] = "sequential"
    sequence_id: Optional[str] = Field(default=None, description="Column that identifies a sequence.")
    sort_by: List[str] = Field(default_factory=list, description="Columns that order rows in a sequence.")

    @model_validator(mode="after")
    def _sequence_columns_exist(self) -> SequentialTable:
        if not self.sequence_id:
            raise ValueError(f"sequential table '{self.name}': sequence_id is required")
        self._require_columns([self.sequence_id], "sequence_id")
        self._require_columns(self.sort_by, "sort_by")
        where = f"sequential table '{self.name}'"
        if not isinstance(self.column(self.sequence_id), ForeignKeyColumn):
            raise ValueError(
                f"{where}, sequence_id '{self.sequence_id}': must be a foreign_key column to the owner table "
                f"(it is '{self.column(self.sequence_id).type}'; a sequence id without an owner table is not "
                "supported)"
            )
        if not self.sort_by:
            raise ValueError(f"{where}, sort_by: name at least one column that orders the rows of a sequence")
        if len(set(self.sort_by)) != len(self.sort_by):
            raise ValueError(f"{where}, sort_by: a column is listed twice")
        for name in self.sort_by:
            column = self.column(name)
            orderable = isinstance(column, SORT_BY_TYPES) or (
                isinstance(column, IdColumn) and column.format == IdFormat.NUMERICAL
            )
            if name == self.sequence_id or not orderable:
                reason = " (it is the sequence_id)" if name == self.sequence_id else ""
                raise ValueError(
                    f"{where}, sort_by column '{name}': must be a datetime, date, integer or float column (or a "
                    f"numerical id), not '{column.type}'{reason}"
                )
        return self


# A table without `type` is tabular.
Table = Annotated[
    Union[
        Annotated[TabularTable, Tag("tabular")],
        Annotated[ReferenceTable, Tag("reference")],
        Annotated[SequentialTable, Tag("sequential")],
    ],
    tag_or_default("type", "tabular", ["tabular", "reference", "sequential"]),
]


class DataSchema(HazyBaseModel):
    """Every table to synthesise, with its columns and keys.

    Validated as a whole: table names are unique, every foreign key names an existing table and key
    column, and foreign keys form no cycle (a table referencing itself, such as an employee's manager,
    is allowed).
    """

    tables: List[Table] = Field(min_length=1)

    @model_validator(mode="after")
    def _schema_consistent(self) -> DataSchema:
        names = [table.name for table in self.tables]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate table name(s) {duplicates}")
        tables = {table.name: table for table in self.tables}
        for table in self.tables:
            for fk in table.foreign_keys:
                where = f"table '{table.name}', column '{fk.name}'"
                target = tables.get(fk.ref_table)
                if target is None:
                    raise ValueError(f"{where}: foreign key to unknown table '{fk.ref_table}'")
                if fk.ref_column not in {c.name for c in target.columns}:
                    raise ValueError(
                        f"{where}: foreign key to unknown column '{fk.ref_column}' of table '{fk.ref_table}'"
                    )
                if fk.ref_column not in target.key_columns:
                    raise ValueError(
                        f"{where}: foreign key to '{fk.ref_table}.{fk.ref_column}', which is not a "
                        f"primary key column of '{fk.ref_table}'"
                    )
        for table in self.tables:
            if isinstance(table, SequentialTable):
                owner = table.column(table.sequence_id)
                if owner.ref_table == table.name or isinstance(tables[owner.ref_table], ReferenceTable):
                    raise ValueError(
                        f"sequential table '{table.name}', sequence_id '{owner.name}': its owner table "
                        f"'{owner.ref_table}' must be another, modelled (not reference) table"
                    )
        cycle = find_foreign_key_cycle(self.parents_by_table())
        if cycle:
            raise ValueError("cycle of foreign keys: " + " -> ".join(cycle))
        return self

    def table(self, name: str) -> Table:
        """The table called `name` (KeyError naming it when there is none)."""
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(f"the schema has no table '{name}'")

    @property
    def table_names(self) -> List[str]:
        """Table names in schema order."""
        return [table.name for table in self.tables]

    def parents_by_table(self) -> Dict[str, List[str]]:
        """For each table, the other tables it references (self-references left out)."""
        return {
            table.name: sorted({fk.ref_table for fk in table.foreign_keys if fk.ref_table != table.name})
            for table in self.tables
        }


def find_foreign_key_cycle(parents_by_table: Dict[str, List[str]]) -> List[str]:
    """A cycle in the table graph as a list of names (first repeated at the end), or [] if none."""
    state: Dict[str, int] = {}  # 1: on the current path, 2: finished
    path: List[str] = []

    def visit(name: str) -> List[str]:
        state[name] = 1
        path.append(name)
        for parent in parents_by_table.get(name, []):
            if state.get(parent) == 1:
                return path[path.index(parent) :] + [parent]
            if parent not in state:
                found = visit(parent)
                if found:
                    return found
        path.pop()
        state[name] = 2
        return []

    for name in parents_by_table:
        if name not in state:
            found = visit(name)
            if found:
                return found
    return []
