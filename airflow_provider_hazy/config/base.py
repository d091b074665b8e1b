"""Base classes shared by every configuration model: strict fields, file round trips, JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import BaseModel, ConfigDict
from typing_extensions import Self

_YAML_SUFFIXES = {".yaml", ".yml"}


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a JSON or YAML file (chosen by extension) into a dict."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text) if path.suffix.lower() in _YAML_SUFFIXES else json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a configuration file must hold an object, not {type(data).__name__}")
    return data


class HazyBaseModel(BaseModel):
    """Every configuration object: unknown fields are errors, values are re-validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_enum_values=False)

    @classmethod
    def from_file(cls, path: str | Path) -> Self:
        """Load from a `.json`, `.yaml` or `.yml` file."""
        return cls.model_validate(read_config_file(path))

    def to_file(self, path: str | Path) -> Path:
        """Write to a `.json`, `.yaml` or `.yml` file (chosen by extension); returns the path."""
        path = Path(path)
        data = self.model_dump(mode="json")
        if path.suffix.lower() in _YAML_SUFFIXES:
            text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        else:
            text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        path.write_text(text, encoding="utf-8")
        return path

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON Schema of this configuration class (validation mode)."""
        return cls.model_json_schema()


class VersionedHazyBaseModel(HazyBaseModel):
    """A top-level configuration whose layout is versioned with the package's config format."""

    CONFIG_FORMAT_VERSION: ClassVar[int] = 1
