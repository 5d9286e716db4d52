"""Steps every clip converter shares, so DeepMimic, poselib and Isaac Lab clips come out alike.

A source gives, per frame, the root pose and one local rotation per model body that has joints
(the rotation of the body relative to its parent, in the model's Z-up frame). From that:
- each 3-hinge joint (`J_x, J_y, J_z`) gets intrinsic x-y-z angles; of the two angle triples that
  make the same rotation, the one inside the joint ranges and continuous in time is kept;
- each 1-hinge joint (knee, elbow) gets the twist of its rotation about the hinge axis;
- bodies come from the model's forward kinematics, velocities from finite differences.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import mujoco
import numpy as np

from ampbench.model import forward_kinematics, humanoid_spec
from ampbench.motion.clip import (
    MotionClip,
    angular_velocities,
    equivalent_xyz_triples,
    nearest_xyz_triple,
    validate_clip,
    wrap_angle,
)
from ampbench.task import quat

_AXES_XYZ = np.eye(3)
RANGE_EXCESS_WEIGHT = 10.0
"""Cost of one radian outside a joint range against one radian of frame-to-frame change, when choosing
between the two x-y-z triples of a rotation. A switch of triple costs about 2 pi of change, so at 10 a
pose held a few frames 10+ degrees past a limit switches to an in-range equivalent (DeepMimic
getup_facedown's left shoulder: 14 frames up to 29 degrees past at 1, 2 frames up to 4 at 10); the
loader interpolates across switches on SO(3)."""


@dataclass(frozen=True)
class JointGroup:
    """The hinges of one model body: their DOF indices and unit axes (in the body frame)."""

    body: str
    dof_indices: tuple[int, ...]
    axes: np.ndarray


@functools.cache
def reference_model() -> mujoco.MjModel:
    """The project's humanoid, loaded once, for kinematics only."""
    return mujoco.MjModel.from_xml_path(str(humanoid_spec().xml_path))


@functools.cache
def joint_groups() -> tuple[JointGroup, ...]:
    """One group per body with hinges, in DOF order; 3-hinge groups must be x, y, z in that order."""
    model = reference_model()
    groups = []
    for body in range(1, model.nbody):
        first, count = model.body_jntadr[body], model.body_jntnum[body]
        joints = [j for j in range(first, first + count) if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE]
        if not joints:
            continue
        axes = model.jnt_axis[joints].copy()
        if len(joints) == 3 and not np.allclose(axes, _AXES_XYZ):
            raise ValueError(
                f"{humanoid_spec().xml_path}: body '{model.body(body).name}' hinges must be x, y, z"
            )
        dofs = tuple(int(model.jnt_qposadr[j]) - 7 for j in joints)
        groups.append(JointGroup(model.body(body).name, dofs, axes))
    return tuple(groups)


def twist_angle(rotations: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Angle of the rotation's twist about a unit axis (swing-twist split): (..., 4) -> (...)."""
    along = rotations[..., 1:] @ axis
    return wrap_angle(2.0 * np.arctan2(along, rotations[..., 0]))


def hinge_xyz_angles(rotations: np.ndarray, ranges: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """(F, 4) local rotations -> (F, 3) intrinsic x-y-z angles (unwrapped in time) and their rates.

    Per frame the triple on the path with the least weighted joint-range excess plus frame-to-frame
    change is kept (a two-state Viterbi search), each angle within half a turn of its range's middle.
    Where that path switches triple, the angles jump; the rates do not: each frame's rate differences
    its neighbours re-expressed by their triple nearest to its own.
    """
    candidates = _turned_toward_range(equivalent_xyz_triples(rotations), ranges)
    choice = _least_cost_path(RANGE_EXCESS_WEIGHT * _range_excess(candidates, ranges), candidates)
    chosen = candidates[np.arange(len(candidates)), choice]
    return chosen, _rates_without_switches(rotations, chosen, dt)


def _turned_toward_range(angles: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """Each angle shifted by whole turns to lie within half a turn of its joint range's middle."""
    middle = ranges.mean(axis=-1)
    return middle + wrap_angle(angles - middle)


def _rates_without_switches(rotations: np.ndarray, chosen: np.ndarray, dt: float) -> np.ndarray:
    """Central differences inside, one-sided at the ends, of neighbours nearest to each frame's triple."""
    frames = np.arange(len(chosen))
    before, after = np.maximum(frames - 1, 0), np.minimum(frames + 1, len(chosen) - 1)
    change = nearest_xyz_triple(rotations[after], chosen) - nearest_xyz_triple(rotations[before], chosen)
    return change / ((after - before)[:, None] * dt)


def _range_excess(candidates: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """(F, 2, 3) angle triples, (3, 2) [low, high] -> (F, 2) summed distance outside the ranges."""
    below = np.maximum(ranges[:, 0] - candidates, 0.0)
    above = np.maximum(candidates - ranges[:, 1], 0.0)
    return (below + above).sum(axis=-1)


def _least_cost_path(frame_costs: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Per frame, which of the two candidates: minimises frame costs plus wrapped frame-to-frame change."""
    steps = np.abs(wrap_angle(candidates[1:, None, :, :] - candidates[:-1, :, None, :])).sum(axis=-1)
    total = frame_costs[0].copy()
    back = np.zeros((len(candidates) - 1, 2), dtype=np.int64)
    for frame in range(1, len(candidates)):
        options = total[:, None] + steps[frame - 1]  # (from, to)
        back[frame - 1] = options.argmin(axis=0)
        total = options.min(axis=0) + frame_costs[frame]
    path = np.empty(len(candidates), dtype=np.int64)
    path[-1] = total.argmin()
    for frame in range(len(candidates) - 1, 0, -1):
        path[frame - 1] = back[frame - 1, path[frame]]
    return path


def _unwrap_in_range(angles: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """Continuous in time, shifted by whole turns so the mean sits nearest the joint range's middle."""
    unwrapped = np.unwrap(angles, axis=0)
    middle = ranges.mean(axis=-1)
    turns = np.round((middle - unwrapped.mean(axis=0)) / (2.0 * np.pi))
    return unwrapped + 2.0 * np.pi * turns


def dofs_from_rotations(
    local_rotations: Mapping[str, np.ndarray], fps: float
) -> tuple[np.ndarray, np.ndarray]:
    """{model body: (F, 4) rotation relative to its parent} -> (F, D) hinge angles and rates, model order."""
    groups = joint_groups()
    missing = [group.body for group in groups if group.body not in local_rotations]
    if missing:
        raise ValueError(f"local rotations missing for bodies {missing}")
    frames = len(next(iter(local_rotations.values())))
    ranges = humanoid_spec().joint_ranges
    positions = np.empty((frames, len(humanoid_spec().dof_names)))
    velocities = np.empty_like(positions)
    for group in groups:
        rotations = np.asarray(local_rotations[group.body], dtype=np.float64)
        index = list(group.dof_indices)
        if len(index) == 3:
            positions[:, index], velocities[:, index] = hinge_xyz_angles(rotations, ranges[index], 1.0 / fps)
        else:
            angle = twist_angle(quat.normalize(rotations), group.axes[0])[:, None]
            positions[:, index] = _unwrap_in_range(angle, ranges[index])
            velocities[:, index] = time_derivative(positions[:, index], 1.0 / fps)
    return positions, velocities


def time_derivative(values: np.ndarray, dt: float) -> np.ndarray:
    """Central differences inside, one-sided at both ends, along axis 0."""
    return np.gradient(values, dt, axis=0)


def clip_from_joint_angles(
    fps: float,
    root_positions: np.ndarray,
    root_rotations: np.ndarray,
    dof_positions: np.ndarray,
    dof_velocities: np.ndarray,
    *,
    loop: bool,
    source: str,
) -> MotionClip:
    """A validated clip: bodies by the model's forward kinematics, their velocities by finite differences."""
    spec = humanoid_spec()
    positions, rotations = forward_kinematics(
        reference_model(), root_positions, root_rotations, dof_positions
    )
    dt = 1.0 / fps
    clip = MotionClip(
        fps=fps,
        dof_names=spec.dof_names,
        body_names=spec.body_names,
        dof_positions=dof_positions,
        dof_velocities=dof_velocities,
        body_positions=positions,
        body_rotations=rotations,
        body_linear_velocities=time_derivative(positions, dt),
        body_angular_velocities=angular_velocities(rotations, dt),
        loop=loop,
        source=source,
    )
    validate_clip(clip)
    return clip
