"""An exception as the user reads it: one line per problem, secrets masked, and its exit code.

Used by the CLI (`hazy ...` prints these lines and returns the code; `--debug` adds the traceback). The
codes are those of `airflow_provider_hazy.outcome`.
"""

from __future__ import annotations

from typing import List, Optional

from .io.sources import DataSourceError, mask_url
from .outcome import EXIT_CONFIG, EXIT_RUNTIME

MAX_LINE = 1000


def _flat(text: object) -> str:
    line = mask_url(" ".join(str(text).split()))
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 3] + "..."


def _validation_lines(error: object) -> List[str]:
    lines: List[str] = []
    for item in error.errors(include_url=False):  # type: ignore[attr-defined]
        where = ".".join(str(part) for part in item.get("loc", ()))
        message = str(item.get("msg", "")).removeprefix("Value error, ")
        line = f"invalid configuration: {where}: {message}" if where else f"invalid configuration: {message}"
        line = _flat(line)
        if line not in lines:
            lines.append(line)
    return lines or ["invalid configuration"]


def _database_message(error: BaseException) -> Optional[str]:
    """A SQLAlchemy error without the SQL statement and the 'background' link: the driver's own message."""
    try:
        from sqlalchemy.exc import NoSuchTableError, StatementError
    except ImportError:  # pragma: no cover - SQLAlchemy is a dependency
        return None
    if isinstance(error, NoSuchTableError):
        return f"table {error} does not exist in the database"
    if isinstance(error, StatementError) and getattr(error, "orig", None) is not None:
        original = error.orig
        return f"{type(original).__name__}: {str(original).strip().splitlines()[0] if str(original).strip() else ''}"
    return None


def one_line(error: BaseException) -> List[str]:
    """The lines that say what went wrong (one per problem), with every URL's password masked."""
    from pydantic import ValidationError

    if isinstance(error, ValidationError):
        return _validation_lines(error)
    database = _database_message(error)
    if database is not None:
        return [_flat(database)]
    text = str(error).strip()
    if isinstance(error, KeyError) and error.args:
        text = str(error.args[0])
    if not text:
        return [type(error).__name__]
    if isinstance(error, (ValueError, LookupError, RuntimeError)) and type(error).__module__.startswith(
        ("airflow_provider_hazy", "builtins")
    ):
        return [_flat(text)]
    return [_flat(f"{type(error).__name__}: {text}")]


def exit_code_of(error: BaseException, config_path: Optional[str] = None) -> int:
    """2 when the configuration or an input does not fit (fix the config or the data), 1 when a run failed."""
    from pydantic import ValidationError

    code = getattr(error, "exit_code", None)
    if isinstance(code, int):
        return code
    if isinstance(error, (ValidationError, DataSourceError, ValueError, NotImplementedError, FileNotFoundError)):
        return EXIT_CONFIG
    if isinstance(error, LookupError) and not isinstance(error, (KeyError, IndexError)):  # a missing table
        return EXIT_CONFIG
    if isinstance(error, OSError) and str(getattr(error, "filename", None)) == str(config_path):
        return EXIT_CONFIG  # the config file itself cannot be read
    try:
        from sqlalchemy.exc import NoSuchTableError
    except ImportError:  # pragma: no cover
        return EXIT_RUNTIME
    if isinstance(error, NoSuchTableError):
        return EXIT_CONFIG
    return EXIT_RUNTIME
