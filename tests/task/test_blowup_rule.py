"""The one blow-up rule of every backend: finite and within MuJoCo's mjMAXVAL, per env."""

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
