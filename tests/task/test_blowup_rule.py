"""The one blow-up rule of every backend: finite, within MuJoCo's mjMAXVAL, and velocities within the card's
`simulator.max_velocity`, per env."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ampbench.task.humanoid import MAX_PHYSICS_VALUE, physics_sane


def test_nan_inf_and_huge_values_are_blow_ups_in_any_of_the_arrays():
    qpos = np.zeros((5, 3))
    qvel = np.zeros((5, 2))
    qpos[1, 0], qpos[2, 2], qvel[3, 1] = np.nan, np.inf, 2 * MAX_PHYSICS_VALUE
    qvel[4, 0] = 0.5 * MAX_PHYSICS_VALUE
    assert physics_sane(qpos, qvel).tolist() == [True, False, False, False, True]
    assert bool(physics_sane(jnp.asarray(qpos[0]), jnp.asarray(qvel[0])))
    assert not bool(physics_sane(jnp.asarray(qpos[1]), jnp.asarray(qvel[1])))


def test_a_velocity_beyond_max_velocity_is_a_blow_up_though_within_mjmaxval():
    """A joint at 1e9 rad/s (what poisoned a run's observation statistics) passes MuJoCo's limit."""
    qpos, qvel = np.zeros((3, 3)), np.zeros((3, 2))
    qvel[1, 0], qvel[2, 1] = 1e9, -999.0
    assert physics_sane(qpos, qvel).tolist() == [True, True, True]
    assert physics_sane(qpos, velocities=(qvel,), max_velocity=1e3).tolist() == [True, False, True]
    assert physics_sane(qpos, velocities=(qvel,), max_velocity=100.0).tolist() == [True, False, False]
    traced = physics_sane(jnp.asarray(qpos), velocities=(jnp.asarray(qvel),), max_velocity=1e3)
    assert traced.tolist() == [True, False, True]
