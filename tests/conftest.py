"""Markers by folder (tests mirror `src/ampbench/`; a folder's kind decides its markers, no file marks
itself), the fixtures the simulator tests share, options of the scoring harness (`pytest tests/harness
--run-dir RUN`) and of the learning test (`--learn-set key=value`, to show that it fails when learning is
broken), registered at the tests root;
JAX's persistent compilation cache, on for the whole session (`$AMPBENCH_COMPILE_CACHE=off` turns it off),
so tests that compile the same programs compile them once."""

from __future__ import annotations

from pathlib import Path

import pytest

from ampbench.cards import load_card
from ampbench.core import compile_cache
from ampbench.motion.loader import MotionLibrary
from tests.clipfactory import synthetic_clip

TESTS = Path(__file__).resolve().parent
FOLDER_MARKERS = {
    "bench": ("bench",),
    "harness": ("harness",),
    "sim": ("sim",),
    "robot/physics": ("sim",),
    "learning/training": ("sim",),
    "learning/end_to_end": ("sim", "learn"),
    "pipeline/end_to_end": ("sim", "learn"),
    "pipeline/cluster": ("sim", "slurm"),
}
"""Folders (relative to tests/) and their markers; every other test is `unit` (no simulator stepped)."""


def folder_markers(path: Path) -> tuple[str, ...]:
    """The markers of a test file: those of the deepest folder of FOLDER_MARKERS that holds it."""
    folder = path.resolve().parent.relative_to(TESTS).as_posix()
    while folder not in FOLDER_MARKERS and folder not in ("", "."):
        folder = folder.rpartition("/")[0]
    return FOLDER_MARKERS.get(folder, ("unit",))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for name in folder_markers(item.path):
            item.add_marker(name)


def pytest_configure(config: pytest.Config) -> None:
    compile_cache.enable()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ampbench harness")
    group.addoption("--run-dir", action="append", default=[], help="run folder to score (repeatable)")
    group.addoption("--results", default="results", help="where scores.json files go")
    group.addoption("--smoke-protocol", action="store_true", help="first eval seed and azimuth only")
    learn = parser.getgroup("ampbench learning test")
    learn.addoption(
        "--learn-set",
        action="append",
        default=[],
        help="card override for tests/learning/end_to_end/test_learning.py, e.g. ppo.learning_rate=0 "
        "(repeatable)",
    )


@pytest.fixture(scope="module")
def card():
    """The phase-2 card on its smoke budget."""
    return load_card("benchmarks/phase2.yaml", overlays=("smoke",))


@pytest.fixture(scope="module")
def library():
    """A synthetic looping walk clip as the motion library."""
    return MotionLibrary([synthetic_clip(num_frames=61, fps=30.0, loop=True)], skills=["walk"])
