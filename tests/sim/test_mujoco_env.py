"""The MuJoCo C env: its batched read-out is MuJoCo's kinematics, it follows MJX from the same state and
actions, pushes change momentum by force x duration, and its batch state continues exactly."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

from ampbench.core.runs import latest_checkpoint
from ampbench.learning.loop import train
from ampbench.sim.mjx.env import MjxHumanoidEnv, _kinematics
from ampbench.sim.mujoco.env import MujocoHumanoidEnv
from ampbench.sim.records import EvalScenario, ScheduledPush
from ampbench.task.humanoid import PUSH_NOT_YET

ENVS = 6
TRAJECTORY_STEPS = 13  # 0.26 s at 50 Hz: contacts on pelvis, thigh, foot and hand come and go
TRAJECTORY_TOLERANCE = 1e-4  # rad; measured 2e-7 (float32 MJX against float64 MuJoCo C)


def _scenario(envs: int, push: ScheduledPush | None = None) -> EvalScenario:
    return EvalScenario(name="t", seed=0, envs=envs, episode_seconds=1.0, push=push)


def _qpos(env: MujocoHumanoidEnv) -> np.ndarray:
    return env.state["physics"][:, env._slices["qpos"]]


def _qvel(env: MujocoHumanoidEnv) -> np.ndarray:
    return env.state["physics"][:, env._slices["qvel"]]


def test_body_readout_is_mujocos_own_kinematics(card, library):
    env = MujocoHumanoidEnv(card, library, envs=ENVS, training=True)
    env.reset(0)
    for _ in range(3):
        env.step(np.random.default_rng(0).uniform(-0.5, 0.5, (ENVS, env.action_size)))
    data = mujoco.MjData(env.mj_model)
    for e in (0, ENVS - 1):
        data.qpos[:], data.qvel[:] = _qpos(env)[e], _qvel(env)[e]
        mujoco.mj_forward(env.mj_model, data)
        parts = env.last_parts
        np.testing.assert_allclose(parts["body_positions"][e], data.xpos[1:], atol=1e-6)
        np.testing.assert_allclose(parts["body_rotations"][e], data.xquat[1:], atol=1e-6)
        velocity = np.zeros(6)
        for body in range(1, env.mj_model.nbody):
            mujoco.mj_objectVelocity(env.mj_model, data, mujoco.mjtObj.mjOBJ_XBODY, body, velocity, 0)
            np.testing.assert_allclose(parts["body_angular_velocities"][e, body - 1], velocity[:3], atol=1e-5)
            np.testing.assert_allclose(parts["body_linear_velocities"][e, body - 1], velocity[3:], atol=1e-5)


def _standing_on_the_floor(model: mujoco.MjModel, qpos: np.ndarray) -> np.ndarray:
    """The pose lowered until a geom touches the floor, so the rollout starts in contact."""
    data = mujoco.MjData(model)
    data.qpos[:] = qpos
    while mujoco.mj_forward(model, data) or data.ncon == 0:
        data.qpos[2] -= 0.002
    return data.qpos.copy()


def test_mjx_follows_mujoco_c_from_the_same_state_and_actions(card, library):
    """Open loop from a reference pose at rest on the floor, PD targets swaying about it, the solver
    converged (10 Newton iterations). Where they part, measured (docs/backends.md): at the
    next step a foot box meets the floor with two corners, MuJoCo C makes two contacts and MJX one
    (0.09 rad/s apart, in float64 too); a servo at its force limit keeps its implicit damping in MJX
    only (0.15 rad in one control step); at the cards' 4 iterations the solver has not converged and
    a cold start per control step (all `mujoco.rollout` offers) moves contacts by ~1e-2 rad in 0.5 s."""
    converged = card.model_copy(update={"simulator": card.simulator.model_copy(update={"iterations": 10})})
    c_env = MujocoHumanoidEnv(converged, library, envs=1, training=False)
    mjx_env = MjxHumanoidEnv(converged, library, training=False)
    settings = c_env.task.eval_settings(_scenario(1))
    c_env.reset(0, settings)
    qpos = _standing_on_the_floor(c_env.mj_model, _qpos(c_env)[0])
    c_env.state["physics"][0, c_env._slices["qpos"]] = qpos
    c_env.state["physics"][0, c_env._slices["qvel"]] = 0.0
    state = jax.jit(mjx_env.reset)(jax.random.PRNGKey(0), settings)
    data = state.data.replace(qpos=jnp.asarray(qpos, jnp.float32), qvel=jnp.zeros_like(state.data.qvel))
    info = {
        **state.info,
        "skill": jnp.asarray(c_env.state["skill"][0]),
        "speed": jnp.asarray(c_env.state["speed"][0]),
    }
    state = state.replace(data=_kinematics(mjx_env.sys, data), info=info)
    task = c_env.task
    start_pose = (qpos[7:] - task.pd_center) / task.pd_scale
    step = jax.jit(mjx_env.step)
    worst = 0.0
    for t in range(TRAJECTORY_STEPS):
        action = (start_pose + 0.05 * np.sin(0.5 * t + np.arange(task.action_size))).astype(np.float32)
        state = step(state, jnp.asarray(action), settings)
        stepped = c_env.step(action[None])
        assert np.all(np.abs(c_env.state["torques"][0]) < 0.99 * task.effort_limits)
        worst = max(worst, float(np.abs(np.asarray(state.data.qpos[7:]) - _qpos(c_env)[0, 7:]).max()))
        np.testing.assert_allclose(np.asarray(state.obs), stepped.obs[0], atol=20 * TRAJECTORY_TOLERANCE)
        assert float(state.reward) == pytest.approx(float(stepped.reward[0]), abs=1e-3)
    assert worst < TRAJECTORY_TOLERANCE
    print(f"largest joint angle difference over {TRAJECTORY_STEPS} steps: {worst:.1e} rad")


def test_a_scheduled_push_changes_momentum_by_force_times_duration(card, library):
    """Two envs from the same state high above the floor (no contact), one pushed 100 N x 0.1 s."""
    push = ScheduledPush(body="torso", force=100.0, duration=0.1, azimuth_deg=0.0, start_seconds=0.04)
    pushed, still = (MujocoHumanoidEnv(card, library, envs=1, training=False) for _ in range(2))
    for env, p in ((pushed, push), (still, None)):
        env.reset(0, env.task.eval_settings(_scenario(1, p)))
        env.state["physics"][0, env._slices["qpos"].start + 2] += 2.0
    zero = np.zeros((1, pushed.action_size), np.float32)
    momentum = []
    for env in (pushed, still):
        for _ in range(10):  # 0.2 s: the whole push and more
            env.step(zero)
        data = mujoco.MjData(env.mj_model)
        data.qpos[:], data.qvel[:] = _qpos(env)[0], _qvel(env)[0]
        mujoco.mj_forward(env.mj_model, data)
        mujoco.mj_subtreeVel(env.mj_model, data)
        momentum.append(env.total_mass * data.subtree_linvel[0])
    assert np.linalg.norm(momentum[0] - momentum[1]) == pytest.approx(100.0 * 0.1, rel=1e-3)


def test_a_saved_batch_continues_exactly(card, library):
    env = MujocoHumanoidEnv(card, library, envs=ENVS, training=True)
    env.reset(3)
    actions = np.random.default_rng(1).uniform(-1, 1, (20, ENVS, env.action_size)).astype(np.float32)
    for a in actions[:10]:
        env.step(a)
    saved = env.state_dict()
    first = [env.step(a).obs for a in actions[10:]]
    env.load_state_dict(saved)
    again = [env.step(a).obs for a in actions[10:]]
    np.testing.assert_array_equal(np.stack(first), np.stack(again))


class Interrupt(Exception):
    pass


def test_training_on_mujoco_c_resumes_from_its_checkpoint_exactly(card, library, tmp_path):
    """4 updates of 8 envs x 16 steps, checkpoints every 2; the cut run dies after update 3."""
    training = card.training.model_copy(update={"envs": 8, "steps": 4 * 8 * 16, "checkpoint_every": 2})
    small = card.model_copy(update={"training": training})

    def die_after_update_3(env_steps: int, _scalars) -> None:
        if env_steps >= 3 * 8 * 16:
            raise Interrupt

    def run(name: str, **kwargs):
        return train(
            MujocoHumanoidEnv(small, library, envs=8), small, seed=0, run_dir=tmp_path / name, **kwargs
        )

    whole = run("whole", resume=False)
    with pytest.raises(Interrupt):
        run("cut", resume=False, progress_fn=die_after_update_3)
    assert latest_checkpoint(tmp_path / "cut").name == "ckpt_000002.msgpack"
    resumed = run("cut", resume=True)
    assert resumed.updates == 4
    for a, b in zip(
        jax.tree_util.tree_leaves(whole.state), jax.tree_util.tree_leaves(resumed.state), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_the_endurance_scenario_plays_the_cards_training_pushes(card, library):
    """Evaluation envs push only on schedule, except the endurance scenario: the card's random pushes."""
    assert card.training_pushes.enabled and card.training_pushes.probability > 0
    env = MujocoHumanoidEnv(card, library, envs=4, training=False, weld_root=True)
    zero = np.zeros((4, env.action_size), np.float32)
    pushed_steps = {}
    for random_pushes in (False, True):
        scenario = EvalScenario(name="t", seed=0, envs=4, episode_seconds=60.0, random_pushes=random_pushes)
        env.reset(0, env.task.eval_settings(scenario))
        count = 0
        for _ in range(200):
            env.step(zero)
            count += int((np.linalg.norm(env.state["push_force"], axis=1) > 0).sum())
        pushed_steps[random_pushes] = count
    assert pushed_steps[False] == 0
    # p = 0.02 per idle step for 4 envs x 200 steps, 5-10 steps per push: about 60 pushed steps
    assert pushed_steps[True] > 10


def test_a_gait_push_starts_at_its_event_after_the_warm_up(card, library):
    """Feed the task a foot that lands three times, before the warm-up, in the wait and after the wait:
    only the second landing starts the push, at the next control step; a later one would not."""
    env = MujocoHumanoidEnv(card, library, envs=1, training=False)
    task = env.task
    push = ScheduledPush(body="pelvis", force=50.0, duration=0.1, azimuth_deg=90.0, start_seconds=2.0)
    scenario = EvalScenario(
        name="t",
        seed=0,
        envs=1,
        episode_seconds=8.0,
        push=push,
        start_jitter_seconds=2.0,
        gait_event="touchdown",
    )
    settings = task.eval_settings(scenario)
    foot = task.gait_foot_index

    def push_start_after(landings):
        push_start = task.initial_push_start(settings, np.zeros(1, np.float32))
        memory = np.zeros((1, 2), np.float32)
        for step in range(1, 300):
            bodies = np.zeros((1, len(task.spec.body_names), 3), np.float32)
            bodies[0, foot, 2] = 0.05 if step in landings or step - 1 in landings else 0.2
            parts = {
                "body_positions": bodies,
                "root_position": np.array([[0.0, 0.0, 0.9]], np.float32),
                "root_rotation": np.array([[1.0, 0.0, 0.0, 0.0]], np.float32),
            }
            push_start, memory = task.gait_push_start(settings, np.array([step]), parts, memory, push_start)
        return push_start[0]

    # steps 50 (1.0 s, warm-up), 150 (3.0 s, in the wait up to 4.0 s), 250 (5.0 s, too late)
    assert push_start_after({50, 150, 250}) == pytest.approx(150 * task.dt)
    assert push_start_after({50, 250}) >= PUSH_NOT_YET


def test_a_step_that_ends_episodes_reports_the_ended_transition_not_the_reset(card, library):
    """The reset of ended envs writes the batch state in place; the step's AMP observation and final
    observation must stay those of the transition that ended. Aliased, a fall reported the reset's clip
    frames, which the discriminator pays as a clip's (a reward for falling)."""
    env = MujocoHumanoidEnv(card, library, envs=ENVS, training=True)
    env.reset(0)
    for _ in range(3):
        env.step(np.zeros((ENVS, env.action_size)))
    before = env.state["amp_history"].copy()
    step = env.step(np.full((ENVS, env.action_size), np.nan))  # a blow-up: every episode ends here
    assert np.all(step.done == 1)
    frames = step.amp_obs.reshape(before.shape)
    np.testing.assert_array_equal(frames[:, :-1], before[:, 1:])  # the ended history, shifted by one
    assert not np.allclose(step.amp_obs, env.state["amp_history"].reshape(ENVS, -1))  # not the reset's
    assert not np.allclose(step.final_obs, env.state["obs"])
