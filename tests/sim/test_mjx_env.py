"""The MJX env on CPU: one compile for reset and step, finite states, clip conventions, pushes in physics."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ampbench.motion.loader import MotionState
from ampbench.robot import quat
from ampbench.robot.model import build_mj_model, forward_kinematics
from ampbench.scoring.falls import fall_step_of
from ampbench.scoring.metrics import applied_impulse
from ampbench.sim.mjx import MjxSimulator
from ampbench.sim.mjx.env import MjxHumanoidEnv, _kinematics
from ampbench.sim.records import EvalScenario, ScheduledPush
from ampbench.task import features

ENVS = 4


@pytest.fixture(scope="module")
def env(card, library):
    return MjxHumanoidEnv(card, library, training=True, seed=0)


@pytest.fixture(scope="module")
def stepped(env):
    reset = jax.jit(jax.vmap(env.reset))
    step = jax.jit(jax.vmap(env.step))
    first = reset(jax.random.split(jax.random.PRNGKey(0), ENVS))
    state = first
    actions = jax.random.uniform(jax.random.PRNGKey(1), (20, ENVS, env.action_size), minval=-1, maxval=1)
    for action in actions:
        state = step(state, action)
    return first, state, step


def test_reset_and_step_share_structure_shapes_and_dtypes(stepped):
    """Reset and step give identical pytrees (dtypes and weak types too): the jitted step compiles once."""
    first, state, step = stepped
    assert jax.tree.structure(first) == jax.tree.structure(state)
    for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(state), strict=True):
        assert (a.shape, a.dtype, getattr(a, "weak_type", False)) == (
            b.shape,
            b.dtype,
            getattr(b, "weak_type", False),
        )
    assert step._cache_size() == 1


def test_stepping_with_random_torques_stays_finite(env, stepped):
    _, state, _ = stepped
    assert state.obs.shape == (ENVS, env.observation_size)
    assert state.amp_obs.shape == (ENVS, env.amp_observation_size)
    for leaf in jax.tree.leaves((state.obs, state.amp_obs, state.reward, state.data.qpos)):
        assert bool(jnp.all(jnp.isfinite(leaf)))
    reference = env.reference_amp_observations(np.random.default_rng(2), 8)
    assert reference.shape == (8, env.amp_observation_size) and np.all(np.isfinite(reference))


def test_simulator_readout_matches_the_clip_representation_of_the_same_state(env, card):
    """A pose and velocity put into MJX read back exactly as the clip format stores them."""
    rng = np.random.default_rng(3)
    spec = env.spec
    dof = rng.uniform(spec.joint_ranges[:, 0], spec.joint_ranges[:, 1]) * 0.5
    root_pos = np.array([0.3, -0.2, 1.1])
    root_rot = np.asarray(quat.normalize(rng.normal(size=4)))
    root_lin, root_ang = rng.normal(size=3), rng.normal(size=3)
    body_pos, body_rot = forward_kinematics(
        build_mj_model(card.simulator, card.humanoid), root_pos[None], root_rot[None], dof[None]
    )
    state = env.reset(jax.random.PRNGKey(0))
    qvel = np.concatenate([root_lin, np.asarray(quat.rotate_inverse(root_rot, root_ang)), np.zeros(len(dof))])
    data = state.data.replace(
        qpos=jnp.asarray(np.concatenate([root_pos, root_rot, dof]), jnp.float32),
        qvel=jnp.asarray(qvel, jnp.float32),
    )
    data = _kinematics(env.sys, data)
    readout = env.observe(state.replace(data=data))
    np.testing.assert_allclose(readout["body_positions"], body_pos[0], atol=1e-5)
    np.testing.assert_allclose(np.abs(np.sum(readout["body_rotations"] * body_rot[0], -1)), 1.0, atol=1e-5)

    zeros = np.zeros((1, len(spec.body_names), 3))
    body_ang = zeros.copy()
    body_ang[0, 0] = root_ang
    body_lin = zeros.copy()
    body_lin[0, 0] = root_lin
    clip_state = MotionState(
        dof_positions=dof[None],
        dof_velocities=np.zeros((1, len(dof))),
        body_positions=body_pos,
        body_rotations=body_rot,
        body_linear_velocities=body_lin,
        body_angular_velocities=body_ang,
        joint_torques=np.zeros((1, len(dof))),
    )
    from_clip = features.clip_features(
        clip_state,
        key_body_indices=spec.body_index(card.humanoid.key_bodies),
        effort_limits=spec.effort_limits,
        feature_set="full",
    )
    from_sim = features.amp_features(
        *(
            readout[k]
            for k in ("root_position", "root_rotation", "root_linear_velocity", "root_angular_velocity")
        ),
        readout["dof_positions"],
        readout["dof_velocities"],
        readout["key_body_positions"],
        jnp.zeros(len(dof)),
        effort_limits=spec.effort_limits,
        feature_set="full",
    )
    np.testing.assert_allclose(np.asarray(from_sim), from_clip[0], atol=2e-5)


def test_evaluation_push_changes_momentum_by_force_times_duration(card, library):
    """Floating without gravity, the robot's momentum changes by exactly the scheduled push's impulse."""
    env = MjxHumanoidEnv(card, library, training=False, seed=0)
    env.sys = env.sys.replace(opt=env.sys.opt.replace(gravity=jnp.zeros(3)))
    env.reset_qpos = env.reset_qpos.at[:, 2].add(5.0)
    env.reset_qvel = env.reset_qvel * 0.0
    push = ScheduledPush(body="torso", force=300.0, duration=0.13, azimuth_deg=90.0, start_seconds=0.1)
    settings = env.task.eval_settings(EvalScenario(name="p", seed=0, envs=1, episode_seconds=0.5, push=push))
    state = env.reset(jax.random.PRNGKey(4), settings)
    step = jax.jit(lambda s: env.step(s, jnp.zeros(env.action_size), settings))
    com = [np.asarray(state.data.subtree_com[1])]
    for _ in range(20):
        state = step(state)
        com.append(np.asarray(state.data.subtree_com[1]))
    velocity = np.diff(np.asarray(com), axis=0) / env.dt
    delta_momentum = env.total_mass * (velocity[-1] - velocity[0])
    push_vector = np.asarray(state.info["push_vector"])
    assert np.linalg.norm(push_vector) == pytest.approx(300.0, rel=1e-5)
    assert push_vector[2] == 0.0
    np.testing.assert_allclose(delta_momentum, push_vector * 0.13, atol=0.02 * 300.0 * 0.13)


def test_backend_rollout_records_a_welded_robot_surviving_a_push(card, library):
    backend = MjxSimulator(library_loader=lambda mocap: library)
    eval_card = card.model_copy(
        update={"training_pushes": card.training_pushes.model_copy(update={"enabled": False})}
    )
    push = ScheduledPush(body="pelvis", force=200.0, duration=0.1, azimuth_deg=0.0, start_seconds=0.2)
    scenario = EvalScenario("weld", seed=1, envs=ENVS, episode_seconds=1.0, push=push, weld_root=True)
    rollout = backend.rollout(eval_card, None, scenario)
    assert (fall_step_of(rollout) == -1).all()
    impulse, delta_v = applied_impulse(rollout)
    np.testing.assert_allclose(impulse, 20.0, rtol=1e-4)
    np.testing.assert_allclose(delta_v, 20.0 / env_mass(card), rtol=1e-4)


def env_mass(card) -> float:
    return float(build_mj_model(card.simulator, card.humanoid).body_mass.sum())
