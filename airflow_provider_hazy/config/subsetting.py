"""Database subsetting: downsample a multi-table dataset without breaking a foreign key."""

from __future__ import annotations

from typing import Optional

from pydantic import Field, model_validator

from .base import HazyBaseModel


class DatabaseSubsettingParams(HazyBaseModel):
    """Keep a fraction (or a number) of the rows of `target_table`; their parents are kept and children follow.

    `test_fraction` is the share of the kept target rows held out as a test set when the training
    config sets `train_test_split`.
    """

    target_table: str = Field(min_length=1)
    fraction: Optional[float] = Field(default=None, gt=0, le=1, allow_inf_nan=False)
    n_rows: Optional[int] = Field(default=None, gt=0)
    test_fraction: float = Field(default=0.2, gt=0, lt=1, allow_inf_nan=False)

    @model_validator(mode="after")
    def _one_size(self) -> DatabaseSubsettingParams:
        if (self.fraction is None) == (self.n_rows is None):
            raise ValueError(
                f"database_subsetting_params for table '{self.target_table}': set exactly one of fraction and n_rows"
            )
        return self
