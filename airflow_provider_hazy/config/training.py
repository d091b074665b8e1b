"""The training configuration: what to read, how to model it, where the model goes."""

from __future__ import annotations

from datetime import datetime
from typing import Dict, List, Optional, Union

from pydantic import Field, field_validator, model_validator

from .base import HazyBaseModel
from .data_location import (
    DataLocationInput,
    DataSource,
    GenericEndpoint,
    PathWriteTableConfig,
    SecretDataSourceIO,
    check_source_ids,
)
from .evaluation import EvaluationConfig
from .model_parameters import ModelParameters
from .sample_params import SampleParams
from .schema import DataSchema
from .subsetting import DatabaseSubsettingParams


class TrainingConfig(HazyBaseModel):
    """Main training config used to initiate a training job."""

    created_at: Optional[datetime] = None
    model_output: Optional[Union[PathWriteTableConfig, GenericEndpoint, str]] = None
    data_schema: DataSchema
    data_input: List[DataLocationInput]
    data_sources: List[DataSource] = Field(default_factory=list)
    model_parameters: ModelParameters = Field(default_factory=ModelParameters)
    evaluation: Optional[EvaluationConfig] = Field(default_factory=EvaluationConfig)
    sample_params: Optional[SampleParams] = Field(default_factory=SampleParams)
    train_test_split: bool = False
    database_subsetting_params: Optional[DatabaseSubsettingParams] = None
    random_state: Optional[int] = None
    title: str = ""
    description: str = ""
    metadata: Dict[str, str] = Field(default_factory=dict)
    nrows: Optional[int] = Field(default=None, gt=0)
    strip_strings: bool = False
    empty_strings_as_null: bool = True
    acknowledgement: bool = False

    @field_validator("metadata", mode="before")
    @classmethod
    def _metadata_as_strings(cls, value: object) -> object:
        if isinstance(value, dict):
            return {str(key): str(item) for key, item in value.items()}
        return value

    @model_validator(mode="after")
    def _inputs_match_schema(self) -> TrainingConfig:
        tables = self.data_schema.table_names
        names = [item.name for item in self.data_input]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"data_input: table(s) {duplicates} listed more than once")
        unknown = [name for name in names if name not in tables]
        if unknown:
            raise ValueError(f"data_input: table(s) {unknown} are not in data_schema (tables: {tables})")
        missing = [name for name in tables if name not in names]
        if missing:
            raise ValueError(f"data_input: no location for table(s) {missing} of data_schema")
        located = [(f"data_input '{item.name}'", item.location) for item in self.data_input]
        check_source_ids([*located, ("model_output", self.model_output)], self.data_sources)
        subsetting = self.database_subsetting_params
        if subsetting is not None and subsetting.target_table not in tables:
            raise ValueError(f"database_subsetting_params.target_table: unknown table '{subsetting.target_table}'")
        for metric in self.evaluation.metrics if self.evaluation else []:
            if metric.table is not None and metric.table not in tables:
                raise ValueError(f"evaluation metric '{metric.metric_type.value}': unknown table '{metric.table}'")
        return self

    def sanitize(self) -> TrainingConfig:
        """A copy with every inline secret of `data_sources` dropped."""
        return self.model_copy(update={"data_sources": sanitize_sources(self.data_sources)})


def sanitize_sources(sources: List[DataSource]) -> List[DataSource]:
    """Data sources with inline secrets replaced by their secret-free form."""
    return [s.without_secret() if isinstance(s, SecretDataSourceIO) else s for s in sources]
