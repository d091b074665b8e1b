"""The dependency rule of docs/architecture.md, read off the source with `ast` (every import, also those
inside functions and under TYPE_CHECKING: a lazy import is still a dependency).

- `core` imports only `config`, `core` itself and third-party libraries (NumPy, pandas, the DP sampler):
  never `io`, `api`, `pipeline`, `metrics`, `model_file` or Airflow;
- only the Airflow layer (`operators`, `hooks`, `plugins`, and `sample_data/run_example.py`, which runs an
  example DAG in Airflow) imports Airflow;
- `pipeline` never imports `api`, and nothing below `api` imports `operators`, `hooks` or `api`;
- no import cycle inside the package: the module import graph has no strongly connected component of more
  than one module (no two modules import each other, directly or round a longer loop).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set

import pytest

PACKAGE = "airflow_provider_hazy"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE
AIRFLOW_LAYER = ("operators", "hooks", "plugins")
AIRFLOW_RUNNERS = {f"{PACKAGE}.sample_data.run_example"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: Dict[str, Path] = {_module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute module name an `ImportFrom` names (its package for `from . import x`)."""
    if node.level == 0:
        return node.module or ""
    is_package = MODULES[module].name == "__init__.py"
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str) -> Set[str]:
    """Every module `module` imports: absolute names, a `from package import name` counted as the submodule
    `package.name` when that is a module of ours."""
    found: Set[str] = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            submodules = {f"{target}.{alias.name}" for alias in node.names} & set(MODULES)
            found.update(submodules or {target})
            if submodules and len(submodules) < len(node.names):
                found.add(target)
    return found


def internal_graph() -> Dict[str, Set[str]]:
    """Module -> the package's modules it imports (package `__init__` files included, self-loops dropped)."""
    return {module: {name for name in imports_of(module) if name in MODULES} - {module} for module in MODULES}


def strongly_connected(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Tarjan's strongly connected components of a directed graph."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    components: List[List[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _in(name: str, *layers: str) -> bool:
    return any(name == f"{PACKAGE}.{layer}" or name.startswith(f"{PACKAGE}.{layer}.") for layer in layers)


def test_the_graph_sees_the_package_and_its_known_edges():
    graph = internal_graph()
    assert len(MODULES) > 50
    assert f"{PACKAGE}.pipeline.model" in graph[f"{PACKAGE}.pipeline.training"]
    assert f"{PACKAGE}.pipeline.training" in graph[f"{PACKAGE}.api"]
    assert f"{PACKAGE}.io.sql" in graph[f"{PACKAGE}.pipeline.generation"]  # a lazy import counts


@pytest.mark.parametrize("module", sorted(name for name in MODULES if _layer(name) == "core"))
def test_core_imports_only_config_and_core(module):
    ours = {name for name in imports_of(module) if name == PACKAGE or name.startswith(PACKAGE + ".")}
    outside = sorted(name for name in ours if not _in(name, "config", "core"))
    assert not outside, f"{module} imports {outside}: core imports only config (docs/architecture.md)"
    assert not {name for name in imports_of(module) if name.split(".")[0] == "airflow"}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_the_airflow_layer_imports_airflow(module):
    if _layer(module) in AIRFLOW_LAYER or module in AIRFLOW_RUNNERS:
        return
    airflow = sorted(name for name in imports_of(module) if name.split(".")[0] == "airflow")
    assert not airflow, f"{module} imports {airflow}: only operators, hooks and plugins import Airflow"


@pytest.mark.parametrize("module", sorted(name for name in MODULES if _layer(name) not in AIRFLOW_LAYER))
def test_below_the_facade_nothing_imports_api_operators_or_hooks(module):
    if module in AIRFLOW_RUNNERS or _layer(module) in ("", "api", "cli"):
        return
    upward = sorted(name for name in imports_of(module) if _in(name, "api", "operators", "hooks", "cli"))
    assert not upward, f"{module} imports {upward}: dependencies point down (docs/architecture.md)"


def test_no_import_cycles_inside_the_package():
    cycles = [component for component in strongly_connected(internal_graph()) if len(component) > 1]
    assert cycles == []


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert sorted(map(sorted, strongly_connected(graph))) == [["a", "b", "c"], ["d"]]


SOURCES = sorted(
    path
    for folder in ("airflow_provider_hazy", "tests", "dags", "bench")
    for path in (ROOT.parent / folder).rglob("*.py")
)


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(ROOT.parent)))
def test_no_private_name_is_imported_from_another_module(path):
    private = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            modules = (node.module or "").split(".")
            names = [alias.name for alias in node.names]
            private += [f"{node.module}.{name}" for name in names if name.startswith("_") and not name.startswith("__")]
            private += [node.module for part in modules if part.startswith("_") and not part.startswith("__")]
    assert not private, f"{path.name} imports private names {private}: make them public where they are shared"


def test_the_facade_is_thin_and_modules_stay_small():
    assert len((ROOT / "api.py").read_text(encoding="utf-8").splitlines()) < 200
    long = {
        _module_name(path): n
        for path in MODULES.values()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 800
    }
    assert long == {}, f"modules over 800 lines (split along a seam, or say in the docstring why not): {long}"
