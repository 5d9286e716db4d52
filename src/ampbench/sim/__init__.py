"""Simulators by backend name, imported only when asked for: the MJX and MuJoCo C paths never import torch."""

from __future__ import annotations

import importlib

from ampbench.core.backends import BACKENDS
from ampbench.sim.protocol import Simulator

_MODULES = {name: f"ampbench.sim.{name}" for name in BACKENDS}


def get_simulator(name: str) -> Simulator:
    if name not in _MODULES:
        raise ValueError(f"unknown backend '{name}' (choose from {sorted(_MODULES)})")
    try:
        module = importlib.import_module(_MODULES[name])
    except ImportError as error:
        raise RuntimeError(
            f"backend '{name}' is not installed in this environment ({error}); "
            f"install it with `pip install -e '.[{name}]'` in its own venv"
        ) from None
    return module.SIMULATOR


def default_backend(card) -> str:
    """The backend a command runs when it names none: the card's `backend` where the card sets one,
    else MJX where JAX has an accelerator (MJX's batched GPU path) and MuJoCo C on a CPU-only machine,
    where its host loop trains the same card faster than MJX (docs/speed.md)."""
    if "backend" in card.model_fields_set:
        return card.backend
    import jax

    return "mujoco" if jax.default_backend() == "cpu" else "mjx"
