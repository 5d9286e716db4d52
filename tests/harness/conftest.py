"""Scores each `--run-dir` once per module; the tests assert on the score document."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "run_dir" in metafunc.fixturenames:
        runs = [Path(p) for p in metafunc.config.getoption("--run-dir")]
        metafunc.parametrize("run_dir", runs, ids=[str(p) for p in runs], scope="module")


@pytest.fixture(scope="module")
def scored(run_dir: Path, request: pytest.FixtureRequest):
    from ampbench.pipeline.score import score_run

    return score_run(
        run_dir,
        results_root=Path(request.config.getoption("--results")),
        smoke=request.config.getoption("--smoke-protocol"),
    )
