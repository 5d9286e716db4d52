"""Videos of a policy beside its clip: the ghost starts beside the policy with its heading and keeps
walking across loop cycles, the push arrow shows only while the push acts, and rendered frames are not
blank and change over time (MuJoCo's offscreen renderer: OSMesa on a CPU)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from ampbench import cards
from ampbench.motion.loader import MotionLibrary
from ampbench.render.video import GHOST_OFFSET, FrameRenderer, Poses, filmstrip, ghost_qpos, push_arrows
from ampbench.robot import quat
from ampbench.robot.model import build_mj_model, humanoid_spec
from ampbench.scoring.scenarios import evaluation_scenarios
from tests.clipfactory import ROOT_VELOCITY, synthetic_clip
from tests.rolloutfactory import small_card, synthetic_rollout

DT = 0.02


@pytest.fixture(scope="module")
def library() -> MotionLibrary:
    return MotionLibrary([synthetic_clip(num_frames=31, fps=30.0, loop=True)], skills=["walk"])


def policy_start(yaw: float, steps: int, nq: int) -> np.ndarray:
    qpos = np.zeros((steps, nq))
    qpos[:, :3] = [2.0, -1.0, 0.9]
    qpos[:, 3:7] = quat.yaw_quat(np.array(yaw))
    return qpos


def test_the_ghost_starts_beside_the_policy_with_its_heading_and_travels_across_loops(library):
    spec = humanoid_spec()
    steps = 150  # 3 s: three cycles of the 1 s clip
    policy = policy_start(np.pi / 2, steps, 7 + len(spec.dof_names))
    ghost = ghost_qpos(library, 0, policy, spec.dof_names, DT)
    assert ghost.shape == policy.shape
    left = np.array([-GHOST_OFFSET, 0.0])  # facing +y, the left is -x
    assert np.allclose(ghost[0, :2], policy[0, :2] + left, atol=1e-6)
    assert np.isclose(quat.heading_yaw(ghost[0, 3:7]), np.pi / 2, atol=1e-6)
    step = np.linalg.norm(np.diff(ghost[:, :2], axis=0), axis=1)
    speed = np.linalg.norm(ROOT_VELOCITY[:2])
    assert np.allclose(step, speed * DT, rtol=0.1), "the ghost jumped at a loop boundary"


def test_the_push_arrow_is_drawn_only_while_the_push_acts():
    scenario = next(s for s in evaluation_scenarios(small_card()) if s.push and s.push.force > 0)
    rollout = synthetic_rollout(scenario, [-1] * scenario.envs, push_start_steps=[30] * scenario.envs)
    arrows = push_arrows(rollout, 0, length_per_newton=0.01)
    acting = np.linalg.norm(rollout.push.applied_force[0], axis=-1) > 0
    assert acting.any() and np.all(np.isfinite(arrows[acting])) and np.all(np.isnan(arrows[~acting]))
    first = np.flatnonzero(acting)[0]
    direction = arrows[first, 1] - arrows[first, 0]
    force = rollout.push.applied_force[0, first]
    assert np.allclose(direction, 0.01 * force)


@pytest.mark.skipif(
    os.environ.get("MUJOCO_GL") not in ("osmesa", "egl"),
    reason="no offscreen OpenGL: install Mesa's OSMesa (Debian: apt-get install libosmesa6) or run with EGL",
)
def test_rendered_frames_are_not_blank_and_change_over_time(library):
    spec = humanoid_spec()
    settings = cards.RenderConfig(width=96, height=72)
    policy = policy_start(0.0, 40, 7 + len(spec.dof_names))
    policy[:, 0] += np.linspace(0.0, 1.0, 40)  # the policy slides forward under the tracking camera
    ghost = ghost_qpos(library, 0, policy, spec.dof_names, DT)
    arrows = np.full((40, 2, 3), np.nan)
    arrows[20:] = [[2.0, -1.5, 0.9], [2.0, -1.0, 0.9]]
    model = build_mj_model(cards.SimulatorConfig(), cards.HumanoidConfig())
    renderer = FrameRenderer(model, settings)
    try:
        frames = renderer.frames(Poses(policy[::13], ghost[::13], arrows[::13]))
    finally:
        renderer.close()
    assert frames.shape == (4, 72, 96, 3) and frames.dtype == np.uint8
    assert all(frame.std() > 10 for frame in frames), "a blank frame"
    assert np.abs(frames[0].astype(int) - frames[-1]).mean() > 2, "the frames do not change"
    assert filmstrip(frames, 3).shape == (72, 3 * 96, 3)
