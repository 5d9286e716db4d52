"""DeepMimic humanoid3d clips (JSON text, Y up, variable frame durations) -> the project's clip format.

A DeepMimic frame is: duration (s, time to the next frame), root position (3, Y up), root rotation
(wxyz), then per joint of the humanoid3d character, in `DEEPMIMIC_JOINTS` order, a local rotation
(wxyz) for a spherical joint or one angle about the joint's z axis for a revolute joint (the wrists
are fixed and carry nothing). The DeepMimic character is the model in another frame: x forward, y up,
z to the right. Rotating that frame by +90 degrees about x gives the model's frame (x forward, z up,
y to the left), so the root position becomes R p and every rotation R q R^-1, local joint rotations
included. A knee bending by -t about DeepMimic's z becomes +t about the model's y.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ampbench.motion.clip import ClipError, MotionClip, unit_quaternions
from ampbench.motion.convert.retarget import clip_from_joint_angles, closed_loop, dofs_from_rotations
from ampbench.robot import quat

# (DeepMimic joint, model body it turns, values per frame: 4 = quaternion wxyz, 1 = angle about z)
DEEPMIMIC_JOINTS = (
    ("chest", "torso", 4),
    ("neck", "head", 4),
    ("right_hip", "right_thigh", 4),
    ("right_knee", "right_shin", 1),
    ("right_ankle", "right_foot", 4),
    ("right_shoulder", "right_upper_arm", 4),
    ("right_elbow", "right_lower_arm", 1),
    ("left_hip", "left_thigh", 4),
    ("left_knee", "left_shin", 1),
    ("left_ankle", "left_foot", 4),
    ("left_shoulder", "left_upper_arm", 4),
    ("left_elbow", "left_lower_arm", 1),
)
ROOT_WIDTH = 1 + 3 + 4  # duration, root position, root rotation
FRAME_WIDTH = ROOT_WIDTH + sum(width for _, _, width in DEEPMIMIC_JOINTS)
LOOP_MODES = {"wrap": True, "none": False}
# DeepMimic frame -> model frame: +90 degrees about x (y up -> z up, z right -> -y = right)
Y_UP_TO_Z_UP = np.array([np.cos(np.pi / 4), np.sin(np.pi / 4), 0.0, 0.0])
_Z_AXIS = np.array([0.0, 0.0, 1.0])
DURATION_TOLERANCE = 0.01
"""Frames lasting more than this fraction longer or shorter than the median are named in the clip's notes:
they are honoured when resampling, which converters that assume a fixed step do not do (DeepMimic roll's
frame 5 lasts 0.0327 s, two frames at 60 fps: such a converter's clip is one frame shorter)."""


@dataclass(frozen=True)
class DeepMimicMotion:
    """A DeepMimic clip as read: frame times and poses in DeepMimic's own Y-up frame."""

    times: np.ndarray  # (F,) s, from 0
    root_positions: np.ndarray  # (F, 3)
    root_rotations: np.ndarray  # (F, 4) wxyz
    joint_rotations: np.ndarray  # (F, J, 4) wxyz, J = len(DEEPMIMIC_JOINTS), revolute angles as z rotations
    loop: bool


def read_deepmimic(path: str | Path) -> DeepMimicMotion:
    """Parse and check one DeepMimic motion file."""
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ClipError(f"{path}: not a readable DeepMimic JSON motion ({error})") from error
    if not isinstance(document, dict) or "Frames" not in document:
        raise ClipError(f"{path}: expected a JSON object with keys 'Loop' and 'Frames', found no 'Frames'")
    frames = _frame_array(document["Frames"], path)
    loop = _loop_flag(document.get("Loop", "none"), path)
    durations = frames[:-1, 0]
    if np.any(durations <= 0):
        bad = int(np.flatnonzero(durations <= 0)[0])
        raise ClipError(f"{path}: 'Frames'[{bad}][0] (duration) expected > 0, found {durations[bad]}")
    root_rotations, joint_rotations = _rotations(frames, path)
    return DeepMimicMotion(
        times=np.concatenate([[0.0], np.cumsum(durations)]),
        root_positions=frames[:, 1:4],
        root_rotations=root_rotations,
        joint_rotations=joint_rotations,
        loop=loop,
    )


def _frame_array(frames: object, path: Path) -> np.ndarray:
    try:
        array = np.asarray(frames, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ClipError(f"{path}: 'Frames' expected rows of {FRAME_WIDTH} numbers ({error})") from error
    if array.ndim != 2 or array.shape[1] != FRAME_WIDTH or array.shape[0] < 2:
        raise ClipError(
            f"{path}: 'Frames' expected shape (F >= 2, {FRAME_WIDTH}) for the humanoid3d character, "
            f"found {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ClipError(f"{path}: 'Frames' expected finite numbers, found NaN/inf")
    return array


def _loop_flag(value: object, path: Path) -> bool:
    if value not in LOOP_MODES:
        raise ClipError(f"{path}: 'Loop' expected one of {list(LOOP_MODES)}, found {value!r}")
    return LOOP_MODES[value]


def _rotations(frames: np.ndarray, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(F, 4) root and (F, J, 4) local joint rotations. The file's quaternions are checked and
    renormalised together (one warning per file); a revolute angle becomes a rotation about z."""
    names, quaternions, angles, column = ["root"], [frames[:, 4:8]], {}, ROOT_WIDTH
    for name, _, width in DEEPMIMIC_JOINTS:
        if width == 4:
            names.append(name)
            quaternions.append(frames[:, column : column + 4])
        else:
            angles[name] = frames[:, column]
        column += width
    unit = unit_quaternions(np.stack(quaternions, axis=1), "Frames", str(path), names)
    z_axis = np.broadcast_to(_Z_AXIS, (len(frames), 3))
    joints = [
        quat.from_axis_angle(z_axis, angles[name]) if name in angles else unit[:, names.index(name)]
        for name, _, _ in DEEPMIMIC_JOINTS
    ]
    return unit[:, 0], np.stack(joints, axis=1)


def resample(motion: DeepMimicMotion, fps: float) -> DeepMimicMotion:
    """Uniform frames at `fps` over the clip's duration (the last one at the clip's end time)."""
    end = motion.times[-1]
    count = round(end * fps) + 1
    times = np.minimum(np.arange(count) / fps, end)
    index = np.clip(np.searchsorted(motion.times, times, side="right") - 1, 0, len(motion.times) - 2)
    span = motion.times[index + 1] - motion.times[index]
    weight = np.clip((times - motion.times[index]) / span, 0.0, 1.0)
    joints = motion.joint_rotations.shape[1]
    return DeepMimicMotion(
        times=times,
        root_positions=(1.0 - weight[:, None]) * motion.root_positions[index]
        + weight[:, None] * motion.root_positions[index + 1],
        root_rotations=quat.slerp(motion.root_rotations[index], motion.root_rotations[index + 1], weight),
        joint_rotations=quat.slerp(
            motion.joint_rotations[index],
            motion.joint_rotations[index + 1],
            np.repeat(weight[:, None], joints, axis=1),
        ),
        loop=motion.loop,
    )


def uneven_durations_note(motion: DeepMimicMotion, fps: float) -> tuple[str, ...]:
    """A clip note naming the source frames whose duration is off the median, or none."""
    durations = np.diff(motion.times)
    median = np.median(durations)
    odd = np.flatnonzero(np.abs(durations - median) > DURATION_TOLERANCE * median)
    if not odd.size:
        return ()
    listed = ", ".join(f"{i} lasts {durations[i]:.4g} s" for i in odd)
    return (
        f"uneven source frame durations honoured: source frame {listed} (median {median:.4g} s); resampled "
        f"to {fps:g} fps by time, so this clip has {len(resample(motion, fps).times)} frames where a "
        f"converter assuming a fixed step would give {round(len(durations) * median * fps) + 1}",
    )


def native_fps(motion: DeepMimicMotion) -> float:
    """The clip's own rate: 1 / median frame duration, rounded to a whole number of frames per second."""
    return float(round(1.0 / np.median(np.diff(motion.times))))


def to_z_up_position(positions: np.ndarray) -> np.ndarray:
    return quat.rotate(np.broadcast_to(Y_UP_TO_Z_UP, (*positions.shape[:-1], 4)), positions)


def to_z_up_rotation(rotations: np.ndarray) -> np.ndarray:
    """R q R^-1: the same rotation expressed in the Z-up frame."""
    frame = np.broadcast_to(Y_UP_TO_Z_UP, rotations.shape)
    return quat.multiply(quat.multiply(frame, rotations), quat.conjugate(frame))


def deepmimic_to_clip(path: str | Path, *, fps: float | None = None) -> MotionClip:
    """One DeepMimic motion file -> a clip at `fps` (default: the file's own rate), Z up, model DOFs."""
    motion = read_deepmimic(path)
    rate = float(fps) if fps is not None else native_fps(motion)
    if not np.isfinite(rate) or rate <= 0:
        raise ClipError(f"{path}: fps expected a finite number > 0, found {rate}")
    uniform = resample(motion, rate)
    local = to_z_up_rotation(uniform.joint_rotations)
    rotations = {body: local[:, j] for j, (_, body, _) in enumerate(DEEPMIMIC_JOINTS)}
    source = f"{path} (DeepMimic, converted at {rate:g} fps)"
    root_positions = to_z_up_position(uniform.root_positions)
    root_rotations = to_z_up_rotation(uniform.root_rotations)
    notes = uneven_durations_note(motion, rate)
    if uniform.loop:
        root_positions, root_rotations, rotations, seam_note = closed_loop(
            root_positions, root_rotations, rotations, rate, source
        )
        notes += seam_note
    return clip_from_joint_angles(
        rate,
        root_positions,
        root_rotations,
        *dofs_from_rotations(rotations, rate),
        loop=uniform.loop,
        source=source,
        notes=notes,
    )
