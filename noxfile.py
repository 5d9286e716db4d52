"""nox sessions: tests, lint, and a local smoke run of a phase card (CPU)."""

from __future__ import annotations

import glob

import nox

nox.options.sessions = ["lint", "tests"]
PYTHON = "3.12"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    session.install("-e", ".[mjx,dev]")
    session.run("pytest", "-m", "not bench", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "src", "tests", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "noxfile.py")


@nox.session(python=PYTHON)
def smoke(session: nox.Session) -> None:
    """Train, score and report one card on its smoke budget:
    `nox -s smoke -- benchmarks/baseline.yaml [mujoco|mjx]` (default backend: mujoco, the CPU path)."""
    card = session.posargs[0] if session.posargs else "benchmarks/baseline.yaml"
    backend = session.posargs[1] if len(session.posargs) > 1 else "mujoco"
    session.install("-e", ".[mjx,dev]")
    runs = session.create_tmp() + "/runs"
    session.run("ampbench", "data", "fetch")
    session.run("ampbench", "train", card, "--smoke", "--backend", backend, "--runs", runs)
    session.run("ampbench", "score", *sorted(glob.glob(f"{runs}/*/{backend}/*")))
    session.run("ampbench", "report")


@nox.session(python=PYTHON)
def isaaclab(session: nox.Session) -> None:
    """The Isaac Lab backend's tests in their own venv (Isaac Lab's newton pins mujoco 3.12, `mjx` 3.17):
    `nox -s isaaclab` (creating the 7.8 GB venv took 5-25 min here; `-r` reuses it). Warp's compiled
    kernels stay in WARP_CACHE_PATH (default ~/.cache/ampbench/warp) between runs: the tests take
    0.5 min with it warm, 3 min cold."""
    import os
    from pathlib import Path

    default_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ampbench" / "warp"
    session.env["WARP_CACHE_PATH"] = os.environ.get("WARP_CACHE_PATH", str(default_cache))
    session.install("-e", ".[isaaclab,dev]")
    session.run(
        "pytest",
        "tests/sim/test_isaaclab.py",
        "tests/unit/test_skrl_card.py",
        "tests/unit/test_policy_file.py",
        *session.posargs,
    )
