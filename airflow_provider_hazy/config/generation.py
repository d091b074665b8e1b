"""The generation configuration: which model, how much data, where it is written."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Dict, List, Optional, Union

from pydantic import Field, model_validator

from .base import VersionedHazyBaseModel
from .data_location import (
    DataLocationOutput,
    DataSource,
    PathReadTableConfig,
    PathWriteTableConfig,
    check_source_ids,
)
from .sample_params import GenSampleParams
from .training import sanitize_sources


class ValidationConfig(VersionedHazyBaseModel):
    """Whether generated data is validated against the model's metadata and a report written."""

    enable: bool = True


class GeneratorReference(VersionedHazyBaseModel):
    """A model in the generator registry: the generator's active version (or `version`), the model with this
    synthesiser and epsilon, else the most private one whose stored scores meet `min_scores`."""

    name: str = Field(min_length=1)
    synthesiser: Optional[str] = None
    epsilon: Optional[float] = Field(default=None, gt=0)
    min_scores: Dict[str, float] = Field(default_factory=dict)
    version: Optional[int] = Field(default=None, ge=1)


class GenerationConfig(VersionedHazyBaseModel):
    """Main generation config used to initiate a generation job."""

    created_at: Optional[datetime] = None
    model: Optional[Union[PathReadTableConfig, str, Path]] = None
    data_output: List[DataLocationOutput]
    data_sources: List[DataSource] = Field(default_factory=list)
    random_state: Optional[int] = None
    generate_params: GenSampleParams = Field(default_factory=GenSampleParams)
    validation: Optional[ValidationConfig] = Field(default_factory=ValidationConfig)
    generation_state_path: Optional[Union[PathWriteTableConfig, str]] = None
    # Ours, after the reference fields: a registry generator (name or reference) instead of `model`, whose
    # active model is generated from (docs/registry.md).
    generator: Optional[Union[str, GeneratorReference]] = None

    @model_validator(mode="after")
    def _outputs_consistent(self) -> GenerationConfig:
        if self.model is not None and self.generator is not None:
            raise ValueError("model and generator: set one (a model file, or a registry generator), not both")
        names = [item.name for item in self.data_output]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"data_output: table(s) {duplicates} listed more than once")
        located = [(f"data_output '{item.name}'", item.location) for item in self.data_output]
        located += [("model", self.model), ("generation_state_path", self.generation_state_path)]
        check_source_ids(located, self.data_sources)
        post = self.generate_params.post_generation
        for entry in post.tables if post else []:
            if entry.table not in names:
                raise ValueError(f"post_generation: table '{entry.table}' is not in data_output {names}")
        return self

    def sanitize(self) -> GenerationConfig:
        """A copy with every inline secret of `data_sources` dropped."""
        return self.model_copy(update={"data_sources": sanitize_sources(self.data_sources)})
