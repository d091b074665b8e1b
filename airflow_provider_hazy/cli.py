"""The `hazy` command line: `hazy schema training|generation`, `hazy check CONFIG`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence

from pydantic import ValidationError

from .config import GenerationConfig, TrainingConfig, read_config_file
from .config.describe import describe_config

CONFIG_CLASSES = {"training": TrainingConfig, "generation": GenerationConfig}


def config_kind(data: dict) -> str:
    """'training' or 'generation', from the keys a config file holds."""
    if "data_schema" in data or "data_input" in data:
        return "training"
    if "data_output" in data:
        return "generation"
    raise ValueError("neither a training config (no 'data_schema') nor a generation config (no 'data_output')")


def load_config(path: str | Path) -> TrainingConfig | GenerationConfig:
    """Load a training or generation config file, telling the two apart by their keys."""
    data = read_config_file(path)
    return CONFIG_CLASSES[config_kind(data)].model_validate(data)


def _cmd_schema(args: argparse.Namespace) -> int:
    schema = CONFIG_CLASSES[args.kind].json_schema()
    text = json.dumps(schema, indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    print(f"{args.config}: valid {type(config).__name__}")
    for line in describe_config(config):
        print(line)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `hazy`."""
    parser = argparse.ArgumentParser(prog="hazy", description="Differentially private synthetic data.")
    commands = parser.add_subparsers(dest="command", required=True)

    schema = commands.add_parser("schema", help="print the JSON Schema of a configuration")
    schema.add_argument("kind", choices=sorted(CONFIG_CLASSES), help="which configuration")
    schema.add_argument("-o", "--output", help="write to this file instead of standard output")
    schema.set_defaults(handler=_cmd_schema)

    check = commands.add_parser("check", help="validate a config file and say what it would read and write")
    check.add_argument("config", help="a training or generation config (.json, .yaml, .yml)")
    check.set_defaults(handler=_cmd_check)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the `hazy` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ValidationError as error:
        print(f"hazy {args.command}: invalid configuration\n{error}", file=sys.stderr)
    except (OSError, ValueError) as error:
        print(f"hazy {args.command}: {error}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
