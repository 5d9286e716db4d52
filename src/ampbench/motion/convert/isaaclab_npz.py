"""Isaac Lab humanoid_amp motions (`humanoid_{walk,run,dance}.npz`) -> the clip format.

Those files use the clip keys but store each 3-DOF joint (`J_x, J_y, J_z`) as an exponential map
(rotation vector), not as three hinge angles. Read as hinge angles, the model's forward kinematics
puts the dance clip's hands up to 33 cm away from the file's own `body_positions`; converted
rotation vector -> quaternion -> intrinsic x-y-z angles, every body matches to < 1 mm. The
converter also reorders DOFs and bodies by name to the model's order, drops the repeated frames (the
files store every pose twice), grounds the file's body poses (world, wxyz; on this model the feet are
25-43 mm under the floor in the median frame) and recomputes every velocity from the poses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ampbench.motion.clip import (
    ClipError,
    MotionClip,
    angular_velocities,
    check_arrays,
    check_fps,
    unit_quaternions,
    validate_clip,
)
from ampbench.motion.clip_files import numeric_array, read_names, read_npz
from ampbench.motion.convert.retarget import (
    drop_repeated_frames,
    grounded,
    grounding_note,
    hinge_xyz_angles,
    joint_groups,
    time_derivative,
)
from ampbench.robot import quat
from ampbench.robot.model import humanoid_spec

_REQUIRED_KEYS = (
    "fps",
    "dof_names",
    "body_names",
    "dof_positions",
    "body_positions",
    "body_rotations",
    "body_linear_velocities",
    "body_angular_velocities",
)


def read_isaaclab_npz(path: str | Path) -> dict[str, np.ndarray]:
    """The file's arrays, checked (shapes, frame counts, finite values, fps) before any conversion so
    errors name the file's own frames, then DOFs and bodies reordered to the model's names (float64)."""
    path = Path(path)
    where = str(path)
    fields = read_npz(path)
    missing = [key for key in _REQUIRED_KEYS if key not in fields]
    if missing:
        raise ClipError(f"{path}: keys {missing} missing (expected {list(_REQUIRED_KEYS)})")
    if "dof_convention" in fields:
        raise ClipError(
            f"{path}: has 'dof_convention' = {fields['dof_convention']!s}; it is already a project clip, "
            "load it with ampbench.motion.clip_files.load_clip"
        )
    check_fps(fields["fps"], where)
    dof_names = read_names(fields["dof_names"], "dof_names", where)
    body_names = read_names(fields["body_names"], "body_names", where)
    arrays = {key: numeric_array(fields[key], key, where) for key in _REQUIRED_KEYS[3:]}
    check_arrays(arrays, (len(dof_names), len(body_names)), where)
    spec = humanoid_spec()
    dof_order = _order(dof_names, spec.dof_names, "dof_names", path)
    body_order = _order(body_names, spec.body_names, "body_names", path)
    out = {"fps": np.float64(fields["fps"]), "dof_positions": arrays["dof_positions"][:, dof_order]}
    for key in _REQUIRED_KEYS[4:]:
        out[key] = arrays[key][:, body_order]
    out["body_rotations"] = unit_quaternions(out["body_rotations"], "body_rotations", where, spec.body_names)
    return out


def _order(names: tuple[str, ...], wanted: tuple[str, ...], key: str, path: Path) -> np.ndarray:
    absent = [name for name in wanted if name not in names]
    if absent:
        raise ClipError(f"{path}: '{key}' lacks the model's names {absent}; found {list(names)}")
    return np.array([names.index(name) for name in wanted])


def exponential_maps_to_hinge_angles(dof_positions: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """(F, D) in model order with rotation vectors for 3-DOF joints -> hinge angles and their rates."""
    ranges = humanoid_spec().joint_ranges
    positions = np.array(dof_positions, dtype=np.float64)
    velocities = time_derivative(positions, 1.0 / fps)
    for group in joint_groups():
        index = list(group.dof_indices)
        if len(index) == 3:
            rotations = quat.from_rotvec(positions[:, index])
            positions[:, index], velocities[:, index] = hinge_xyz_angles(rotations, ranges[index], 1.0 / fps)
    return positions, velocities


def isaaclab_to_clip(path: str | Path, *, keep_repeated_frames: bool = False) -> MotionClip:
    """One Isaac Lab motion NPZ -> a clip in the model's DOF convention and order; loop is False.

    Poses stored twice are dropped (at half the file's fps) unless keep_repeated_frames; every velocity
    is recomputed from the poses (the file's DOF velocities alternate between 0 and twice the rate, its
    body velocities are 0.1-0.23 m/s off the poses' finite differences in the median frame).
    """
    fields = read_isaaclab_npz(path)
    source = f"{path} (Isaac Lab humanoid_amp, exponential maps converted)"
    poses, fps, notes = drop_repeated_frames(
        {key: fields[key] for key in ("dof_positions", "body_positions", "body_rotations")},
        float(fields["fps"]),
        source,
        keep=keep_repeated_frames,
    )
    spec = humanoid_spec()
    positions, velocities = exponential_maps_to_hinge_angles(poses["dof_positions"], fps)
    body_positions, offset = grounded(poses["body_positions"], poses["body_rotations"], source)
    dt = 1.0 / fps
    clip = MotionClip(
        fps=fps,
        dof_names=spec.dof_names,
        body_names=spec.body_names,
        dof_positions=positions,
        dof_velocities=velocities,
        body_positions=body_positions,
        body_rotations=poses["body_rotations"],
        body_linear_velocities=time_derivative(body_positions, dt),
        body_angular_velocities=angular_velocities(poses["body_rotations"], dt),
        ground_offset=offset,
        notes=(*notes, grounding_note(offset)),
        source=source,
    )
    validate_clip(clip)
    return clip
