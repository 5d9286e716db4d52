"""The Isaac Lab backend against MuJoCo C and the clips, on the cards' default contact set (`sparse`):
names and quaternions map one to one, masses and inertias are MuJoCo's, the same state and action give
the same joint torque, short open-loop rollouts follow MuJoCo C, limp falls land on the contact set's
geoms and count as falls, a get-up clip's lying start rests as on MuJoCo C, pushes change momentum by
force x duration, a saved batch continues, and blow-ups (NaN actions, a 1e9 N push, a velocity beyond the
card's `simulator.max_velocity`) are falls counted in training as on MuJoCo C and MJX.

Needs the isaaclab venv (`pip install -e '.[isaaclab,dev]'`, Python 3.12); elsewhere the module skips.
Each test builds its own Isaac Lab env (one simulation per process at a time; ~12 s for the first with a
warm Warp kernel cache, ~2 s after that) and closes it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mujoco
import numpy as np
import pytest

pytest.importorskip("isaaclab", reason="the isaaclab backend's tests need the isaaclab venv (.[isaaclab])")
torch = pytest.importorskip("torch")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from isaaclab.utils.math import quat_apply_inverse  # noqa: E402

from ampbench.motion.clip_files import load_clip  # noqa: E402
from ampbench.motion.loader import DATA_DIR_ENV  # noqa: E402
from ampbench.robot.model import FREE_QPOS, build_mj_model, floor_contact_geoms, humanoid_spec  # noqa: E402
from ampbench.scoring.falls import FALL_RULE, fall_step_of  # noqa: E402
from ampbench.sim.isaaclab import IsaacLabSimulator, conventions  # noqa: E402
from ampbench.sim.isaaclab.config import contact_capacity  # noqa: E402
from ampbench.sim.isaaclab.dlpack import to_jax, to_torch  # noqa: E402
from ampbench.sim.isaaclab.env import IsaacLabHumanoidEnv  # noqa: E402
from ampbench.sim.mujoco.env import MujocoHumanoidEnv  # noqa: E402
from ampbench.sim.records import EvalScenario, ScheduledPush  # noqa: E402
from tests.clipfactory import deepmimic_clip  # noqa: E402
from tests.policyfactory import nan_policy  # noqa: E402
from tests.robot.physics.test_contacts import (  # noqa: E402
    LIMP_FALLS,
    REST_LIMIT,
    SINK_LIMIT,
    first_frame,
    lie_still,
    lowest,
    tilted_start,
    touching,
)

TORQUE_TOLERANCE = 1e-3  # N·m; measured 2e-4 (float32 MuJoCo-Warp against float64 MuJoCo C)
TRAJECTORY_STEPS = 25  # 0.5 s at 50 Hz, the feet in contact throughout
TRAJECTORY_TOLERANCE = 1e-5  # rad, solver converged; measured 1.3e-6 (`sparse`), 5e-7 (`floor`)
CARD_SOLVER_TOLERANCE = 3e-2  # rad, the card's 4 iterations (warm vs cold start); measured 2.7e-2
# with `sparse`, 1.3e-2 with every segment colliding (`floor`)


@pytest.fixture
def isaac(card, library):
    envs: list[IsaacLabHumanoidEnv] = []

    def build(card_=card, **kwargs) -> IsaacLabHumanoidEnv:
        env = IsaacLabHumanoidEnv(card_, library, **{"envs": 1, "training": False, **kwargs})
        envs.append(env)
        return env

    yield build
    for env in envs:
        env.close()


def _converged(card):
    return card.model_copy(update={"simulator": card.simulator.model_copy(update={"iterations": 10})})


def _scenario(envs: int = 1, push: ScheduledPush | None = None) -> EvalScenario:
    return EvalScenario(name="t", seed=0, envs=envs, episode_seconds=1.0, push=push)


# ---- names and quaternions ----------------------------------------------------------------------------


def test_dof_names_map_to_hinges_and_reject_strangers():
    known = humanoid_spec().dof_names
    assert conventions.dof_name("left_hip_x:0", known) == "left_hip_x"
    assert conventions.dof_name("left_hip_x:2", known) == "left_hip_z"
    assert conventions.dof_name("right_knee_1", known) == "right_knee"
    assert conventions.dof_name("left_elbow", known) == "left_elbow"
    with pytest.raises(ValueError, match="left_wrist_x"):
        conventions.dof_name("left_wrist_x:1", known)
    with pytest.raises(ValueError, match="missing"):
        conventions.dof_names(["left_hip_x:0"], known)


def test_quaternion_conversion_round_trips_in_numpy_and_torch():
    q = np.random.default_rng(0).normal(size=(5, 4))
    np.testing.assert_array_equal(conventions.xyzw_to_wxyz(conventions.wxyz_to_xyzw(q)), q)
    np.testing.assert_array_equal(conventions.wxyz_to_xyzw(q)[:, 3], q[:, 0])
    t = torch.as_tensor(q)
    assert torch.equal(conventions.wxyz_to_xyzw(t), torch.as_tensor(conventions.wxyz_to_xyzw(q)))


def test_isaaclab_dof_and_body_names_map_onto_the_model_one_to_one(isaac):
    """Newton's names, mapped, are the model's; its joint limits, reordered, are the MJCF's axis by axis
    (the x, y and z ranges of a joint differ, so a wrong axis order fails here)."""
    env = isaac()
    robot, spec = env.direct.robot, env.spec
    assert any(":" in name for name in robot.joint_names)  # Newton's merged joints are being mapped
    assert sorted(conventions.dof_names(robot.joint_names, spec.dof_names)) == sorted(spec.dof_names)
    limits = robot.data.joint_pos_limits.torch[0].cpu().numpy()[env.direct.dof_order.numpy()]
    np.testing.assert_allclose(limits, spec.joint_ranges, atol=1e-5)
    assert [robot.body_names[i] for i in env.direct.body_order] == list(spec.body_names)


def _isaaclab_walk() -> Path:
    import isaaclab_tasks

    path = Path(isaaclab_tasks.__file__).parent / "contrib" / "humanoid_amp" / "motions" / "humanoid_walk.npz"
    if not path.is_file():
        pytest.skip(f"{path} is not in this isaaclab_tasks install")
    return path


def _project_walk() -> Path:
    path = Path(os.environ.get(DATA_DIR_ENV) or "data/clips") / "deepmimic" / "walk.npz"
    if not path.is_file():
        pytest.skip(f"{path} missing: set ${DATA_DIR_ENV} to a clip folder (`ampbench data fetch`)")
    return path


def _skeleton_offsets(names, positions, rotations_xyzw) -> np.ndarray:
    """Each child body's position in its parent's frame, per frame (F, pairs, 3), by Isaac Lab's maths."""
    model = build_mj_model(*_default_sections())
    pairs = [
        (names.index(model.body(b).name), names.index(model.body(model.body_parentid[b]).name))
        for b in range(2, model.nbody)
    ]
    child, parent = (np.asarray(i) for i in zip(*pairs, strict=True))
    delta = torch.as_tensor(positions[:, child] - positions[:, parent])
    return quat_apply_inverse(torch.as_tensor(rotations_xyzw[:, parent]), delta).numpy()


def _default_sections():
    from ampbench.cards import HumanoidConfig, SimulatorConfig

    return SimulatorConfig(), HumanoidConfig()


@pytest.mark.parametrize("clip", ["isaaclab", "project"])
def test_clip_quaternions_converted_to_xyzw_hold_the_skeleton_rigid_in_isaaclab_maths(clip):
    """Wxyz clip rotations, converted at the edge, put every child body at a fixed offset in its parent's
    frame through Isaac Lab's own `quat_apply_inverse`; passed unconverted (as wxyz), they do not."""
    if clip == "isaaclab":
        with np.load(_isaaclab_walk()) as data:
            names = [str(n) for n in data["body_names"]]
            positions, rotations = data["body_positions"].astype(np.float64), data["body_rotations"]
    else:
        walk = load_clip(_project_walk())
        names, positions, rotations = list(walk.body_names), walk.body_positions, walk.body_rotations
    converted = _skeleton_offsets(
        names, positions, conventions.wxyz_to_xyzw(np.asarray(rotations, np.float64))
    )
    unconverted = _skeleton_offsets(names, positions, np.asarray(rotations, np.float64))
    assert converted.std(axis=0).max() < 2e-3  # float32 files: mm-level noise
    assert unconverted.std(axis=0).max() > 2e-2
    if clip == "project":  # the project's clips are the model's own kinematics: offsets = MJCF body_pos
        model = build_mj_model(*_default_sections())
        np.testing.assert_allclose(converted.mean(axis=0), model.body_pos[2:], atol=1e-4)


# ---- physics against MuJoCo C --------------------------------------------------------------------------


def _same_start(c_env: MujocoHumanoidEnv, i_env: IsaacLabHumanoidEnv) -> np.ndarray:
    """Both envs at the MuJoCo C env's reset pose, lowered onto the floor, at rest, same command."""
    settings = c_env.task.eval_settings(_scenario())
    c_env.reset(0, settings)
    i_env.reset(0, settings)
    model, qpos_slice = c_env.mj_model, c_env._slices["qpos"]
    data = mujoco.MjData(model)
    data.qpos[:] = c_env.state["physics"][0, qpos_slice]
    while mujoco.mj_forward(model, data) or data.ncon == 0:
        data.qpos[2] -= 0.002
    c_env.state["physics"][0, qpos_slice] = data.qpos
    c_env.state["physics"][0, c_env._slices["qvel"]] = 0.0
    i_env.direct.write_physics(np.ones(1, bool), data.qpos[None], np.zeros((1, model.nv)))
    for key in ("skill", "speed"):
        i_env.state[key][:] = c_env.state[key]
    parts = i_env.direct._parts(i_env.direct._torque_sum)
    np.testing.assert_allclose(parts["body_positions"][0], data.xpos[1:], atol=1e-5)
    np.testing.assert_allclose(parts["body_rotations"][0], data.xquat[1:], atol=1e-5)
    return data.qpos.copy()


def _sway(task, qpos: np.ndarray, t: int, amplitude: float) -> np.ndarray:
    """PD targets swaying about the start pose."""
    start = (qpos[7:] - task.pd_center) / task.pd_scale
    return (start + amplitude * np.sin(0.5 * t + np.arange(task.action_size))).astype(np.float32)[None]


def test_the_same_state_and_action_give_the_same_joint_torque_as_mujoco_c(card, library, isaac):
    """One control step: MuJoCo C's servo force (its actuator-force sensor) and Isaac Lab's implicit
    actuator's reported torque, both averaged over the substeps, in model DOF order."""
    c_env = MujocoHumanoidEnv(card, library, envs=1, training=False)
    i_env = isaac()
    qpos = _same_start(c_env, i_env)
    for t in range(3):
        action = _sway(c_env.task, qpos, t, 0.1)
        c_env.step(action)
        i_env.step(action)
        c_torque, i_torque = c_env.state["torques"][0], i_env.state["torques"][0]
        assert np.abs(c_torque).max() > 10.0  # the servos work: a comparison of zeros would prove nothing
        assert np.all(np.abs(c_torque) < 0.99 * c_env.task.effort_limits)
        np.testing.assert_allclose(i_torque, c_torque, atol=TORQUE_TOLERANCE)
    c_env.close()


@pytest.mark.parametrize("iterations", [10, None])
def test_an_open_loop_rollout_follows_mujoco_c(card, library, isaac, iterations):
    """Same start on the floor, same swaying PD targets, 0.5 s: joint angles within the stated tolerance,
    with the solver converged (10 Newton iterations) and at the card's own iterations (docs/backends.md's
    "MuJoCo C and Isaac Lab" section names where the two part)."""
    card = _converged(card) if iterations else card
    tolerance = TRAJECTORY_TOLERANCE if iterations else CARD_SOLVER_TOLERANCE
    c_env = MujocoHumanoidEnv(card, library, envs=1, training=False)
    i_env = isaac(card)
    qpos = _same_start(c_env, i_env)
    worst = 0.0
    for t in range(TRAJECTORY_STEPS):
        action = _sway(c_env.task, qpos, t, 0.05)
        c_step, i_step = c_env.step(action), i_env.step(action)
        c_dofs = c_env.state["physics"][0, c_env._slices["qpos"]][7:]
        worst = max(worst, float(np.abs(i_env.last_parts["dof_positions"][0] - c_dofs).max()))
        if iterations:
            np.testing.assert_allclose(i_step.obs, c_step.obs, atol=1e-3)
            np.testing.assert_allclose(i_step.reward, c_step.reward, atol=1e-4)
    c_env.close()
    print(f"largest joint angle difference over {TRAJECTORY_STEPS} steps: {worst:.1e} rad")
    assert worst < tolerance


def test_domain_randomisation_draws_and_applies_what_mujoco_c_does(card, library, isaac):
    """Mass, floor friction and joint damping scaled per env at reset: the same seed draws the same
    factors on both envs, and with them applied the open-loop rollout still follows MuJoCo C, once
    MuJoCo's derived constants of the scaled model are recomputed (`mj_setConst`: the MuJoCo C env
    scales masses without it, Newton recomputes them; docs/isaaclab.md)."""
    randomization = card.randomization.model_copy(
        update={
            "enabled": True,
            "mass_scale": (0.7, 0.8),
            "friction": (0.3, 0.4),
            "damping_scale": (5.0, 6.0),
        }
    )
    card = _converged(card).model_copy(update={"randomization": randomization})
    c_env = MujocoHumanoidEnv(card, library, envs=1, training=False)
    i_env = isaac(card)
    qpos = _same_start(c_env, i_env)
    mujoco.mj_setConst(c_env._models[0], mujoco.MjData(c_env._models[0]))
    np.testing.assert_allclose(i_env.state["randomization"], c_env.state["randomization"])
    mass = float(i_env.direct.robot.data.body_mass.torch[0].sum())
    assert mass == pytest.approx(c_env._models[0].body_mass.sum(), rel=1e-5)
    assert mass < 0.81 * c_env.total_mass
    worst = 0.0
    for t in range(TRAJECTORY_STEPS):
        action = _sway(c_env.task, qpos, t, 0.05)
        c_env.step(action)
        i_env.step(action)
        c_dofs = c_env.state["physics"][0, c_env._slices["qpos"]][7:]
        worst = max(worst, float(np.abs(i_env.last_parts["dof_positions"][0] - c_dofs).max()))
    c_env.close()
    print(f"largest joint angle difference, randomised: {worst:.1e} rad")
    assert worst < TRAJECTORY_TOLERANCE


# ---- the card's contact set (tests/robot/physics/test_contacts.py on MuJoCo C) ---------------------


def test_the_robot_has_mujocos_masses_and_inertias_and_collides_with_the_cards_set_only(card, isaac):
    """Every body's mass, centre of mass and inertia are MuJoCo's (the massless contact points add
    nothing), and MuJoCo-Warp's model holds the floor and the card's contact geoms, nothing else."""
    env = isaac()
    data, model, order = env.direct.robot.data, env.mj_model, env.direct.body_order
    np.testing.assert_allclose(data.body_mass.torch[0].numpy()[order], model.body_mass[1:], rtol=1e-6)
    np.testing.assert_allclose(data.body_com_pos_b.torch[0].numpy()[order], model.body_ipos[1:], atol=1e-6)
    inertia = data.body_inertia.torch[0].numpy()[order].reshape(-1, 3, 3)
    rotations = np.zeros((model.nbody - 1, 9))
    for b in range(1, model.nbody):
        mujoco.mju_quat2Mat(rotations[b - 1], model.body_iquat[b])
    rotations = rotations.reshape(-1, 3, 3)
    expected = rotations @ (model.body_inertia[1:, :, None] * np.eye(3)) @ rotations.transpose(0, 2, 1)
    np.testing.assert_allclose(inertia, expected, atol=1e-7)
    from isaaclab_newton.physics import NewtonManager

    geoms = NewtonManager._solver.mjw_model.ngeom
    assert geoms == 1 + len(floor_contact_geoms(model, card.simulator.contacts)) < model.ngeom
    # contact buffers from the set: the card docs' 21 contacts of `sparse`, 34 with every segment
    assert contact_capacity(model, "sparse")[0] == 21 and contact_capacity(model, "floor")[0] == 34


def _qpos(parts: dict[str, np.ndarray]) -> np.ndarray:
    """MuJoCo qpos of env 0 from the Isaac Lab env's read-out (model order, wxyz)."""
    return np.concatenate(
        [parts["root_position"][0], parts["root_rotation"][0], parts["dof_positions"][0]]
    ).astype(np.float64)


@pytest.mark.parametrize(("direction", "axis", "degrees", "lands_on"), LIMP_FALLS)
def test_a_limp_fall_on_isaaclab_lands_on_contact_points_and_counts_as_a_fall(
    card, isaac, direction, axis, degrees, lands_on
):
    """As on MuJoCo C: zero torque from a tilted stand for 3 s; MuJoCo's collision detection on Isaac
    Lab's state, once per control step, finds the bodies it lies on, no geom sinks deeper than on MuJoCo
    C's limit, the env's own termination fires and the scorer's fall rule calls it down."""
    assert card.simulator.contacts == "sparse"
    card = card.model_copy(update={"humanoid": card.humanoid.model_copy(update={"action_mode": "torque"})})
    env = isaac(card)
    env.reset(0, env.task.eval_settings(_scenario()))
    model = env.mj_model
    env.direct.write_physics(
        np.ones(1, bool), tilted_start(model, axis, degrees)[None], np.zeros((1, model.nv))
    )
    data = mujoco.MjData(model)
    zero = np.zeros((1, env.action_size), np.float32)
    touched, deepest, terminated = set(), 0.0, False
    for _ in range(round(3.0 / env.dt)):
        env.step(zero)
        data.qpos[:] = _qpos(env.last_parts)
        mujoco.mj_fwdPosition(model, data)
        touched |= touching(model, data)
        deepest = min(deepest, float(lowest(model, data).min()))
        terminated |= bool(env.direct.outcome.fallen[0])
    print(f"{direction}: touched {sorted(touched)}, deepest {-deepest:.3f} m")
    assert lands_on <= touched, f"{direction}: touched {sorted(touched)}"
    assert deepest > -SINK_LIMIT, f"{direction}: a geom went {-deepest:.3f} m into the floor"
    assert terminated
    assert FALL_RULE.down(env.last_parts["body_positions"][None], env.spec.body_names, np.ones((1, 1), bool))[
        0, 0
    ]


@pytest.mark.parametrize("clip_name", ["getup_faceup", "getup_facedown"])
def test_a_get_up_clips_lying_start_rests_on_isaaclab_where_it_rests_on_mujoco_c(card, isaac, clip_name):
    """The clip's first frame, PD targets holding its pose, 1 s: no geom sinks, and the bodies end at
    MuJoCo C's heights (the bounds MuJoCo C's own sparse-against-every-segment test uses)."""
    clip = deepmimic_clip(clip_name)
    reference, _ = lie_still(card.simulator, card.humanoid, clip)
    # PD targets centred in each joint range span it at actions of +-1, so the pose is a reachable target
    humanoid = card.humanoid.model_copy(update={"pd_target_center": "range_middle"})
    env = isaac(card.model_copy(update={"humanoid": humanoid}))
    env.reset(0, env.task.eval_settings(_scenario()))
    model, task = env.mj_model, env.task
    qpos = first_frame(model, clip)
    env.direct.write_physics(np.ones(1, bool), qpos[None], np.zeros((1, model.nv)))
    targets = np.clip(qpos[FREE_QPOS:], *env.spec.joint_ranges.T)
    action = ((targets - task.pd_center) / task.pd_scale).astype(np.float32)[None]
    data, deepest = mujoco.MjData(model), 0.0
    for _ in range(round(1.0 / env.dt)):
        env.step(action)
        data.qpos[:] = _qpos(env.last_parts)
        mujoco.mj_kinematics(model, data)
        deepest = min(deepest, float(lowest(model, data).min()))
    assert deepest > -REST_LIMIT, f"{clip_name}: a geom sank {-deepest:.3f} m into the floor"
    heights = np.abs(env.last_parts["body_positions"][0, :, 2] - reference[:, 2])
    print(
        f"{clip_name}: deepest {-deepest:.3f} m, heights off MuJoCo C by {heights[0]:.4f} m (pelvis), "
        f"{heights.max():.4f} m (most)"
    )
    assert heights[0] < 0.01 and heights.max() < 0.03, (
        f"{clip_name}: body heights differ by {heights.round(3)}"
    )


# ---- the seam to the JAX trainer ------------------------------------------------------------------------


def test_a_step_through_the_dlpack_seam_gives_the_arrays_of_the_numpy_path(card, isaac):
    """JAX actions reach Isaac Lab as the same torch memory (DLPack, on the CPU too), the env's tensors
    reach JAX the same way, and every array of the step is the task's own numpy result of that step
    (what the env handed the trainer before DLPack): observations, rewards, flags, AMP history, final
    observations, metrics; the servo targets are those of the action in numpy."""
    env = isaac(_converged(card), envs=4, training=True)
    obs = env.reset(3)
    assert isinstance(obs, jax.Array)
    np.testing.assert_array_equal(np.asarray(obs), env.state["obs"])
    rng = np.random.default_rng(2)
    tensor = torch.arange(12.0).reshape(3, 4)
    assert to_jax(tensor).unsafe_buffer_pointer() == tensor.data_ptr()
    for _ in range(5):
        actions = jnp.asarray(rng.uniform(-1.2, 1.2, (4, env.action_size)).astype(np.float32))
        assert to_torch(actions, "cpu").data_ptr() == actions.unsafe_buffer_pointer()
        stepped = env.step(actions)
        out, task = env.direct.outcome, env.task
        targets = np.clip(task.ctrl(np.clip(np.asarray(actions), -1, 1)), *env.spec.joint_ranges.T)
        np.testing.assert_allclose(env.direct._targets.numpy()[:, env.direct.dof_order], targets, atol=1e-6)
        numpy_path = {
            "obs": env.state["obs"],
            "reward": out.reward,
            "done": (out.fallen | out.truncated).astype(np.float32),
            "truncated": out.truncated.astype(np.float32),
            "amp_obs": out.amp_history.reshape(4, -1),
            "final_obs": out.obs,
        }
        for name, expected in numpy_path.items():
            got = getattr(stepped, name)
            assert isinstance(got, jax.Array), name
            np.testing.assert_array_equal(np.asarray(got), expected, err_msg=name)
        for name, value in stepped.metrics.items():
            np.testing.assert_array_equal(np.asarray(value), out.metrics[name].astype(np.float32), name)
    assert np.any(np.asarray(stepped.reward) != 0) and not np.array_equal(np.asarray(obs), env.state["obs"])


@pytest.mark.parametrize(("backend", "preallocate"), [("isaaclab", "false"), ("mujoco", None)])
def test_jax_does_not_preallocate_the_gpu_beside_torch_on_the_isaaclab_path_only(backend, preallocate):
    """Importing the isaaclab backend sets XLA_PYTHON_CLIENT_PREALLOCATE=false before JAX has started a
    backend (XLA reads it then); the MuJoCo backends leave JAX's default."""
    code = (
        "import os, jax\n"
        "from jax._src import xla_bridge\n"
        "from ampbench.sim import get_simulator\n"
        f"get_simulator({backend!r})\n"
        "assert not xla_bridge.backends_are_initialized()\n"
        "print(os.environ.get('XLA_PYTHON_CLIENT_PREALLOCATE'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "XLA_PYTHON_CLIENT_PREALLOCATE"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == str(preallocate)


# ---- pushes and checkpoints ----------------------------------------------------------------------------


def _momentum(env: IsaacLabHumanoidEnv) -> np.ndarray:
    data = env.direct.robot.data
    mass = data.body_mass.torch[0].cpu().numpy()
    velocity = data.body_com_lin_vel_w.torch[0].cpu().numpy()
    return (mass[:, None] * velocity).sum(axis=0)


def _momentum_path(isaac, push: ScheduledPush | None, steps: int) -> list[np.ndarray]:
    """Total linear momentum after each of `steps` zero-action control steps, 3 m above the floor."""
    env = isaac()
    env.reset(0, env.task.eval_settings(_scenario(push=push)))
    qpos, qvel = env.task.reset_qpos[:1].copy(), np.zeros((1, env.mj_model.nv), np.float32)
    qpos[0, 2] += 3.0
    env.direct.write_physics(np.ones(1, bool), qpos, qvel)
    zero = np.zeros((1, env.action_size), np.float32)
    path = [_momentum(env)]
    for _ in range(steps):
        env.step(zero)
        path.append(_momentum(env))
    assert not env.direct.robot.permanent_wrench_composer.active  # cleared once the push is over
    env.close()
    return path


def test_a_scheduled_push_changes_momentum_by_force_times_duration_then_stops(isaac):
    """No contact: 100 N x 0.1 s on the torso, against the same fall unpushed, adds 10 N·s along the
    push and nothing after it ends (the composer holds it for exactly its duration)."""
    push = ScheduledPush(body="torso", force=100.0, duration=0.1, azimuth_deg=0.0, start_seconds=0.04)
    steps = 12  # 0.24 s: the push ends at 0.14 s
    pushed, still = (np.stack(_momentum_path(isaac, p, steps)) for p in (push, None))
    gained = pushed - still
    assert np.linalg.norm(gained[-1]) == pytest.approx(100.0 * 0.1, rel=1e-3)
    assert abs(gained[-1, 2]) < 1e-2  # a horizontal push
    # once it ended nothing more (a force left on would add 2 N·s per step; the float32 momentum read-out
    # of two differently spinning robots parts by ~6e-3 N·s over these 3 steps), and nothing before it
    np.testing.assert_allclose(gained[-1], gained[-4], atol=2e-2)
    assert np.linalg.norm(gained[2]) == pytest.approx(0.0, abs=1e-3)


def test_a_saved_batch_continues(card, library, isaac):
    """State dict -> the same observations again; MuJoCo-Warp's solver warm start is not part of it, so
    the replay agrees to the card solver's tolerance, not bit for bit."""
    env = isaac(_converged(card), envs=4, training=True)
    env.reset(3)
    actions = np.random.default_rng(1).uniform(-0.3, 0.3, (12, 4, env.action_size)).astype(np.float32)
    for a in actions[:6]:
        env.step(a)
    saved = env.state_dict()
    first = np.stack([env.step(a).obs for a in actions[6:]])
    env.load_state_dict(saved)
    again = np.stack([env.step(a).obs for a in actions[6:]])
    np.testing.assert_allclose(again, first, atol=1e-3)


# ---- blow-ups -----------------------------------------------------------------------------------------


@pytest.fixture
def simulator(library):
    simulator = IsaacLabSimulator(library_loader=lambda mocap: library)
    yield simulator
    for evaluator in getattr(simulator, "_evaluators", {}).values():
        evaluator.close()


def test_non_finite_actions_end_every_isaaclab_episode_at_the_first_step(card, simulator):
    """As on MuJoCo C and MJX: a policy acting NaN is down at step 0 with no finite step."""
    scenario = EvalScenario(name="nan", seed=100, envs=3, episode_seconds=0.5)
    rollout = simulator.rollout(card, nan_policy(28), scenario)
    assert np.all(fall_step_of(rollout) == 0) and not rollout.finite.any()


def test_isaaclab_training_counts_a_blow_up_and_ends_the_episode(card, isaac):
    env = isaac(card, envs=3, training=True)
    env.reset(0)
    step = env.step(np.full((3, env.action_size), np.nan, np.float32))
    assert np.all(step.metrics["physics_blowup"] == 1) and np.all(step.done) and not np.any(step.truncated)
    assert np.all(np.isfinite(step.obs)) and np.all(np.isfinite(step.amp_obs))


def test_a_step_that_ends_isaaclab_episodes_reports_the_ended_transition_not_the_reset(card, isaac):
    """As on MuJoCo C: resetting the ended envs writes the task state in place, and the step must still
    report the AMP observation and final observation of the transition that ended, not the reset's clip
    frames (which the discriminator would pay as a clip's: a reward for falling)."""
    env = isaac(card, envs=3, training=True)
    env.reset(0)
    for _ in range(3):
        env.step(np.zeros((3, env.action_size), np.float32))
    before = np.array(env.state["amp_history"])
    step = env.step(np.full((3, env.action_size), np.nan, np.float32))  # a blow-up: every episode ends
    assert np.all(np.asarray(step.done) == 1)
    frames = np.asarray(step.amp_obs).reshape(before.shape)
    np.testing.assert_array_equal(frames[:, :-1], before[:, 1:])  # the ended history, shifted by one
    assert not np.allclose(np.asarray(step.amp_obs), np.asarray(env.state["amp_history"]).reshape(3, -1))
    assert not np.allclose(np.asarray(step.final_obs), np.asarray(env.state["obs"]))


def test_a_velocity_beyond_the_cards_max_velocity_is_an_isaaclab_blow_up(card, isaac):
    """As on MuJoCo C and MJX: the clip's reset velocities exceed a 1e-3 limit, so the first step blows up."""
    strict = card.model_copy(update={"simulator": card.simulator.model_copy(update={"max_velocity": 1e-3})})
    env = isaac(strict, envs=3, training=True)
    env.reset(0)
    step = env.step(np.zeros((3, env.action_size), np.float32))
    assert np.all(step.metrics["physics_blowup"] == 1) and np.all(step.done)


def test_a_1e9_newton_push_on_isaaclab_is_a_fall_at_the_push(card, simulator):
    """The push MuJoCo C once "survived": on Isaac Lab its step blows up (2e6 m/s) and is a fall."""
    push = ScheduledPush(body="pelvis", force=1e9, duration=0.1, azimuth_deg=0.0, start_seconds=0.04)
    scenario = EvalScenario(name="huge", seed=100, envs=4, episode_seconds=0.5, push=push)
    rollout = simulator.rollout(card, None, scenario)
    push_step = round(0.04 / card.simulator.control_dt)
    assert np.all(fall_step_of(rollout) == push_step), fall_step_of(rollout)
    assert np.all(~rollout.finite[:, push_step])
