"""The generation state files of a run: where each is written, written whole, and a mapped run's read back.

An unmapped run writes `generation_state_path`; a mapped run's prepare step and batches each write their own
beside it (`<stem>.prepare.json`, `<stem>.batch-00003.json`), so no task overwrites another's state, and a
retried batch rewrites its own file from its start. A state file is replaced in one rename (written beside it
first), so a reader never sees half of one, even from a task killed while writing it.

A mapped batch's state carries its validation checks (`batch_checks`, `pipeline.batch_validation`), which
the publish step gathers with `mapped_states`: the prepare and batch states of one run id.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..config import GenerationConfig
from ..io.locations import location_path

log = logging.getLogger(__name__)


def state_path(config: GenerationConfig, state: Dict[str, Any]) -> Optional[Path]:
    """`generation_state_path`, or the prepare step's or a mapped batch's own file beside it (see above)."""
    if config.generation_state_path is None:
        return None
    path = Path(location_path(config.generation_state_path))
    if state.get("mapped") == "prepare":
        return path.with_name(f"{path.stem}.prepare{path.suffix}")
    if state.get("mapped"):
        batches = "-".join(f"{index:05d}" for index in state["batch_indices"])
        return path.with_name(f"{path.stem}.batch-{batches}{path.suffix}")
    return path


def write_state(config: GenerationConfig, state: Dict[str, Any]) -> None:
    """Write the state to its file (when `generation_state_path` is set), replacing it in one rename."""
    path = state_path(config, state)
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    partial.write_text(json.dumps(state, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(partial, path)


def mapped_states(config: GenerationConfig, run_id: str) -> List[Dict[str, Any]]:
    """The prepare and batch states of the mapped run `run_id` found beside `generation_state_path`, oldest
    file first (so that, read in order, a later attempt's entries replace an earlier one's). States of other
    runs and files that do not parse are left out; none without `generation_state_path`."""
    if config.generation_state_path is None:
        return []
    path = Path(location_path(config.generation_state_path))
    if not path.parent.is_dir():
        return []
    found = []
    for pattern in (f"{path.stem}.prepare{path.suffix}", f"{path.stem}.batch-*{path.suffix}"):
        for candidate in path.parent.glob(pattern):
            try:
                state = json.loads(candidate.read_text(encoding="utf-8"))
                modified = candidate.stat().st_mtime_ns
            except (OSError, ValueError) as error:
                log.warning("state file %s left out: %s", candidate, error)
                continue
            if isinstance(state, dict) and state.get("run_id") == run_id:
                found.append((modified, str(candidate), state))
    return [state for _, _, state in sorted(found, key=lambda item: (item[0], item[1]))]
