"""The configuration of `hazy evaluate`: score any real/synthetic pair of tables on demand.

Not part of the reference configurator (our addition). The schema comes from `data_schema`, else from
the model file `model`; `real`, `synthetic` and `holdout` list where each table is read from (files,
`s3://` objects, or database tables through `data_sources`).
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Union

from pydantic import Field, model_validator

from .base import VersionedHazyBaseModel
from .data_location import DataLocationInput, DataSource, check_source_ids
from .evaluation import EvaluationConfig
from .schema import DataSchema


class EvaluateConfig(VersionedHazyBaseModel):
    """Which real, synthetic and (optional) held-out tables to score, with which metrics, written where."""

    model: Optional[Union[str, Path]] = Field(default=None, description="Model file (.hmf) giving the schema.")
    data_schema: Optional[DataSchema] = Field(default=None, description="The schema; takes precedence over model.")
    real: List[DataLocationInput] = Field(min_length=1, description="The real tables (what the model saw).")
    synthetic: List[DataLocationInput] = Field(min_length=1, description="The synthetic tables to score.")
    holdout: List[DataLocationInput] = Field(
        default_factory=list, description="Real rows the model did not see: needed by utility and privacy metrics."
    )
    data_sources: List[DataSource] = Field(default_factory=list)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    random_state: Optional[int] = None
    output: Optional[str] = Field(default=None, description="Path of the JSON results to write.")

    @model_validator(mode="after")
    def _consistent(self) -> EvaluateConfig:
        if self.model is None and self.data_schema is None:
            raise ValueError("set data_schema, or model (a model file whose schema is used)")
        for field in ("real", "synthetic", "holdout"):
            names = [item.name for item in getattr(self, field)]
            duplicates = sorted({name for name in names if names.count(name) > 1})
            if duplicates:
                raise ValueError(f"{field}: table(s) {duplicates} listed more than once")
            if self.data_schema is not None:
                unknown = [n for n in names if n not in self.data_schema.table_names]
                if unknown:
                    tables = self.data_schema.table_names
                    raise ValueError(f"{field}: table(s) {unknown} are not in data_schema {tables}")
        located = [
            (f"{field} '{item.name}'", item.location)
            for field in ("real", "synthetic", "holdout")
            for item in getattr(self, field)
        ]
        check_source_ids(located, self.data_sources)
        return self
