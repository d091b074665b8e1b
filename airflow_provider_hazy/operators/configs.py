"""What every Hazy operator shares: config loading, connection overrides and the Assets a config writes.

A connection-id argument never copies a secret into the config: it maps the config's data-source ids to
Airflow connection ids, and the task resolves them through `hooks.airflow_source_resolver` inside
`io.sources.use_resolver`, so the URL lives only in the engine's memory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple, Type, TypeVar, Union

from ..config import (
    DatabaseReadTableConfig,
    GenerationConfig,
    PathReadTableConfig,
    PathWriteTableConfig,
    SecretDataSource,
    TrainingConfig,
)
from ..io.s3 import is_s3_path

ConfigT = TypeVar("ConfigT", TrainingConfig, GenerationConfig)
OperatorConfig = Union[TrainingConfig, GenerationConfig, Dict[str, Any], str, Path]
Overrides = Dict[str, str]


def load_config(config: OperatorConfig, kind: Type[ConfigT]) -> ConfigT:
    """A config object from an object, a dict (rendered by Jinja; numeric strings coerce) or a JSON/YAML path."""
    if isinstance(config, kind):
        return config
    if isinstance(config, dict):
        return kind.model_validate(config)
    if isinstance(config, (str, Path)):
        return kind.from_file(config)
    raise TypeError(f"config: expected a {kind.__name__}, a dict or a path to JSON/YAML, not {type(config).__name__}")


def _locations(config: Union[TrainingConfig, GenerationConfig]) -> List[Tuple[str, Any]]:
    """(role, location) of every table location: role 'source' for data_input, 'target' for data_output."""
    if isinstance(config, TrainingConfig):
        return [("source", item) for item in config.data_input]
    return [("target", item) for item in config.data_output]


def _aws_source_id(conn_id: str) -> str:
    return "aws_" + re.sub(r"[^A-Za-z0-9_.-]", "_", conn_id)


def apply_connections(
    config: ConfigT,
    *,
    source_conn_id: Optional[str] = None,
    target_conn_id: Optional[str] = None,
    aws_conn_id: Optional[str] = None,
) -> Tuple[ConfigT, Overrides]:
    """The config with S3 locations bound to `aws_conn_id`, and the map source id -> Airflow connection id.

    `source_conn_id` takes over every database source of `data_input`, `target_conn_id` every database
    target of `data_output`, `aws_conn_id` every S3 path of either. Overridden data sources lose any inline
    secret (`connection_url`).
    """
    conn_by_role = {"source": source_conn_id, "target": target_conn_id}
    overrides: Overrides = {}
    aws_id = _aws_source_id(aws_conn_id) if aws_conn_id else None
    rebound = []
    for role, item in _locations(config):
        location = item.location
        if isinstance(location, DatabaseReadTableConfig):
            if conn_by_role[role]:
                overrides[location.source_id] = conn_by_role[role]
        elif aws_id and is_s3_path(getattr(location, "path", location)):
            if isinstance(location, str):
                location = (PathReadTableConfig if role == "source" else PathWriteTableConfig)(path=location)
            if location.source_id is None:
                location = location.model_copy(update={"source_id": aws_id})
            overrides[location.source_id] = aws_conn_id
            item = item.model_copy(update={"location": location})
        rebound.append(item)
    if not overrides:
        return config, overrides
    declared = {source.id: source for source in config.data_sources}
    sources = [
        SecretDataSource(
            id=source.id,
            name=source.name,
            conn_id=overrides[source.id],
            connect_timeout=source.connect_timeout,
            read_timeout=source.read_timeout,
        )
        if source.id in overrides
        else source
        for source in config.data_sources
    ]
    sources += [SecretDataSource(id=sid, conn_id=conn) for sid, conn in overrides.items() if sid not in declared]
    field = "data_input" if isinstance(config, TrainingConfig) else "data_output"
    data = config.model_dump(mode="python", exclude={field, "data_sources"})
    return type(config).model_validate({**data, field: rebound, "data_sources": sources}), overrides


def connection_resolver(overrides: Overrides):
    """A source resolver through Airflow connections: the overridden connection id, else the source's own."""
    from ..hooks import airflow_source_resolver

    def resolve(source: SecretDataSource) -> str:
        conn_id = overrides.get(source.id, source.connection_id)
        return airflow_source_resolver(SecretDataSource(id=source.id, conn_id=conn_id))

    return resolve


def _asset(uri: str, name: Optional[str] = None) -> Any:
    from airflow.sdk import Asset

    return Asset(uri=uri, name=name or uri)


def path_asset(path: Optional[str]) -> Optional[Any]:
    """The Asset of a file or S3 path (None when unset or still a Jinja template)."""
    if not path or "{{" in str(path):
        return None
    path = str(path)
    if is_s3_path(path):
        return _asset(path)
    return _asset("file://" + os.path.abspath(path))


def location_asset(location: Any, conn_id: Optional[str] = None) -> Optional[Any]:
    """The Asset of a table location: `x-hazy-sql://<connection>/<schema.table>` for a database table."""
    if isinstance(location, DatabaseReadTableConfig):
        table = ".".join(part for part in (location.schema_name, location.table_name) if part)
        if "{{" in table:
            return None
        return _asset(f"x-hazy-sql://{conn_id or location.source_id}/{table}")
    return path_asset(getattr(location, "path", location))


def config_outlets(config: Any, kind: Type[ConfigT], target_conn_id: Optional[str] = None) -> List[Any]:
    """The Assets a generation config writes (its data_output), or a training config (its model), when
    the config is already an object or a dict; a path or a template is only read at run time: []."""
    if isinstance(config, dict):
        try:
            config = kind.model_validate(config)
        except Exception:  # noqa: BLE001 - templated values validate at run time, with the task's error
            return []
    if not isinstance(config, kind):
        return []
    if isinstance(config, TrainingConfig):
        found: Iterable[Any] = [path_asset(getattr(config.model_output, "path", config.model_output))]
    else:
        found = [location_asset(item.location, target_conn_id) for item in config.data_output]
    return [asset for asset in found if asset is not None]
