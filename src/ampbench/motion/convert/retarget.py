"""Steps every clip converter shares, so DeepMimic, poselib and Isaac Lab clips come out alike.

A source gives, per frame, the root pose and one local rotation per model body that has joints
(the rotation of the body relative to its parent, in the model's Z-up frame). From that:
- each 3-hinge joint (`J_x, J_y, J_z`) gets intrinsic x-y-z angles; of the two angle triples that
  make the same rotation, the one inside the joint ranges and continuous in time is kept;
- each 1-hinge joint (knee, elbow) gets the twist of its rotation about the hinge axis;
- frames that repeat the previous pose exactly (IsaacGymEnvs' and Isaac Lab's AMP motions store every
  pose twice) are dropped, at the true rate (`drop_repeated_frames`);
- loop clips whose last frame does not repeat the first pose (the loader's convention) get the seam
  blended shut over their last SEAM_BLEND_S (`closed_loop`), warned where it jumps;
- bodies come from the model's forward kinematics, every velocity from finite differences of the poses
  (central inside, one-sided at the ends);
- the clip is grounded (`grounded`): raised or lowered so that the lowest collision geom touches the
  floor in the lower-quartile frame, the offset recorded in the clip and warned above GROUND_WARN_M.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import mujoco
import numpy as np

from ampbench.motion.clip import (
    ClipError,
    MotionClip,
    SourceDataWarning,
    angular_velocities,
    equivalent_xyz_triples,
    nearest_xyz_triple,
    validate_clip,
    wrap_angle,
)
from ampbench.robot import quat
from ampbench.robot.model import forward_kinematics, humanoid_spec

_AXES_XYZ = np.eye(3)
RANGE_EXCESS_WEIGHT = 10.0
"""Cost of one radian outside a joint range against one radian of frame-to-frame change, when choosing
between the two x-y-z triples of a rotation. A switch of triple costs about 2 pi of change, so at 10 a
pose held a few frames 10+ degrees past a limit switches to an in-range equivalent (DeepMimic
getup_facedown's left shoulder: 14 frames up to 29 degrees past at 1, 2 frames up to 4 at 10); the
loader interpolates across switches on SO(3)."""


GROUND_QUANTILE = 0.25
"""Which frame `grounded` puts on the floor, as a quantile of the per-frame lowest collision-geom
heights. Something touches the floor in most frames of a reference clip, but a stance foot sinks more
in some frames than in others (heel strikes, a rigid foot box rolling) and flight frames lie above: the
lower quartile sits at the contact level. The minimum (0) would follow a few bad frames (DeepMimic
crawl: -104 mm in one frame, lower quartile +1 mm); the median is pulled up by flight (jog: +17 mm,
lower quartile +5 mm)."""
GROUND_WARN_M = 0.02
"""Grounding offsets larger than this (m) are warned: the source did not stand on this model's floor."""
PENETRATION_WARN_M = 0.05
"""Frames whose lowest geom is still deeper than this (m) under the floor after grounding are warned."""


SEAM_BLEND_S = 0.3
"""Loop clips: the seam (last frame against the first) is closed by a correction ramped in over this
many seconds at the end of the clip (DeepMimic walk's right shoulder: 28.5 degrees over 9 frames)."""
SEAM_STEP_FACTOR = 3.0
SEAM_MIN_DEG = 2.0
"""A seam is warned where a joint (or the root's tilt) jumps by more than SEAM_STEP_FACTOR times its
median frame-to-frame step and more than SEAM_MIN_DEG degrees."""


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


@functools.cache
def _floor_geoms() -> tuple[np.ndarray, ...]:
    """Every geom that collides with the floor plane: its body (index into the clip's body arrays), pose
    in the body, radius and half extents (sphere: radius; capsule: radius, half length along z; box:
    half sizes), so its lowest point is z - radius - sum(|R[2, i]| * half_extent[i])."""
    model = reference_model()
    floor = int(np.flatnonzero(model.geom_type == mujoco.mjtGeom.mjGEOM_PLANE)[0])
    collides = (model.geom_contype & model.geom_conaffinity[floor]) | (
        model.geom_contype[floor] & model.geom_conaffinity
    )
    geoms = np.flatnonzero((collides != 0) & (model.geom_type != mujoco.mjtGeom.mjGEOM_PLANE))
    radius, extents = np.zeros(len(geoms)), np.zeros((len(geoms), 3))
    for i, geom in enumerate(geoms):
        size, kind = model.geom_size[geom], model.geom_type[geom]
        if kind == mujoco.mjtGeom.mjGEOM_SPHERE:
            radius[i] = size[0]
        elif kind == mujoco.mjtGeom.mjGEOM_CAPSULE:
            radius[i], extents[i, 2] = size[0], size[1]
        elif kind == mujoco.mjtGeom.mjGEOM_BOX:
            extents[i] = size
        else:
            raise ValueError(
                f"{humanoid_spec().xml_path}: geom {model.geom(geom).name} type {kind} not handled"
            )
    bodies = model.geom_bodyid[geoms] - 1
    return bodies, model.geom_pos[geoms].copy(), model.geom_quat[geoms].copy(), radius, extents


def lowest_geom_heights(body_positions: np.ndarray, body_rotations: np.ndarray) -> np.ndarray:
    """(F, B, 3) and (F, B, 4) world body poses in model order -> (F,) height of the lowest point of any
    collision geom."""
    bodies, offsets, local, radius, extents = _floor_geoms()
    world = body_rotations[:, bodies]  # (F, G, 4): each geom's body
    rotations = quat.multiply(world, np.broadcast_to(local, world.shape))
    points = (*world.shape[:-1], 3)
    centres = body_positions[:, bodies] + quat.rotate(world, np.broadcast_to(offsets, points))
    vertical = np.stack(
        [quat.rotate(rotations, np.broadcast_to(axis, points))[..., 2] for axis in _AXES_XYZ], axis=-1
    )
    lowest = centres[..., 2] - radius - (np.abs(vertical) * extents).sum(axis=-1)
    return lowest.min(axis=1)


def grounded(body_positions: np.ndarray, body_rotations: np.ndarray, where: str) -> tuple[np.ndarray, float]:
    """Body positions shifted in z so the GROUND_QUANTILE frame's lowest geom is at the floor, and the
    shift (m). Warns when the shift exceeds GROUND_WARN_M or frames stay deeper than PENETRATION_WARN_M."""
    heights = lowest_geom_heights(body_positions, body_rotations)
    offset = -float(np.quantile(heights, GROUND_QUANTILE))
    deepest = heights.min() + offset
    if abs(offset) > GROUND_WARN_M or deepest < -PENETRATION_WARN_M:
        warnings.warn(
            f"{where}: grounded by {offset * 1000:+.0f} mm (lowest collision geom before: median "
            f"{np.median(heights) * 1000:+.0f} mm, min {heights.min() * 1000:+.0f} mm); afterwards "
            f"{int((heights + offset < -PENETRATION_WARN_M).sum())} of {len(heights)} frames are deeper than "
            f"{PENETRATION_WARN_M * 1000:.0f} mm (deepest {deepest * 1000:+.0f} mm at frame "
            f"{int(heights.argmin())})",
            SourceDataWarning,
            stacklevel=3,
        )
    shifted = np.array(body_positions, dtype=np.float64)
    shifted[..., 2] += offset
    return shifted, offset


def grounding_note(offset: float) -> str:
    """The clip note that records a grounding offset."""
    return (
        f"grounded: every body raised by {offset * 1000:+.1f} mm, so the lowest collision geom is at the "
        f"floor in the {GROUND_QUANTILE:.0%}-quantile frame"
    )


def drop_repeated_frames(
    arrays: Mapping[str, np.ndarray], fps: float, where: str, *, keep: bool = False
) -> tuple[dict[str, np.ndarray], float, tuple[str, ...]]:
    """Per-frame arrays (all (F, ...)) with exact repeats of the previous frame (in every array) dropped.

    When the frames come in runs of exactly r equal poses (the last run may be shorter), every pose was
    stored r times: the content is fps / r, and sampled between frames it moves in a staircase. Then
    unless `keep`, one frame per run is kept at fps / r. Irregular repeats are kept. Either way a
    warning and a clip note say what was found; returns (arrays, fps, notes).
    """
    frames = len(next(iter(arrays.values())))
    same = np.ones(frames - 1, dtype=bool)
    for array in arrays.values():
        same &= np.all(array[1:].reshape(frames - 1, -1) == array[:-1].reshape(frames - 1, -1), axis=1)
    if not same.any():
        return dict(arrays), fps, ()
    starts = np.flatnonzero(np.concatenate([[True], ~same]))
    runs = np.diff(np.append(starts, frames))
    stride = int(runs[0])
    found = f"{int(same.sum())} of {frames - 1} steps repeat the previous pose exactly"
    if stride > 1 and np.all(runs[:-1] == stride) and runs[-1] <= stride and not keep:
        note = (
            f"repeated frames dropped: {found}, every pose stored {stride} times, so the content is "
            f"{fps / stride:g} fps, not the {fps:g} the file says; kept frames 0, {stride}, {2 * stride}, ..."
        )
        kept = {key: np.asarray(array)[::stride] for key, array in arrays.items()}
        fps = fps / stride
    else:
        reason = "kept as asked" if keep else "not in equal runs, kept"
        note = f"repeated frames: {found} (first at frame {int(np.argmax(same))}); {reason}"
        kept = dict(arrays)
    warnings.warn(f"{where}: {note}", SourceDataWarning, stacklevel=3)
    if len(next(iter(kept.values()))) < 2:
        raise ClipError(f"{where}: expected at least 2 distinct poses, found one ({found})")
    return kept, fps, (note,)


def _rotation_angle_deg(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    return np.degrees(np.linalg.norm(quat.to_rotvec(quat.multiply(second, quat.conjugate(first))), axis=-1))


def closed_loop(
    root_positions: np.ndarray,
    root_rotations: np.ndarray,
    local_rotations: Mapping[str, np.ndarray],
    fps: float,
    where: str,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], tuple[str, ...]]:
    """A loop clip whose last frame repeats its first pose: each joint rotation, the root's tilt and its
    height get a correction ramped in over the last SEAM_BLEND_S (its heading and ground position are
    left to turn and travel, as the loader's wrap expects). Seams above SEAM_STEP_FACTOR median steps
    are warned; returns the corrected root, rotations and a clip note."""
    frames = len(root_rotations)
    heading = quat.yaw_quat(quat.heading_yaw(root_rotations))
    tilt = quat.multiply(quat.conjugate(heading), root_rotations)
    parts = {
        "root tilt": tilt,
        **{body: np.asarray(q, dtype=np.float64) for body, q in local_rotations.items()},
    }
    span = min(max(round(SEAM_BLEND_S * fps), 1), frames - 1)
    ramp = np.clip((np.arange(frames) - (frames - 1 - span)) / span, 0.0, 1.0)
    identity = np.broadcast_to([1.0, 0.0, 0.0, 0.0], (frames, 4))
    closed, jumps = {}, {}
    for name, rotations in parts.items():
        seam = quat.multiply(rotations[0], quat.conjugate(rotations[-1]))
        closed[name] = quat.multiply(
            quat.slerp(identity, np.broadcast_to(seam, (frames, 4)), ramp), rotations
        )
        jump, step = (
            _rotation_angle_deg(rotations[-1], rotations[0]),
            _rotation_angle_deg(rotations[:-1], rotations[1:]),
        )
        if jump > max(SEAM_STEP_FACTOR * np.median(step), SEAM_MIN_DEG):
            jumps[name] = f"{name} {jump:.1f} deg (median step {np.median(step):.1f})"
    positions = np.array(root_positions, dtype=np.float64)
    positions[:, 2] += ramp * (positions[0, 2] - positions[-1, 2])
    note = f"loop seam closed over the last {span} frames ({span / fps:.2f} s)"
    if jumps:
        note += f"; it jumped: {', '.join(jumps.values())}"
        warnings.warn(
            f"{where}: the last frame does not repeat the first; {note}", SourceDataWarning, stacklevel=3
        )
    rotations = quat.multiply(heading, closed.pop("root tilt"))
    return positions, rotations, closed, (note,)


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
    notes: tuple[str, ...] = (),
) -> MotionClip:
    """A validated, grounded clip: bodies by the model's forward kinematics, their velocities by finite
    differences; `notes` (what the converter did to the source) are kept with the grounding note."""
    spec = humanoid_spec()
    positions, rotations = forward_kinematics(
        reference_model(), root_positions, root_rotations, dof_positions
    )
    positions, offset = grounded(positions, rotations, source)
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
        ground_offset=offset,
        notes=(*notes, grounding_note(offset)),
        source=source,
    )
    validate_clip(clip)
    return clip
