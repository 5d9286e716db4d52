"""The motion clip format: one validated in-memory record and its NPZ file, so bad data fails at load time.

A clip holds per-frame DOF angles and velocities, world body poses and velocities, and optionally the
joint torques that produced them (the torque-motion format). Every 3-DOF joint is stored as three hinge
angles applied intrinsically x, then y, then z (`DOF_CONVENTION`), exactly the MJCF's `*_x/_y/_z` hinges;
files in another convention are refused and must go through their converter.

Missing kinematic fields are an error unless the caller asks for `fill_missing`; filled fields are then
recorded in the clip (`filled_fields`, saved with it) and announced with a `FilledFieldsWarning`, because
filled data degrades training (the fill rules: `ampbench.motion.clip_files`, which builds clips from raw
fields and reads and writes their NPZ files). `joint_torques` is optional (absent = plain motion clip) and
never filled.

Converters record what they did to the source in the clip: `ground_offset` (m, added to every body
height so the clip stands on the floor) and `notes` (one line each, e.g. frames resampled), both saved.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ampbench.robot import quat

DOF_CONVENTION = "hinge_xyz"
ACTION_NOISE_KINDS = ("", "noisy_policy", "deterministic_policy")
"""How a clip recorded from a policy was played ("" for motion capture): `AmpConfig.reference_torques`."""
QUAT_NORM_TOLERANCE = 1e-3
"""Largest |norm - 1| of a stored quaternion; source quaternions further off are renormalised, warned."""
ZERO_QUAT_NORM = 1e-6
"""Source quaternions shorter than this carry no rotation and are refused rather than replaced."""
MIN_FRAMES = 2

DOF_ARRAYS = ("dof_positions", "dof_velocities")
BODY_ARRAYS = ("body_positions", "body_rotations", "body_linear_velocities", "body_angular_velocities")
KINEMATIC_ARRAYS = DOF_ARRAYS + BODY_ARRAYS
ARRAY_KEYS = (*KINEMATIC_ARRAYS, "joint_torques")
_BODY_WIDTH = {
    "body_positions": 3,
    "body_rotations": 4,
    "body_linear_velocities": 3,
    "body_angular_velocities": 3,
}


class ClipError(ValueError):
    """A clip that cannot be used; the message names the file, the key, what was expected and found."""


class FilledFieldsWarning(UserWarning):
    """Some clip fields were filled instead of read: training on them is degraded."""


class SourceDataWarning(UserWarning):
    """A converter changed source data it could still use (renormalised quaternions, ...); says how much."""


@dataclass(frozen=True, eq=False)
class MotionClip:
    """One motion clip in `DOF_CONVENTION`; arrays are read-only float64 copies (see module docstring)."""

    fps: float
    dof_names: tuple[str, ...]
    body_names: tuple[str, ...]
    dof_positions: np.ndarray
    dof_velocities: np.ndarray
    body_positions: np.ndarray
    body_rotations: np.ndarray
    body_linear_velocities: np.ndarray
    body_angular_velocities: np.ndarray
    joint_torques: np.ndarray | None = None
    filled_fields: tuple[str, ...] = ()
    loop: bool = False
    action_noise: str = ""
    ground_offset: float = 0.0
    notes: tuple[str, ...] = ()
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        for key in ARRAY_KEYS:
            value = getattr(self, key)
            if value is not None:
                array = np.array(value, dtype=np.float64)
                array.flags.writeable = False
                object.__setattr__(self, key, array)
        for key in ("dof_names", "body_names", "filled_fields", "notes"):
            object.__setattr__(self, key, tuple(str(name) for name in getattr(self, key)))
        object.__setattr__(self, "loop", bool(self.loop))
        object.__setattr__(self, "ground_offset", float(self.ground_offset))
        object.__setattr__(self, "action_noise", str(self.action_noise))

    def __eq__(self, other: object) -> bool:
        """Equal content (arrays element-wise exact); `source` is ignored."""
        if not isinstance(other, MotionClip):
            return NotImplemented
        return all(
            _same(getattr(self, f.name), getattr(other, f.name))
            for f in dataclasses.fields(self)
            if f.compare
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def num_frames(self) -> int:
        return int(self.dof_positions.shape[0])

    @property
    def duration(self) -> float:
        return (self.num_frames - 1) / float(self.fps)


def hinge_xyz_triples(dof_names: Sequence[str]) -> np.ndarray:
    """(G, 3) DOF indices of the 3-DOF joints: consecutive names `J_x, J_y, J_z` (`DOF_CONVENTION`)."""
    triples = [
        (i, i + 1, i + 2)
        for i, name in enumerate(dof_names[:-2])
        if name.endswith("_x")
        and dof_names[i + 1] == f"{name[:-2]}_y"
        and dof_names[i + 2] == f"{name[:-2]}_z"
    ]
    return np.array(triples, dtype=np.int64).reshape(-1, 3)


def wrap_angle(angles: np.ndarray) -> np.ndarray:
    """Angles into [-pi, pi)."""
    return (angles + np.pi) % (2.0 * np.pi) - np.pi


def equivalent_xyz_triples(rotations: np.ndarray) -> np.ndarray:
    """(..., 4) rotations -> (..., 2, 3): both intrinsic x-y-z angle triples of each rotation.

    (a, b, c) and (a + pi, pi - b, c + pi) make the same rotation; hips and shoulders need the second
    one beyond 90 degrees of flexion.
    """
    first = np.asarray(quat.to_intrinsic_xyz(quat.normalize(rotations)))
    second = wrap_angle(first + np.array([np.pi, 0.0, np.pi]))
    second[..., 1] = wrap_angle(np.pi - first[..., 1])
    return np.stack([first, second], axis=-2)


def nearest_xyz_triple(rotations: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(..., 4) rotations -> (..., 3) x-y-z angles of each, the equivalent triple (and whole turns per
    angle) nearest to the (..., 3) reference angles."""
    change = wrap_angle(equivalent_xyz_triples(rotations) - reference[..., None, :])
    nearest = np.abs(change).sum(axis=-1).argmin(axis=-1)
    return reference + np.take_along_axis(change, nearest[..., None, None], axis=-2)[..., 0, :]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return a is not None and b is not None and np.array_equal(a, b)
    return a == b


def _where(clip_or_source: MotionClip | str) -> str:
    source = clip_or_source.source if isinstance(clip_or_source, MotionClip) else clip_or_source
    return source or "<clip in memory>"


# ---------------------------------------------------------------- validation


def validate_clip(clip: MotionClip) -> None:
    """ClipError on the first problem: fps, names, shapes, frame counts, non-finite values, quaternions."""
    where = _where(clip)
    check_fps(clip.fps, where)
    _check_names(clip)
    missing = [key for key in KINEMATIC_ARRAYS if getattr(clip, key) is None]
    if missing:
        raise ClipError(f"{where}: '{missing[0]}' is missing (expected an array)")
    arrays = {key: getattr(clip, key) for key in ARRAY_KEYS if getattr(clip, key) is not None}
    check_arrays(arrays, (len(clip.dof_names), len(clip.body_names)), where)
    _check_unit_quaternions(clip)
    if clip.action_noise not in ACTION_NOISE_KINDS:
        raise ClipError(
            f"{where}: 'action_noise' expected one of {list(ACTION_NOISE_KINDS)}, found {clip.action_noise!r}"
        )
    if not np.isfinite(clip.ground_offset):
        raise ClipError(f"{where}: 'ground_offset' expected a finite number (m), found {clip.ground_offset}")
    unknown = sorted(set(clip.filled_fields) - set(KINEMATIC_ARRAYS))
    if unknown:
        raise ClipError(f"{where}: 'filled_fields' expected names from {KINEMATIC_ARRAYS}, found {unknown}")


def check_fps(fps: Any, where: str) -> None:
    """ClipError unless fps is one finite positive number (a 0-d array, not a list of them)."""
    value = np.asarray(fps)
    if value.ndim != 0 or value.dtype.kind not in "iuf":
        raise ClipError(
            f"{where}: 'fps' expected a positive scalar number, found {value.dtype} "
            f"array of shape {value.shape}"
        )
    if not np.isfinite(value) or value <= 0:
        raise ClipError(f"{where}: 'fps' expected a finite number > 0, found {value.item()}")


def _check_names(clip: MotionClip) -> None:
    for key in ("dof_names", "body_names"):
        names = getattr(clip, key)
        if not names or len(set(names)) != len(names) or "" in names:
            raise ClipError(f"{_where(clip)}: '{key}' expected non-empty unique names, found {list(names)}")


def expected_shape(key: str, num_dofs: int, num_bodies: int) -> tuple[str, tuple[int, ...]]:
    """(human-readable description, trailing shape after the frame axis) of an array key."""
    if key in BODY_ARRAYS:
        width = _BODY_WIDTH[key]
        return f"(F, B, {width}) with B = len(body_names) = {num_bodies}", (num_bodies, width)
    return f"(F, D) with D = len(dof_names) = {num_dofs}", (num_dofs,)


def check_arrays(arrays: Mapping[str, np.ndarray], sizes: tuple[int, int], where: str) -> None:
    """ClipError on the first array with the wrong shape for (num_dofs, num_bodies) = sizes, fewer than
    MIN_FRAMES frames, another frame count than the first array, or a non-finite value."""
    for key, array in arrays.items():
        check_array_shape(key, array, sizes, where)
    first, reference = next(iter(arrays.items()))
    frames = reference.shape[0]
    if frames < MIN_FRAMES:
        raise ClipError(f"{where}: '{first}' expected at least {MIN_FRAMES} frames, found {frames}")
    for key, array in arrays.items():
        if array.shape[0] != frames:
            raise ClipError(
                f"{where}: '{key}' expected {frames} frames (as '{first}'), "
                f"found {array.shape[0]}; all per-frame arrays must agree"
            )
    for key, array in arrays.items():
        bad_frames = np.flatnonzero(~np.isfinite(array.reshape(array.shape[0], -1)).all(axis=1))
        if bad_frames.size:
            raise ClipError(
                f"{where}: '{key}' expected finite values, found NaN/inf in "
                f"{bad_frames.size} frame(s), first at frame {bad_frames[0]}"
            )


def check_array_shape(key: str, array: np.ndarray, sizes: tuple[int, int], where: str) -> None:
    """ClipError unless `array` has the shape of `key` for (num_dofs, num_bodies) = sizes."""
    text, trailing = expected_shape(key, *sizes)
    if array.ndim != 1 + len(trailing) or array.shape[1:] != trailing:
        raise ClipError(f"{where}: '{key}' expected shape {text}, found {array.shape}")


def _check_unit_quaternions(clip: MotionClip) -> None:
    deviation = np.abs(np.linalg.norm(clip.body_rotations, axis=-1) - 1.0)
    frame, body = np.unravel_index(np.argmax(deviation), deviation.shape)
    worst = deviation[frame, body]
    if worst > QUAT_NORM_TOLERANCE:
        raise ClipError(
            f"{_where(clip)}: 'body_rotations' expected unit quaternions (|norm - 1| <= "
            f"{QUAT_NORM_TOLERANCE}), found max deviation {worst:.3g} at frame {frame}, "
            f"body '{clip.body_names[body]}'"
        )


def unit_quaternions(values: np.ndarray, key: str, where: str, parts: Sequence[str]) -> np.ndarray:
    """Source quaternions (F, P, 4) of named parts scaled to unit length. A zero one is refused (no
    rotation can be read from it); renormalising others off by more than QUAT_NORM_TOLERANCE is warned
    once, with counts per part."""
    values = np.asarray(values, dtype=np.float64)
    norms = np.linalg.norm(values, axis=-1)
    zero = norms < ZERO_QUAT_NORM
    if zero.any():
        frame, part = np.argwhere(zero)[0]
        raise ClipError(
            f"{where}: '{key}' expected unit quaternions (w, x, y, z), found {int(zero.sum())} of norm "
            f"< {ZERO_QUAT_NORM}, first at frame {frame} ({parts[part]})"
        )
    off = np.abs(norms - 1.0) > QUAT_NORM_TOLERANCE
    if off.any():
        counts = off.sum(axis=0)
        listing = ", ".join(f"{parts[p]} {counts[p]}" for p in np.flatnonzero(counts))
        warnings.warn(
            f"{where}: '{key}': renormalised {int(off.sum())} of {norms.size} quaternions whose norm is off "
            f"1 by more than {QUAT_NORM_TOLERANCE} (norms {norms.min():.4g} to {norms.max():.4g}; {listing})",
            SourceDataWarning,
            stacklevel=2,
        )
    return values / norms[..., None]


def angular_velocities(rotations: np.ndarray, dt: float) -> np.ndarray:
    """(F, ..., 4) world rotations -> (F, ..., 3) world angular velocities: central differences inside,
    one-sided at the ends (the stencil of `np.gradient`)."""
    before = np.concatenate([rotations[:1], rotations[:-2], rotations[-2:-1]])
    after = np.concatenate([rotations[1:2], rotations[2:], rotations[-1:]])
    spans = np.full((len(rotations),) + (1,) * (rotations.ndim - 1), 2.0 * dt)
    spans[[0, -1]] = dt
    return quat.angular_velocity(before, after, spans)
