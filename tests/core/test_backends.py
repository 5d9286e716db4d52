"""The backend names live in one place, `ampbench.core.backends`: every other place reads them from there."""

from __future__ import annotations

import argparse
import ast
import importlib.util
import tomllib
import typing
from pathlib import Path

import pytest

from ampbench.cards import ExperimentCard
from ampbench.cli import build_parser
from ampbench.core import backends
from ampbench.core.backends import BACKENDS

ROOT = Path(__file__).resolve().parents[2]


def _choices(parser: argparse.ArgumentParser, command: str, option: str) -> tuple[str, ...]:
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    action = next(a for a in subparsers.choices[command]._actions if option in a.option_strings)
    return tuple(action.choices)


def test_registry_names_are_unique_and_described():
    assert BACKENDS == ("mjx", "mujoco", "isaaclab")
    assert len(set(BACKENDS)) == len(BACKENDS)
    assert tuple(backends.BY_NAME) == BACKENDS == tuple(backends.DOCKERFILES)
    for info in backends.REGISTRY:
        assert info.description
        assert (ROOT / info.dockerfile).is_file(), info
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {info.extra for info in backends.REGISTRY} <= set(extras)


def test_card_schema_reads_the_registry():
    annotation = ExperimentCard.model_fields["backend"].annotation
    assert typing.get_args(annotation) == BACKENDS
    schema = ExperimentCard.model_json_schema()["properties"]["backend"]
    assert tuple(schema["enum"]) == BACKENDS


def test_cli_choices_read_the_registry():
    parser = build_parser()
    assert _choices(parser, "train", "--backend") == BACKENDS
    assert _choices(parser, "score", "--on") == BACKENDS
    assert _choices(parser, "reproduce", "--backend") == BACKENDS


def test_simulators_and_reproduce_read_the_registry():
    from ampbench import sim
    from ampbench.pipeline import reproduce

    assert tuple(sim._MODULES) == BACKENDS
    for name, module in sim._MODULES.items():
        assert importlib.util.find_spec(module) is not None, name
    assert reproduce.BACKENDS is BACKENDS


def test_noxfile_reads_the_registry():
    pytest.importorskip("nox")
    import noxfile

    assert noxfile.BACKENDS is BACKENDS
    assert tuple(noxfile.IMAGE_OF_BACKEND) == BACKENDS


def _listings(path: Path) -> list[int]:
    """Lines of tuple, list or set literals, or dict literals' keys, that name every backend."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            items = node.elts
        elif isinstance(node, ast.Dict):
            items = [key for key in node.keys if key is not None]
        else:
            continue
        names = {item.value for item in items if isinstance(item, ast.Constant)}
        if set(BACKENDS) <= names:
            found.append(node.lineno)
    return found


def test_no_other_module_lists_the_backend_names():
    registry = ROOT / "src" / "ampbench" / "core" / "backends.py"
    sources = [*sorted((ROOT / "src").rglob("*.py")), ROOT / "noxfile.py"]
    listed = {
        str(path.relative_to(ROOT)): lines
        for path in sources
        if path != registry and (lines := _listings(path))
    }
    assert not listed, f"backend names listed outside core/backends.py (read BACKENDS instead): {listed}"
