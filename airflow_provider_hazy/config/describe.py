"""Plain-language summary of what a configuration reads and writes (used by `hazy check`)."""

from __future__ import annotations

from typing import List, Union

from .data_location import (
    DatabaseReadTableConfig,
    GenericEndpoint,
    PathReadTableConfig,
    PathWriteTableConfig,
)
from .generation import GenerationConfig
from .training import TrainingConfig


def describe_location(location: object) -> str:
    """One location as text: a path, a URL, or `source_id: schema.table`."""
    if location is None:
        return "(not set)"
    if isinstance(location, DatabaseReadTableConfig):
        table = f"{location.schema_name}.{location.table_name}" if location.schema_name else location.table_name
        extra = f" (if_exists={location.if_exists.value})" if hasattr(location, "if_exists") else ""
        return f"database source '{location.source_id}': table {table}{extra}"
    if isinstance(location, (PathReadTableConfig, PathWriteTableConfig)):
        extra = f" (if_exists={location.if_exists.value})" if isinstance(location, PathWriteTableConfig) else ""
        return f"{location.path}{extra}"
    if isinstance(location, GenericEndpoint):
        return location.url
    return str(location)


def describe_config(config: Union[TrainingConfig, GenerationConfig]) -> List[str]:
    """Lines saying what the config reads and writes."""
    if isinstance(config, TrainingConfig):
        generator = config.model_parameters.generator
        lines = [f"generator: {generator.generator_type} (epsilon={generator.epsilon})"]
        for table in config.data_schema.tables:
            location = next(item.location for item in config.data_input if item.name == table.name)
            lines.append(
                f"reads  {table.type} table '{table.name}' ({len(table.columns)} columns) "
                f"from {describe_location(location)}"
            )
        lines.append(f"writes model to {describe_location(config.model_output)}")
        return lines
    lines = [f"reads  model from {describe_location(config.model)}"]
    for item in config.data_output:
        lines.append(f"writes table '{item.name}' to {describe_location(item.location)}")
    if config.generation_state_path is not None:
        lines.append(f"writes generation state to {describe_location(config.generation_state_path)}")
    return lines
