"""Base classes shared by every configuration model: strict fields, file round trips, JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Sequence

import yaml
from pydantic import BaseModel, ConfigDict, Discriminator
from typing_extensions import Self

_YAML_SUFFIXES = {".yaml", ".yml"}


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a JSON or YAML file (chosen by extension) into a dict."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    is_yaml = path.suffix.lower() in _YAML_SUFFIXES
    try:
        data = yaml.safe_load(text) if is_yaml else json.loads(text)
    except (yaml.YAMLError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not valid {'YAML' if is_yaml else 'JSON'}: {error}") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a configuration file must hold an object, not {type(data).__name__}")
    return data


class HazyBaseModel(BaseModel):
    """Every configuration object: unknown fields are errors, values are re-validated on assignment, and an
    error never prints the value it rejects (it may be a connection URL with its password)."""

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, use_enum_values=False, hide_input_in_errors=True
    )

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


def tag_or_default(field: str, default: str, tags: Sequence[str]) -> Discriminator:
    """A union discriminator on `field` that takes `default` when the field is left out."""

    def tag(value: Any) -> str:
        if isinstance(value, dict):
            return str(value.get(field, default))
        found = getattr(value, field, default)
        return str(getattr(found, "value", found))

    return Discriminator(
        tag,
        custom_error_type="unknown_tag",
        custom_error_message=f"'{field}' must be one of {', '.join(repr(t) for t in tags)}",
    )
