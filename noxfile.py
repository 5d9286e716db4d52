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
