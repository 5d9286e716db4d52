"""Options of the scoring harness (`pytest tests/harness --run-dir RUN`) and of the learning test
(`--learn-set key=value`, to show that it fails when learning is broken), registered at the tests root;
JAX's persistent compilation cache, on for the whole session (`$AMPBENCH_COMPILE_CACHE=off` turns it off),
so tests that compile the same programs compile them once."""

from __future__ import annotations

import pytest

from ampbench.core import compile_cache


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
        help="card override for tests/sim/test_learning.py, e.g. ppo.learning_rate=0 (repeatable)",
    )
