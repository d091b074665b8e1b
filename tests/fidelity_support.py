"""Train and generate through the public API at the configurator's defaults (only epsilon set), on tables
written to CSV files: what a new user does with `hazy train` / `hazy generate`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

import pandas as pd

from airflow_provider_hazy import api


def train_and_generate(
    directory: Path,
    frames: Dict[str, pd.DataFrame],
    schema: Dict[str, Any],
    epsilon: float,
    *,
    magnitude: float = 1.0,
    random_state: int = 7,
    generator: Optional[Dict[str, Any]] = None,
) -> Dict[str, pd.DataFrame]:
    """The synthetic tables (read back from CSV) of a model trained on `frames` with only `epsilon` set
    (plus `generator`, when given)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        frame.to_csv(directory / f"{name}.csv", index=False)
    model = directory / "model.hmf"
    api.train(
        {
            "data_schema": schema,
            "data_input": [{"name": name, "location": str(directory / f"{name}.csv")} for name in frames],
            "model_output": str(model),
            "model_parameters": {"generator": {"epsilon": epsilon, **(generator or {})}},
            "random_state": random_state,
        }
    )
    api.generate(
        {
            "model": str(model),
            "random_state": random_state,
            "generate_params": {"magnitude": magnitude},
            "data_output": [
                {"name": name, "location": {"path": str(directory / f"synthetic_{name}.csv"), "if_exists": "replace"}}
                for name in frames
            ],
        }
    )
    return {name: pd.read_csv(directory / f"synthetic_{name}.csv") for name in frames}
