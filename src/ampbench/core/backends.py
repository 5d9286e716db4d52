"""The registry of backend names: the one place they are spelled.

The card schema (`ExperimentCard.backend`), `ampbench.sim.get_simulator`, `pipeline/reproduce.py`, the
command line's `--backend`/`--on` choices and noxfile.py all read `BACKENDS` from here. Standard library
only: noxfile.py imports it before any venv exists.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BackendInfo:
    name: str
    description: str
    extra: str
    """The install extra of pyproject.toml that brings the backend (`pip install -e '.[<extra>]'`)."""
    dockerfile: str
    """The container image it runs in, as a Dockerfile path from the repository root."""


REGISTRY: tuple[BackendInfo, ...] = (
    BackendInfo("mjx", "MJX (JAX; GPU)", "mjx", "docker/mjx.Dockerfile"),
    BackendInfo("mujoco", "MuJoCo C on CPU threads", "mujoco", "docker/mjx.Dockerfile"),
    BackendInfo("isaaclab", "Isaac Lab 3 on Newton (torch; GPU)", "isaaclab", "docker/isaaclab.Dockerfile"),
)
BACKENDS: tuple[str, ...] = tuple(info.name for info in REGISTRY)
"""The backend names, in the order choices list them: ("mjx", "mujoco", "isaaclab")."""
BY_NAME: dict[str, BackendInfo] = {info.name: info for info in REGISTRY}
DOCKERFILES: dict[str, str] = {info.name: info.dockerfile for info in REGISTRY}
