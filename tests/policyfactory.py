"""Policies for tests, importable in every venv (no simulator imports)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ampbench.sim.protocol import Policy


def nan_policy(action_size: int) -> Policy:
    """A policy whose every action is NaN: what a diverged network plays (the blow-up tests)."""
    act = jax.jit(lambda obs: jnp.full((*obs.shape[:-1], action_size), jnp.nan))
    return Policy(act, jax.jit(lambda obs, key: act(obs)))
