"""What a run's result means: the exit codes of `hazy`, and the outcome of a generation state.

- 0: every row was written and validation passed (or was off);
- 1: a run failed (database, network, disk, a batch that could not be written anywhere);
- 2: the configuration or an input does not fit (invalid config, unset data source, missing table or
  file, values that do not parse as their declared type, a model file that is not one, a setting that
  cannot fit in memory);
- 3: some batches went to the fail-safe path instead of the target (the files are named);
- 4: everything was written and validation failed (the failing checks are named).

The CLI returns these codes; the operators fail their task in cases 3 and 4 with the same message. This
module imports nothing from Airflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_CONFIG = 2
EXIT_FAIL_SAFE = 3
EXIT_VALIDATION = 4


class ConfigError(ValueError):
    """A configuration that cannot be run as written (exit code 2); the message names the field."""

    exit_code = EXIT_CONFIG


@dataclass
class GenerationOutcome:
    """How a generation run ended: which batches went to the fail-safe path, which checks failed."""

    fail_safe: List[Dict[str, Any]] = field(default_factory=list)  # {table, batch, path, error}
    validation_failures: List[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """3 when any batch went to the fail-safe path, else 4 when validation failed, else 0."""
        if self.fail_safe:
            return EXIT_FAIL_SAFE
        if self.validation_failures:
            return EXIT_VALIDATION
        return EXIT_OK

    @property
    def ok(self) -> bool:
        return self.exit_code == EXIT_OK

    @property
    def fail_safe_files(self) -> List[str]:
        return [entry["path"] for entry in self.fail_safe]

    def message(self) -> str:
        """One line saying why the run is not a success (empty when it is)."""
        parts = []
        if self.fail_safe:
            rows = sum(entry["rows"] for entry in self.fail_safe)
            files = ", ".join(
                f"table '{e['table']}' batch {e['batch']} -> {e['path']} ({e['error']})" for e in self.fail_safe
            )
            parts.append(f"{len(self.fail_safe)} batch(es), {rows} rows, went to the fail-safe path: {files}")
        if self.validation_failures:
            parts.append(
                f"validation failed, {len(self.validation_failures)} check(s): " + "; ".join(self.validation_failures)
            )
        return "; ".join(parts)


def generation_outcome(state: Mapping[str, Any]) -> GenerationOutcome:
    """The outcome of a generation state (what `api.generate` returns and writes)."""
    outcome = GenerationOutcome()
    for name, table in (state.get("tables") or {}).items():
        for batch in table.get("batches", []):
            if batch.get("status") == "fail_safe":
                outcome.fail_safe.append(
                    {
                        "table": name,
                        "batch": batch.get("index"),
                        "rows": int(batch.get("rows") or 0),
                        "path": str(batch.get("destination")),
                        "error": batch.get("error", ""),
                    }
                )
    validation = state.get("validation") or {}
    if validation and (validation.get("n_failed") or validation.get("passed") is False):
        outcome.validation_failures = [str(line) for line in validation.get("failures") or []] or [
            f"{validation.get('n_failed')} failed"
        ]
    return outcome


def fail_safe_write_error(original: str, batch: int, path: object, error: BaseException) -> str:
    """The error of a batch that could not be written to its target nor to its fail-safe path: both errors,
    the batch and the path, so the database error is never hidden behind the file error."""
    return (
        f"{original}; batch {batch} could not be written to the fail-safe path {path} either: "
        f"{type(error).__name__}: {error}"
    )
