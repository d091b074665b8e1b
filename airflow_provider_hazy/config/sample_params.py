"""How much data is generated, and what happens to it right after sampling."""

from __future__ import annotations

from typing import Annotated, Dict, List, Literal, Optional, Union

from pydantic import Field, model_validator

from .base import HazyBaseModel


class BaseSampleParams(HazyBaseModel):
    """Amount of synthetic data, as a proportion of the training rows of each table."""

    magnitude: float = Field(default=1.0, gt=0, allow_inf_nan=False)


class SampleParams(BaseSampleParams):
    """The synthetic sample stored in the model for inspection."""

    auto_magnitude: bool = Field(
        default=True,
        description="Set the magnitude so that the sample holds at least 25 rows; takes precedence over magnitude.",
    )


class DropColumns(HazyBaseModel):
    """Remove columns from the generated table."""

    action: Literal["drop_columns"] = "drop_columns"
    columns: List[str] = Field(min_length=1)


class RenameColumns(HazyBaseModel):
    """Rename columns of the generated table (old name -> new name)."""

    action: Literal["rename_columns"] = "rename_columns"
    mapping: Dict[str, str] = Field(min_length=1)


class ClipColumn(HazyBaseModel):
    """Clip a numeric column to [lower, upper]."""

    action: Literal["clip"] = "clip"
    column: str
    lower: Optional[float] = None
    upper: Optional[float] = None

    @model_validator(mode="after")
    def _bounds_ordered(self) -> ClipColumn:
        if self.lower is None and self.upper is None:
            raise ValueError(f"clip of column '{self.column}': set lower, upper or both")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError(f"clip of column '{self.column}': lower ({self.lower}) > upper ({self.upper})")
        return self


class CastColumn(HazyBaseModel):
    """Cast a column to another type."""

    action: Literal["cast"] = "cast"
    column: str
    dtype: Literal["int", "float", "str", "bool", "datetime", "date"]


class SqlExpression(HazyBaseModel):
    """Set a column to a SQL expression over the generated table's columns (evaluated in SQLite)."""

    action: Literal["sql_expression"] = "sql_expression"
    column: str
    expression: str = Field(min_length=1)


PostGenerationStep = Annotated[
    Union[DropColumns, RenameColumns, ClipColumn, CastColumn, SqlExpression], Field(discriminator="action")
]


class TablePostGeneration(HazyBaseModel):
    """Steps applied, in order, to one generated table."""

    table: str
    steps: List[PostGenerationStep] = Field(min_length=1)


class PostGenerationConfig(HazyBaseModel):
    """Per-table steps run after sampling and before writing."""

    tables: List[TablePostGeneration] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_entry_per_table(self) -> PostGenerationConfig:
        seen: set[str] = set()
        for entry in self.tables:
            if entry.table in seen:
                raise ValueError(f"post_generation: table '{entry.table}' is listed twice")
            seen.add(entry.table)
        return self


class GenSampleParams(BaseSampleParams):
    """How data is generated: amount, batching and post-processing."""

    post_generation: Optional[PostGenerationConfig] = None
    limit_strings: bool = False
    drop_unique_violation: bool = False
    batch_magnitude: Optional[float] = Field(default=None, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _batch_within_magnitude(self) -> GenSampleParams:
        if self.batch_magnitude is not None and self.batch_magnitude > self.magnitude:
            raise ValueError(f"batch_magnitude ({self.batch_magnitude}) must be <= magnitude ({self.magnitude})")
        return self
