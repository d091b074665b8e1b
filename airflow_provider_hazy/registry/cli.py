"""`hazy registry ...`: the generator registry from the command line (no Airflow import).

    hazy registry create NAME [--description TEXT] [--team TEAM ...]
    hazy registry list [--json]
    hazy registry show NAME [--json]
    hazy registry versions NAME [--json]
    hazy registry upload NAME MODEL.hmf [MODEL.hmf ...] [--version N] [--note TEXT]
    hazy registry activate NAME VERSION
    hazy registry draft NAME VERSION
    hazy registry download NAME -o FILE [--version N] [--synthesiser S] [--epsilon E] [--min-score METRIC=VALUE]

`--url` / `--store` override the connection `hazy_registry` and the model store (docs/registry.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List

if TYPE_CHECKING:  # the registry (SQLAlchemy, Alembic) is imported only when a registry command runs
    from .registry import GeneratorInfo, ModelInfo, Registry, VersionInfo


def _registry(args: argparse.Namespace) -> Registry:
    from .registry import Registry

    return Registry(url=args.url, store=args.store)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _min_scores(items: List[str]) -> Dict[str, float]:
    scores: Dict[str, float] = {}
    for item in items or []:
        metric, _, value = item.partition("=")
        try:
            scores[metric.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--min-score {item!r}: expected METRIC=NUMBER, e.g. histogram_similarity=0.8") from None
    return scores


# Above this total epsilon a model is not called private (e**10 bounds little): the same line as `hazy inspect`.
MEANINGFUL_EPSILON = 10.0


def privacy_line(model: ModelInfo) -> str:
    """epsilon, delta, preprocessing and noise of a model, in one line."""
    summary = model.summary
    line = f"epsilon {model.epsilon:g}, delta {model.delta:g}"
    line += ", private preprocessing" if model.processing_private else ", preprocessing NOT private (from the data)"
    if not summary.get("private_noise", False):
        line += f", noise NOT private: {summary.get('noise')}"
    if model.epsilon > MEANINGFUL_EPSILON:
        line += f" (epsilon above {MEANINGFUL_EPSILON:g}: not meaningfully private)"
    return line


def _generator_lines(info: GeneratorInfo) -> List[str]:
    active = "none" if info.active_version is None else f"v{info.active_version}"
    teams = ", ".join(info.teams) or "(every user)"
    return [f"{info.name}: active {active}, {info.n_versions} version(s), teams {teams}"]


def _model_line(model: ModelInfo) -> str:
    scores = ", ".join(f"{k} {v:.3f}" for k, v in model.scores.items() if v is not None)
    return (
        f"    {model.synthesiser} {privacy_line(model)}; {model.filename} sha256 {model.sha256[:12]} "
        f"({model.size} bytes){'; ' + scores if scores else ''}"
    )


def _version_lines(version: VersionInfo) -> List[str]:
    lines = [f"  v{version.number} {version.status}{' - ' + version.note if version.note else ''}"]
    lines += [_model_line(model) for model in version.models]
    return lines


def _cmd_create(args: argparse.Namespace) -> int:
    with _registry(args) as registry:
        info = registry.create_generator(args.name, args.description or "", args.team or [])
    print(f"created generator {info.name} (teams: {', '.join(info.teams) or 'every user'})")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    with _registry(args) as registry:
        found = registry.generators()
    if args.json:
        _print_json([info.to_dict() for info in found])
        return 0
    if not found:
        print("no generator (hazy registry create NAME)")
    for info in found:
        for line in _generator_lines(info):
            print(line)
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    with _registry(args) as registry:
        info = registry.generator(args.name)
        active = registry.active_version(args.name)
    if args.json:
        _print_json({"generator": info.to_dict(), "active": active.to_dict(summary=True) if active else None})
        return 0
    lines = _generator_lines(info)
    if info.description:
        lines.append(f"  {info.description}")
    if active is None:
        lines.append("  no active version: generation from this generator fails until one is activated")
    else:
        lines += _version_lines(active)
    for line in lines:
        print(line)
    return 0


def _cmd_versions(args: argparse.Namespace) -> int:
    with _registry(args) as registry:
        found = registry.versions(args.name)
    if args.json:
        _print_json([version.to_dict() for version in found])
        return 0
    for version in found:
        for line in _version_lines(version):
            print(line)
    return 0


def _cmd_upload(args: argparse.Namespace) -> int:
    from .introspect import introspect

    for path in args.models:  # every file is checked before the first is stored
        introspect(Path(path).read_bytes(), Path(path).name)
    version = args.version
    with _registry(args) as registry:
        for path in args.models:
            model = registry.upload(args.name, path, version=version, note=args.note or "")
            version = model.version
            print(f"uploaded {path} to {args.name} v{model.version} (draft): {model.synthesiser}, "
                  f"{privacy_line(model)}")
    return 0


def _cmd_activate(args: argparse.Namespace) -> int:
    with _registry(args) as registry:
        version = registry.activate(args.name, args.version)
    print(f"{args.name} v{version.number} is active")
    return 0


def _cmd_draft(args: argparse.Namespace) -> int:
    with _registry(args) as registry:
        version = registry.draft(args.name, args.version)
    print(f"{args.name} v{version.number} is draft")
    return 0


def _cmd_download(args: argparse.Namespace) -> int:
    with _registry(args) as registry:
        model = registry.resolve(
            args.name,
            synthesiser=args.synthesiser,
            epsilon=args.epsilon,
            min_scores=_min_scores(args.min_score),
            version=args.version,
        )
        data = registry.store.get(model.sha256)
    Path(args.output).write_bytes(data)
    print(f"wrote {args.output}: {args.name} v{model.version} {model.synthesiser} epsilon {model.epsilon:g} "
          f"sha256 {model.sha256}")
    return 0


def add_registry_parser(commands: Any) -> None:
    """Add `registry` and its subcommands to the `hazy` parser's subcommands."""
    registry = commands.add_parser("registry", help="the generator registry: generators, versions, models")
    registry.add_argument("--url", help="SQLAlchemy URL of the registry database (default: connection hazy_registry)")
    registry.add_argument("--store", help="model store: a folder or s3://bucket/prefix (default: HAZY_REGISTRY_STORE)")
    sub = registry.add_subparsers(dest="registry_command", required=True)

    create = sub.add_parser("create", help="create a generator")
    create.add_argument("name")
    create.add_argument("--description", default="")
    create.add_argument("--team", action="append", help="a team with access (repeat for several)")
    create.set_defaults(handler=_cmd_create)

    listing = sub.add_parser("list", help="list generators")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_cmd_list)

    show = sub.add_parser("show", help="a generator and its active version")
    show.add_argument("name")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_cmd_show)

    versions = sub.add_parser("versions", help="a generator's versions and their models")
    versions.add_argument("name")
    versions.add_argument("--json", action="store_true")
    versions.set_defaults(handler=_cmd_versions)

    upload = sub.add_parser("upload", help="upload model files into a draft version (default: a new one)")
    upload.add_argument("name")
    upload.add_argument("models", nargs="+", help="model files (.hmf)")
    upload.add_argument("--version", type=int, help="an existing draft version")
    upload.add_argument("--note", default="", help="a note on the new version")
    upload.set_defaults(handler=_cmd_upload)

    for verb, handler, text in (
        ("activate", _cmd_activate, "make a version the active one"),
        ("draft", _cmd_draft, "make a version draft (withdraws an active version)"),
    ):
        parser = sub.add_parser(verb, help=text)
        parser.add_argument("name")
        parser.add_argument("version", type=int)
        parser.set_defaults(handler=handler)

    download = sub.add_parser("download", help="download a model's exact bytes (default: the active, most private)")
    download.add_argument("name")
    download.add_argument("-o", "--output", required=True)
    download.add_argument("--version", type=int)
    download.add_argument("--synthesiser")
    download.add_argument("--epsilon", type=float)
    download.add_argument("--min-score", action="append", help="METRIC=VALUE, a minimum evaluation score")
    download.set_defaults(handler=_cmd_download)
