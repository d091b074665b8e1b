"""From a generator reference (a `GenerationConfig.generator`) to a local model file, through the registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union


def resolve_model_file(
    reference: Any, registry: Optional[Any] = None, cache_dir: Optional[Union[str, Path]] = None
) -> Path:
    """The local path of the model a generator reference addresses: the active version's model with the
    reference's synthesiser/epsilon, else its most private one meeting `min_scores` (cached by SHA-256).

    `reference` is a generator name or a `config.GeneratorReference`.
    """
    from .registry import Registry

    if isinstance(reference, str):
        name, address = reference, {}
    else:
        name = reference.name
        address = {
            "synthesiser": reference.synthesiser,
            "epsilon": reference.epsilon,
            "min_scores": dict(reference.min_scores or {}),
            "version": reference.version,
        }
    if registry is not None:
        return registry.fetch(name, cache_dir, **address)
    with Registry() as opened:
        return opened.fetch(name, cache_dir, **address)
