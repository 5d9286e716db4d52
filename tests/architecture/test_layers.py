"""The package layers of `ampbench`, bottom to top, and the rule that keeps them: a module imports only
from its own package or from packages below it (function-level imports included), and no two modules
import each other through any chain. Read from the source with `ast`, nothing imported."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
LAYERS = (
    ("core",),
    ("cards",),
    ("robot",),
    ("motion",),
    ("task",),
    ("sim",),
    ("learning", "scoring", "render"),
    ("report",),
    ("pipeline",),
    ("cli",),
)
RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(SRC.glob("ampbench/**/*.py"))}


def _imports(path: Path) -> set[str]:
    """Every ampbench module `path` imports: `from X import y` names X.y where that is a module, else X."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in MODULES else node.module)
    return {name for name in found if name in MODULES}


GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_package_has_a_layer() -> None:
    packages = {_package(module) for module in MODULES} - {None}
    assert packages <= set(RANK), f"packages without a layer: {sorted(packages - set(RANK))}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_reaches_up_or_sideways(module: str) -> None:
    source = _package(module)
    if source is None:  # ampbench/__init__.py
        return
    wrong = sorted(
        target
        for target in GRAPH[module]
        if _package(target) not in (None, source) and RANK[_package(target)] >= RANK[source]
    )
    assert not wrong, f"{module} (layer {RANK[source]}) imports {wrong}"


def test_no_import_cycles() -> None:
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                cycle = [*path[path.index(target) :], target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(MODULES):
        if module not in state:
            visit(module, [module])
