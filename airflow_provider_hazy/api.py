"""The engine's public entry points: the same calls serve a notebook, the `hazy` command line and the
Airflow operators.

- `train(config) -> model path`, `inspect_model(path)`;
- `generate(config, batch_indices=None, run_id=None) -> state`, `list_batches(config) -> batch indices`,
  `publish(config, run_id)` (a mapped run's last step);
- `evaluate(config)`, `validate(config)`, `subset(config, output_dir)`.

A config is a config object, a dict or a YAML/JSON file path. This module is the facade only: each call
validates its config and hands it to its stage in `pipeline/` (docs/architecture.md). `fit`, `load_model`,
`save_model`, `Model` and `GenerationError` are re-exported for callers that hold a model in memory.

A schema of several tables linked by foreign keys is one model: tables are fitted parents first, each child
with its degree model and conditioned on its driving parent's columns; generation makes batches that are each
referentially complete (core/multitable.py, docs/multitable.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from .config import EvaluateConfig, GenerationConfig, TrainingConfig
from .io.local_paths import require_local_path
from .io.locations import location_path
from .pipeline import evaluation, generation, publication, sources, training
from .pipeline.model import Model, load_model, save_model
from .pipeline.model import inspect_model as _inspect_model
from .pipeline.publication import GenerationError

__all__ = [
    "GenerationError",
    "Model",
    "evaluate",
    "fit",
    "generate",
    "inspect_model",
    "list_batches",
    "load_model",
    "publish",
    "save_model",
    "subset",
    "train",
    "validate",
]

ConfigLike = Union[TrainingConfig, GenerationConfig, Dict[str, Any], str, Path]


def _as_config(config: Any, kind: type) -> Any:
    if isinstance(config, kind):
        return config
    if isinstance(config, dict):
        return kind.model_validate(config)
    return kind.from_file(config)


def fit(config: ConfigLike, *, chunk_rows: Optional[int] = None) -> Model:
    """Train a model in memory (`pipeline.training.fit`): every table's network in parent-first order and
    each foreign key's degree model, all charged to one ledger; tables with no foreign-key relation stream
    from their sources in chunks of `chunk_rows` (docs/streaming.md)."""
    return training.fit(_as_config(config, TrainingConfig), chunk_rows=chunk_rows)


def train(config: ConfigLike, *, chunk_rows: Optional[int] = None) -> Path:
    """Train on the configured source tables and write the model file; returns its path."""
    config = _as_config(config, TrainingConfig)
    output = location_path(config.model_output) if config.model_output is not None else None
    if output is None:
        raise ValueError("model_output: set the path of the model file (.hmf) to write")
    require_local_path(output, "model_output")
    return save_model(training.fit(config, chunk_rows=chunk_rows), output)


def inspect_model(path: Union[str, Path]) -> Dict[str, Any]:
    """What a model holds, from its manifest alone: synthesiser, privacy ledger, tables (each with its share of
    epsilon, its columns and network, its degree model), the foreign-key relations."""
    return _inspect_model(path)


def _generation_config(config: ConfigLike) -> GenerationConfig:
    """The generation config; one naming a registry `generator` gets the local path of the model it
    addresses (the active version's, fetched and cached by SHA-256: docs/registry.md)."""
    config = _as_config(config, GenerationConfig)
    if config.generator is None:
        return config
    from .registry.resolve import resolve_model_file

    return config.model_copy(update={"model": str(resolve_model_file(config.generator)), "generator": None})


def list_batches(config: ConfigLike) -> List[int]:
    """The batch indices of a generation run (its model's tables, magnitude and batch_magnitude); each can be
    generated and written on its own with `generate(config, batch_indices=[i])`."""
    return generation.list_batches(_generation_config(config))


def generate(
    config: ConfigLike,
    batch_indices: Optional[Sequence[int]] = None,
    *,
    run_id: Optional[str] = None,
    lock_wait: Optional[float] = None,
) -> Dict[str, Any]:
    """Generate every configured table in batches and write it; returns the generation state (a report).

    Batch i holds the root-table rows of batch i and all their descendants, so it is referentially complete
    on its own; a batch that fails to write goes to the location's fail-safe path when one is set, otherwise
    the run raises `GenerationError` carrying the state. The run writes into staging of its own, validates
    it and publishes it in one step, holding the targets' locks (write-audit-publish, docs/publish.md):
    `state["published"]` says what was published, False when nothing was. `batch_indices` makes a mapped
    run (`[]` is the prepare step, which makes the `run_id`; `[i, ...]` generates those batches into the
    run's staging, replacing an earlier attempt's rows; `publish(config, run_id)` ends it):
    `pipeline.generation.generate` and docs/airflow.md say how.
    """
    return generation.generate(_generation_config(config), batch_indices, run_id=run_id, lock_wait=lock_wait)


def publish(config: ConfigLike, run_id: str, *, lock_wait: Optional[float] = None) -> Dict[str, Any]:
    """The last step of a mapped run: validate the staging its prepare step and batches wrote and publish it
    into the targets, under their locks (`pipeline.publication.publish`)."""
    return publication.publish(_generation_config(config), run_id, lock_wait=lock_wait)


def evaluate(config: Union[EvaluateConfig, Dict[str, Any], str, Path]) -> Dict[str, Any]:
    """`hazy evaluate`: score a real/synthetic pair (an `EvaluateConfig`); results keyed by metric_type,
    computed outside the privacy budget (the result says so), written to `config.output` when set."""
    return evaluation.evaluate_pair(_as_config(config, EvaluateConfig))


def validate(config: ConfigLike) -> Dict[str, Any]:
    """`hazy validate`: functional validation of what a generation config wrote, against its model; the
    report (also written beside `generation_state_path`, when set)."""
    config = _generation_config(config)
    return evaluation.write_validation_report(config, load_model(generation.model_path(config)))


def subset(config: ConfigLike, output_dir: Union[str, Path]) -> Dict[str, Any]:
    """Read every input table, keep the referentially intact subset of `database_subsetting_params` (and hold
    out the test set of `train_test_split`), and write it as Parquet with a training config reading it;
    returns the tables' row counts, the config's path and the summary (docs/subsetting.md)."""
    return sources.write_subset(_as_config(config, TrainingConfig), output_dir)
