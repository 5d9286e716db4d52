"""Pictures of a policy beside its clip: MuJoCo's offscreen renderer draws one env of a recorded `Rollout`
with the clip as a translucent ghost one metre to its left (same start heading, phase-matched to the
policy's first pose), and a push as a red arrow at the pushed body while it acts. The frames become an
MP4 (imageio's ffmpeg) and a PNG filmstrip.

Rendering reads only the recorded poses, so a rollout of any backend is drawn the same way. Offscreen
OpenGL comes from EGL on a GPU machine or Mesa's OSMesa on a CPU (`ampbench.render.gl`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import imageio.v3 as iio
import mujoco
import numpy as np

from ampbench.cards import RenderConfig
from ampbench.motion.loader import MotionLibrary
from ampbench.robot import quat
from ampbench.sim.records import Rollout

GHOST_RGBA = (0.35, 0.6, 1.0, 0.35)
ARROW_RGBA = (0.9, 0.1, 0.1, 1.0)
GHOST_OFFSET = 1.0  # m to the policy's left, in its start heading frame
CAMERA_AZIMUTH = 150.0  # degrees from the policy's heading: a three-quarter view from its front right


@dataclass(frozen=True)
class Poses:
    """qpos per frame (frames, nq) of the policy and of its ghost, and the push arrow per frame (frames,
    2, 3): start and end points, NaN where no push acts."""

    policy: np.ndarray
    ghost: np.ndarray
    arrows: np.ndarray


def rollout_qpos(rollout: Rollout, env: int) -> np.ndarray:
    """The recorded free-joint and hinge positions of one env, (steps, nq)."""
    return np.concatenate(
        [rollout.root_position[env], rollout.root_rotation[env], rollout.dof_positions[env]], axis=-1
    )


def ghost_qpos(
    library: MotionLibrary, clip_index: int, policy_qpos: np.ndarray, dof_names, dt: float
) -> np.ndarray:
    """The clip from the time whose hinge angles are closest to the policy's first pose, moved so its
    root starts GHOST_OFFSET to the policy's left with the policy's start heading, (steps, nq)."""
    clip = library.clips[clip_index]
    dofs = [library.dof_names.index(name) for name in dof_names]
    root = library.body_names.index("pelvis")
    grid = np.arange(0.0, clip.duration, dt)
    candidates = library.state_at(clip_index, grid).dof_positions[:, dofs]
    start = grid[np.argmin(np.sum((candidates - policy_qpos[0, 7:]) ** 2, axis=1))]
    times = start + dt * np.arange(len(policy_qpos))
    if clip.loop:  # each cycle starts where the last ended: the library wraps time, not the root's travel
        ends = library.state_at(clip_index, np.array([0.0, clip.duration - 1e-6])).body_positions[:, root]
        travel = np.floor(times / clip.duration)[:, None] * (ends[1] - ends[0]) * np.array([1.0, 1.0, 0.0])
        times = np.mod(times, clip.duration)
    else:
        travel, times = 0.0, np.minimum(times, clip.duration)
    state = library.state_at(clip_index, times)
    position, rotation = state.body_positions[:, root] + travel, state.body_rotations[:, root]
    turn = quat.yaw_quat(quat.heading_yaw(policy_qpos[0, 3:7]) - quat.heading_yaw(rotation[0]))
    left = quat.rotate(
        quat.yaw_quat(quat.heading_yaw(policy_qpos[0, 3:7])), np.array([0.0, GHOST_OFFSET, 0.0])
    )
    moved = quat.rotate(turn, position - position[0]) + policy_qpos[0, :3] + left
    moved[:, 2] = position[:, 2]
    return np.concatenate([moved, quat.multiply(turn, rotation), state.dof_positions[:, dofs]], axis=-1)


def push_arrows(rollout: Rollout, env: int, length_per_newton: float) -> np.ndarray:
    """(steps, 2, 3) arrow from the pushed body's origin along the applied force; NaN without a push."""
    arrows = np.full((rollout.steps, 2, 3), np.nan)
    if rollout.push is None:
        return arrows
    force = rollout.push.applied_force[env]
    acting = np.linalg.norm(force, axis=-1) > 0
    body = rollout.body_positions[env][:, rollout.body_names.index(rollout.push.body)]
    arrows[acting, 0] = body[acting] - length_per_newton * force[acting]
    arrows[acting, 1] = body[acting]
    return arrows


class FrameRenderer:
    """Draws `Poses` frame by frame with a tracking camera; one OpenGL context, reused."""

    def __init__(self, model: mujoco.MjModel, settings: RenderConfig):
        """`model` (a copy for drawing: its offscreen buffer and headlight are set here)."""
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, settings.width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, settings.height)
        model.vis.headlight.ambient[:] = 0.4
        model.vis.headlight.diffuse[:] = 0.8
        self.model = model
        self.settings = settings
        self.renderer = mujoco.Renderer(model, settings.height, settings.width)
        self.policy, self.ghost = mujoco.MjData(model), mujoco.MjData(model)
        self.camera = mujoco.MjvCamera()
        self.camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        self.camera.distance, self.camera.elevation = settings.camera_distance, -15.0
        self.option, self.perturb = mujoco.MjvOption(), mujoco.MjvPerturb()

    def frames(self, poses: Poses) -> np.ndarray:
        """(frames, height, width, 3) uint8."""
        images = []
        for policy, ghost, arrow in zip(poses.policy, poses.ghost, poses.arrows, strict=True):
            self.policy.qpos[:], self.ghost.qpos[:] = policy, ghost
            mujoco.mj_kinematics(self.model, self.policy)
            mujoco.mj_kinematics(self.model, self.ghost)
            # On the policy: a ghost running ahead at the clip's speed leaves the frame, the policy never.
            self.camera.lookat[:] = policy[:3]
            self.camera.azimuth = np.degrees(quat.heading_yaw(policy[3:7])) + CAMERA_AZIMUTH
            self.renderer.update_scene(self.policy, self.camera)
            self._add_ghost()
            if np.all(np.isfinite(arrow)):
                self._add_arrow(arrow)
            images.append(self.renderer.render().copy())
        return np.stack(images)

    def _add_ghost(self) -> None:
        scene = self.renderer.scene
        first = scene.ngeom
        mujoco.mjv_addGeoms(
            self.model, self.ghost, self.option, self.perturb, mujoco.mjtCatBit.mjCAT_DYNAMIC, scene
        )
        for geom in range(first, scene.ngeom):
            scene.geoms[geom].rgba[:] = GHOST_RGBA

    def _add_arrow(self, arrow: np.ndarray) -> None:
        scene = self.renderer.scene
        if scene.ngeom >= scene.maxgeom:
            return
        geom = scene.geoms[scene.ngeom]
        mujoco.mjv_initGeom(
            geom,
            mujoco.mjtGeom.mjGEOM_ARROW,
            np.zeros(3),
            np.zeros(3),
            np.zeros(9),
            np.asarray(ARROW_RGBA, np.float32),
        )
        mujoco.mjv_connector(geom, mujoco.mjtGeom.mjGEOM_ARROW, 0.03, arrow[0], arrow[1])
        scene.ngeom += 1

    def close(self) -> None:
        self.renderer.close()


def filmstrip(frames: np.ndarray, count: int) -> np.ndarray:
    """`count` frames evenly spread over the clip, side by side, (height, count x width, 3)."""
    chosen = np.linspace(0, len(frames) - 1, count).round().astype(int)
    return np.concatenate(list(frames[chosen]), axis=1)


def write_video(path: Path, frames: np.ndarray, fps: float) -> Path:
    """H.264 MP4 (imageio's ffmpeg plugin)."""
    with warnings.catch_warnings():  # JAX warns of any fork; ffmpeg's fork execs at once, holding no lock
        warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
        iio.imwrite(path, frames, fps=fps, codec="libx264", macro_block_size=1, plugin="FFMPEG")
    return path


def write_image(path: Path, image: np.ndarray) -> Path:
    iio.imwrite(path, image)
    return path
