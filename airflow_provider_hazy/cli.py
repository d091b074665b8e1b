"""The `hazy` command line.

    hazy schema training|generation [-o FILE]     JSON Schema of a configuration
    hazy schema infer DATA.csv [...] -o FILE      a DataSchema (YAML) inferred from data files
    hazy schema infer DATABASE_URL -o FILE        ... or from every table of a database (reflection)
    hazy check CONFIG [--offline]                 validate a config, say what it reads and writes, and check
                                                  that inputs exist and outputs can be written
    hazy train CONFIG                             train and write the model file
    hazy generate CONFIG                          generate and write the synthetic tables
    hazy inspect MODEL [--json]                   synthesiser, privacy ledger, tables, columns, network
    hazy evaluate CONFIG                          score a real/synthetic pair (an EvaluateConfig)
    hazy validate CONFIG                          validate what a generation config wrote (exit 4 on a failure)
    hazy report MODEL_OR_EVALUATION -o FILE       the evaluation as one self-contained HTML page
    hazy registry create|list|show|versions|upload|activate|draft|download   the generator registry
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from .config import GenerationConfig, TrainingConfig, read_config_file
from .config.describe import describe_config
from .errors import exit_code_of, one_line
from .outcome import EXIT_OK, EXIT_VALIDATION, generation_outcome

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


def _cmd_schema_infer(args: argparse.Namespace) -> int:
    from .schema_infer import infer_schema_from_database, infer_schema_from_files_with_notes, schema_to_yaml
    from .sequence_proposals import with_proposals

    url = _database_url(args.files)
    proposals = []
    if url is not None:  # never printed: it may hold a password
        schema, notes = infer_schema_from_database(url, schema_name=args.db_schema)
        proposals = _sequential_proposals(url, schema, args.db_schema)
    else:
        schema, notes = infer_schema_from_files_with_notes(args.files)
    for note in notes + [proposal.note() for proposal in proposals]:
        print(note, file=sys.stderr)
    text = with_proposals(schema_to_yaml(schema), proposals)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}: {len(schema.tables)} table(s)")
    else:
        sys.stdout.write(text)
    return 0


def _sequential_proposals(url: str, schema: Any, schema_name: Optional[str]) -> list:
    """Tables of the inferred schema that look like histories (`sequence_proposals`), for the user to confirm."""
    from .io.sql import engine_from_url
    from .sequence_proposals import proposals_from_database

    engine = engine_from_url(url)
    try:
        return proposals_from_database(engine, schema, schema_name)
    finally:
        engine.dispose()


def _database_url(arguments: Sequence[str]) -> Optional[str]:
    """The database URL of `hazy schema infer`: one argument with `://`, or the id of a data source whose
    `HAZY_CONN_<ID>` environment variable is set (and no such file); None for table files."""
    if len(arguments) != 1:
        return None
    argument = arguments[0]
    if "://" in argument:
        return argument
    from .config.data_location import SecretDataSource

    try:
        source = SecretDataSource(id=argument)
    except ValueError:
        return None
    if Path(argument).exists() or source.env_var not in os.environ:
        return None
    from .io.sources import DataSources

    return DataSources().url(argument)


def _cmd_train(args: argparse.Namespace) -> int:
    from . import api

    config = TrainingConfig.from_file(args.config)
    path = api.train(config)
    info = api.inspect_model(path)
    print(f"wrote model {path}: {info['synthesiser']}, total epsilon {info['privacy']['total_epsilon']:g}")
    print(info["guarantee"])
    for name, table in info["tables"].items():
        print(f"  table '{name}': {table['n_rows']} training rows, {len(table['columns'])} columns")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from . import api

    state = api.generate(GenerationConfig.from_file(args.config))
    for name, table in state["tables"].items():
        print(f"wrote table '{name}': {table['rows']} rows to {table['output']} in {len(table['batches'])} batch(es)")
        for batch in table["batches"]:
            if batch["status"] != "written":
                print(f"  batch {batch['index']}: {batch['status']} -> {batch.get('destination')} ({batch['error']})")
    validation = state.get("validation")
    if validation:
        print(f"validation: {validation['n_checks']} checks, {validation['n_failed']} failed")
        for line in validation["failures"]:
            print(f"  FAILED {line}")
    print(_published_line(state))
    outcome = generation_outcome(state)
    if not outcome.ok:
        print(f"hazy generate: {outcome.message()}", file=sys.stderr)
    return outcome.exit_code


def _published_line(state: dict) -> str:
    """What the run published (write-audit-publish, docs/publish.md), or that it published nothing."""
    published = state.get("published")
    if not published:
        return f"run {state['run_id']}: nothing published, the targets are as they were"
    return f"run {state['run_id']}: published " + ", ".join(f"'{name}' ({how})" for name, how in published.items())


def _cmd_inspect(args: argparse.Namespace) -> int:
    from . import api

    info = api.inspect_model(args.model)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    for line in describe_model(info):
        print(line)
    return 0


def describe_model(info: dict) -> list:
    """Lines of `hazy inspect`: synthesiser, privacy ledger with its total, tables, columns, network."""
    privacy = info["privacy"]
    lines = [
        f"model {info['path']} (format {info['format_version']}, package {info['package_version']})",
        f"synthesiser: {info['synthesiser']}",
        f"privacy: total epsilon {privacy['total_epsilon']:g}, total delta {privacy.get('total_delta', 0.0):g} "
        f"(processing_private: {str(privacy['processing_private']).lower()}, "
        f"noise: {privacy.get('noise', 'unrecorded')})",
        info["guarantee"],
    ]
    for entry in privacy["ledger"]["entries"]:
        scale = "" if entry.get("scale") is None else f", noise scale {entry['scale']:.6g}"
        delta = f", delta {entry['delta']:.6g}" if entry.get("delta") else ""
        lines.append(
            f"  {entry['table']}: {entry['purpose']} ({entry['mechanism']}) epsilon {entry['epsilon']:.6g}{delta}"
            f", sensitivity {entry['sensitivity']:.6g}{scale}"
        )
    for name, table in info["tables"].items():
        kind = " (reference: copied as it is, public)" if table.get("copied") else ""
        lines.append(f"table '{name}': {table['n_rows']} training rows, epsilon {table['epsilon']:g}{kind}")
        degree = table.get("degree")
        if degree:
            relation = degree["relation"]
            lines.append(
                f"  degree model ({degree['adjacency']}): children per {relation['parent']} row, "
                f"cap {degree['cap']}, mean {degree['ratio']:.4g}"
            )
        for secondary in table.get("secondary_degrees", []):
            lines.append(f"  degree histogram (secondary): {secondary['relation']}, degrees up to {secondary['cap']}")
        for column in table["columns"]:
            details = ", ".join(f"{k}={v}" for k, v in column.items() if k not in ("name", "type"))
            lines.append(f"  column {column['name']} ({column['type']}){': ' + details if details else ''}")
        sequence = table.get("sequence")
        if sequence:
            lines.append(
                f"  sequential: window_size {sequence['window_size']}, n_predict {sequence['n_predict']}, length cap "
                f"{sequence['length_cap']}; lag features {', '.join(sequence['lag_features'])}"
            )
        lines.append("  network:")
        for edge in table["network"]:
            parents = ", ".join(edge["parents"]) or "(no parents)"
            network = f"[{edge['network']}] " if "network" in edge else ""
            lines.append(f"    {network}{edge['child']} <- {parents}")
    lines.extend(describe_evaluation(info.get("evaluation")))
    return lines


def describe_evaluation(evaluation: Optional[dict]) -> list:
    """Lines of the evaluation scores, flagged as computed outside the privacy budget."""
    from .metrics.results import metric_results

    if not evaluation:
        return ["evaluation: not stored in the model"]
    lines = ["evaluation (computed from the source OUTSIDE the privacy budget: not differentially private):"]
    for key, entry in metric_results(evaluation).items():
        score = "n/a" if entry.get("score") is None else f"{entry['score']:.4f}"
        lines.append(f"  {key}: {score}" + (f" (skipped: {entry['skipped']})" if entry.get("skipped") else ""))
    return lines


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from . import api
    from .config.evaluate import EvaluateConfig

    config = EvaluateConfig.from_file(args.config)
    if args.output:
        config = config.model_copy(update={"output": args.output})
    results = api.evaluate(config)
    for line in describe_evaluation(results):
        print(line)
    if config.output:
        print(f"wrote {config.output}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from . import api

    report = api.validate(GenerationConfig.from_file(args.config))
    where = f"; report {report['report']}" if report["report"] else ""
    print(f"validation: {report['n_checks']} checks, {report['n_failed']} failed{where}")
    for line in report["failures"]:
        print(f"  FAILED {line}")
    return EXIT_OK if report["passed"] else EXIT_VALIDATION


def _cmd_report(args: argparse.Namespace) -> int:
    from .report import write_report

    path = write_report(args.source, args.output)
    print(f"wrote report {path}")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from .preflight import check_config, exit_code

    config = load_config(args.config)
    print(f"{args.config}: valid {type(config).__name__}")
    for line in describe_config(config):
        print(line)
    findings = check_config(config, offline=args.offline)  # inputs exist, outputs writable (preflight.py)
    for finding in findings:
        print(f"  ok: {finding.line}" if finding.ok else f"  PROBLEM: {finding.line}")
    problems = [finding.line for finding in findings if not finding.ok]
    for line in problems:
        print(f"hazy check: {line}", file=sys.stderr)
    return exit_code(findings)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `hazy`."""
    parser = argparse.ArgumentParser(
        prog="hazy",
        description="Differentially private synthetic data.",
        epilog="Exit codes: 0 success, 1 run failed, 2 configuration or input error, 3 rows went to the "
        "fail-safe path, 4 validation failed (docs/cli.md).",
    )
    parser.add_argument("--debug", action="store_true", help="print the traceback of an error (anywhere on the line)")
    commands = parser.add_subparsers(dest="command", required=True)

    schema = commands.add_parser("schema", help="JSON Schema of a configuration, or a DataSchema inferred from data")
    schema_commands = schema.add_subparsers(dest="schema_command", required=True)
    for kind in sorted(CONFIG_CLASSES):
        printer = schema_commands.add_parser(kind, help=f"print the JSON Schema of the {kind} configuration")
        printer.add_argument("-o", "--output", help="write to this file instead of standard output")
        printer.set_defaults(handler=_cmd_schema, kind=kind)
    infer = schema_commands.add_parser(
        "infer", help="infer a DataSchema (YAML) from CSV or Parquet files, or from a database URL"
    )
    infer.add_argument(
        "files",
        nargs="+",
        help="one table per file, named after the file's stem; or one database URL (with ://) or data source id",
    )
    infer.add_argument("--db-schema", help="with a database URL: the database schema to reflect")
    infer.add_argument("-o", "--output", help="write the schema to this file instead of standard output")
    infer.set_defaults(handler=_cmd_schema_infer)

    check = commands.add_parser("check", help="validate a config file and say what it would read and write")
    check.add_argument("config", help="a training or generation config (.json, .yaml, .yml)")
    check.add_argument(
        "--offline", action="store_true", help="do not connect: skip the database and S3 checks of inputs and outputs"
    )
    check.set_defaults(handler=_cmd_check)

    train = commands.add_parser("train", help="train a model and write the model file")
    train.add_argument("config", help="a training config (.json, .yaml, .yml)")
    train.set_defaults(handler=_cmd_train)

    generate = commands.add_parser("generate", help="generate synthetic tables from a model")
    generate.add_argument("config", help="a generation config (.json, .yaml, .yml)")
    generate.set_defaults(handler=_cmd_generate)

    inspect = commands.add_parser("inspect", help="show what a model file holds")
    inspect.add_argument("model", help="a model file (.hmf)")
    inspect.add_argument("--json", action="store_true", help="print one JSON object")
    inspect.set_defaults(handler=_cmd_inspect)

    evaluate = commands.add_parser("evaluate", help="score a real/synthetic pair of tables (an evaluate config)")
    evaluate.add_argument("config", help="an evaluate config (.json, .yaml, .yml)")
    evaluate.add_argument("-o", "--output", help="write the JSON results here (overrides the config's output)")
    evaluate.set_defaults(handler=_cmd_evaluate)

    validate = commands.add_parser("validate", help="validate the tables a generation config wrote")
    validate.add_argument("config", help="a generation config (.json, .yaml, .yml)")
    validate.set_defaults(handler=_cmd_validate)

    report = commands.add_parser("report", help="write the evaluation of a model or evaluation JSON as HTML")
    report.add_argument("source", help="a model file (.hmf) or evaluation JSON (hazy evaluate, hazy inspect --json)")
    report.add_argument("-o", "--output", required=True, help="the HTML file to write")
    report.set_defaults(handler=_cmd_report)

    from .registry.cli import add_registry_parser

    add_registry_parser(commands)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the `hazy` console script; returns the exit code (airflow_provider_hazy.outcome).

    An error prints one line per problem on standard error, `hazy <command>: ...`, and exits 2 (the
    configuration or an input does not fit) or 1 (the run failed); `--debug` (anywhere on the command line)
    or HAZY_DEBUG=1 adds the traceback.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in arguments or os.environ.get("HAZY_DEBUG", "").lower() in ("1", "true", "yes")
    arguments = [argument for argument in arguments if argument != "--debug"]
    args = build_parser().parse_args(arguments)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        print(f"hazy {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - every error ends in its lines and an exit code, never a raw traceback
        if debug:
            traceback.print_exc(file=sys.stderr)
        for line in one_line(error):
            print(f"hazy {args.command}: {line}", file=sys.stderr)
        return exit_code_of(error, config_path=getattr(args, "config", None))


if __name__ == "__main__":
    sys.exit(main())
