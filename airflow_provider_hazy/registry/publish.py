"""Publishing a freshly trained model: upload into a new draft version, activate when the scores are good."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, Optional, Union

from .registry import NotFound, Registry, meets


def register_model(
    path: Union[str, Path],
    generator: str,
    *,
    activate_when: Optional[Mapping[str, float]] = None,
    teams: Iterable[str] = (),
    description: str = "",
    note: str = "",
    registry: Optional[Registry] = None,
) -> Dict[str, Any]:
    """Upload `path` into a new draft version of `generator` (created with `teams` if it does not exist)
    and activate that version when `activate_when` is given and every minimum score is met (`{}`: always).

    Returns `{"generator", "version", "sha256", "epsilon", "scores", "activated", "reason"}`.
    """
    opened = registry or Registry()
    try:
        try:
            opened.generator(generator)
        except NotFound:
            opened.create_generator(generator, description, teams)
        model = opened.upload(generator, path, note=note)
        scores = model.scores
        if activate_when is None:
            activated, reason = False, "left draft: no activation thresholds given (activate_when)"
        elif meets(scores, activate_when):
            opened.activate(generator, model.version)
            activated, reason = True, f"activated: scores {scores} meet {dict(activate_when)}"
        else:
            activated, reason = False, f"left draft: scores {scores} do not meet {dict(activate_when)}"
        return {
            "generator": generator,
            "version": model.version,
            "sha256": model.sha256,
            "epsilon": model.epsilon,
            "scores": scores,
            "activated": activated,
            "reason": reason,
        }
    finally:
        if registry is None:
            opened.close()
