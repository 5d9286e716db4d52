"""Reference-motion sampling for AMP: vectorised, interpolated clip states at random or given times.

Interpolation: at time t a clip is between frames f0 = floor(t * fps) and f1 = f0 + 1 with blend weight
w = t * fps - f0 in [0, 1]; vectors blend linearly, quaternions by slerp. A 3-DOF joint's x-y-z angles
blend on SO(3): the joint rotations of both frames are slerped and converted back to the equivalent
triple nearest the nearer frame's angles. Blending the angles linearly would be wrong where a converter
switched triple between frames (the angles jump by up to 180 degrees for a small rotation) and near
gimbal lock. A time within 1e-9 frames of a stored frame snaps to it, so frame times return the stored
frame exactly.

Time outside [0, duration]:
- non-loop clips clamp to [0, duration]; at the end f0 = f1 = the last frame;
- loop clips wrap modulo duration = (F - 1) / fps. The last frame is taken to repeat the first pose (the
  DeepMimic convention for cyclic clips), so time `duration` is frame 0 and no blend between the last
  and the first frame is ever made. Root position jumps back at the wrap: consumers use root-relative
  features.

All clips are concatenated into one frame table, so sampling n states is a handful of numpy gathers.
Randomness only comes from the `np.random.Generator` the caller passes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ampbench.motion.clip import (
    BODY_ARRAYS,
    KINEMATIC_ARRAYS,
    ClipError,
    MotionClip,
    hinge_xyz_triples,
    nearest_xyz_triple,
    validate_clip,
)
from ampbench.motion.clip_files import load_clip
from ampbench.robot import quat

if TYPE_CHECKING:
    from ampbench import cards

DATA_DIR_ENV = "AMPBENCH_DATA"
DEFAULT_DATA_DIR = Path("data") / "clips"
_SNAP_FRAMES = 1e-9


@dataclass(frozen=True)
class MotionState:
    """Clip states with leading shape S (e.g. (n,) or (n, k)); torques None when the library has none."""

    dof_positions: np.ndarray
    dof_velocities: np.ndarray
    body_positions: np.ndarray
    body_rotations: np.ndarray
    body_linear_velocities: np.ndarray
    body_angular_velocities: np.ndarray
    joint_torques: np.ndarray | None


class MotionLibrary:
    """Several clips sharing DOF and body names, sampled with per-clip weights."""

    def __init__(
        self,
        clips: Sequence[MotionClip],
        weights: Sequence[float] | None = None,
        skills: Sequence[str] | None = None,
    ) -> None:
        if not clips:
            raise ClipError("motion library: expected at least one clip, found none")
        for clip in clips:
            validate_clip(clip)
        _check_same_names(clips)
        self.clips = tuple(clips)
        self.skills = tuple(skills) if skills is not None else ("",) * len(clips)
        if len(self.skills) != len(self.clips):
            raise ClipError(f"motion library: {len(self.clips)} clips but {len(self.skills)} skills")
        self.dof_names = clips[0].dof_names
        self.body_names = clips[0].body_names
        self.weights = _normalised_weights(weights, len(clips))
        self._fps = np.array([clip.fps for clip in clips])
        self._num_frames = np.array([clip.num_frames for clip in clips])
        self._durations = np.array([clip.duration for clip in clips])
        self._loop = np.array([clip.loop for clip in clips])
        self._offsets = np.concatenate([[0], np.cumsum(self._num_frames)[:-1]])
        self._frames = {key: np.concatenate([getattr(c, key) for c in clips]) for key in KINEMATIC_ARRAYS}
        self._triples = hinge_xyz_triples(self.dof_names)
        self._joint_rotations = quat.from_intrinsic_xyz(self._frames["dof_positions"][:, self._triples])
        self._missing_torques = tuple(
            clip.source or f"clip {i}" for i, clip in enumerate(clips) if clip.joint_torques is None
        )
        if not self._missing_torques:
            self._frames["joint_torques"] = np.concatenate([clip.joint_torques for clip in clips])

    def sample_times(
        self, rng: np.random.Generator, n: int, earliest: float = 0.0, skill: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Clip indices drawn by weight (among `skill`'s clips only, when given), and times uniform in
        [0, that clip's duration]; on non-loop clips in [earliest, duration] instead (a history of k frames
        needs earliest = (k - 1) dt, or its first frames would clamp to frame 0: zero displacement beside
        non-zero velocities)."""
        weights = self.weights
        if skill is not None:
            weights = np.where(np.asarray(self.skills) == skill, weights, 0.0)
            if weights.sum() == 0:
                raise ClipError(
                    f"motion library: no clip of skill {skill!r} (skills {sorted(set(self.skills))})"
                )
            weights = weights / weights.sum()
        clip_index = rng.choice(len(self.clips), size=n, p=weights)
        duration = self._durations[clip_index]
        low = np.where(self._loop[clip_index], 0.0, np.minimum(earliest, duration))
        return clip_index, rng.uniform(low, duration)

    def state_at(
        self, clip_index: np.ndarray, time: np.ndarray, bodies: np.ndarray | None = None
    ) -> MotionState:
        """Interpolated states; clip_index and time broadcast to the leading shape S.

        `bodies` (indices into `body_names`) keeps only those bodies, in that order, in the body arrays:
        a consumer that reads a few bodies (AMP features read the root and the key bodies) then skips the
        slerp and blend of the others, which dominate the draw's time at thousands of envs. The values of
        the bodies kept are the same as in a draw of all bodies.
        """
        clip_index, time = np.broadcast_arrays(
            np.asarray(clip_index, dtype=np.int64), np.asarray(time, float)
        )
        self._check_query(clip_index, time)
        rows0, rows1, weight = self._blend_rows(clip_index.ravel(), time.ravel())
        columns = slice(None) if bodies is None else np.asarray(bodies, np.int64)[None, :]
        blended = {}
        for key, table in self._frames.items():
            if key in BODY_ARRAYS and bodies is not None:
                first, second = table[rows0[:, None], columns], table[rows1[:, None], columns]
            else:
                first, second = table[rows0], table[rows1]
            blended[key] = _blend(key, first, second, weight)
        blended["dof_positions"][:, self._triples] = self._joint_angles(rows0, rows1, weight)
        shaped = {key: value.reshape(clip_index.shape + value.shape[1:]) for key, value in blended.items()}
        shaped.setdefault("joint_torques", None)
        return MotionState(**shaped)

    def _check_query(self, clip_index: np.ndarray, time: np.ndarray) -> None:
        """ClipError for a clip index outside the library or a non-finite time (NaN would blend to NaN)."""
        outside = (clip_index < 0) | (clip_index >= len(self.clips))
        if outside.any():
            raise ClipError(
                f"motion library: clip index expected 0 to {len(self.clips) - 1}, found "
                f"{clip_index[outside].ravel()[0]} ({int(outside.sum())} of {clip_index.size} outside)"
            )
        bad = ~np.isfinite(time)
        if bad.any():
            raise ClipError(
                f"motion library: time expected finite seconds, found {time[bad].ravel()[0]} "
                f"({int(bad.sum())} of {time.size} not finite)"
            )

    def check_torque_recording(self, expected: str) -> None:
        """Every clip's torques were recorded the way the card says (`AmpConfig.reference_torques`):
        torques of a noisy training policy against those of a deterministic recording differ by white
        noise, which a discriminator tells apart without learning anything about the motion."""
        wrong = [
            f"{clip.source or f'clip {i}'} ({clip.action_noise or 'not recorded from a policy'})"
            for i, clip in enumerate(self.clips)
            if clip.action_noise != expected
        ]
        if wrong:
            raise ClipError(
                f"amp.reference_torques is {expected!r}, but these clips' 'action_noise' differs: "
                f"{', '.join(wrong)}; record them with `ampbench collect --action-noise "
                f"{'policy' if expected == 'noisy_policy' else 'none'}` or change the card"
            )

    def sample(self, rng: np.random.Generator, n: int) -> MotionState:
        return self.state_at(*self.sample_times(rng, n))

    def sample_with_torques(self, rng: np.random.Generator, n: int) -> MotionState:
        """The torque motion loader's public call (docs/motion-api.md): `n` states drawn like `sample`,
        arrays of leading shape (n,) with `joint_torques` (n, D); for the torque discriminator, so every
        clip must carry joint torques, else ClipError naming each clip without them."""
        if self._missing_torques:
            raise ClipError(
                f"{', '.join(self._missing_torques)}: 'joint_torques' is missing; torque features "
                "need torque-motion clips (record them with the collect command)"
            )
        return self.sample(rng, n)

    def sample_history(
        self,
        rng: np.random.Generator,
        n: int,
        k: int,
        dt: float,
        skill: str | None = None,
        bodies: np.ndarray | None = None,
    ) -> MotionState:
        """n histories of k frames at t-(k-1)dt ... t, oldest first: arrays (n, k, ...); the (clip, t) of
        `history_times`, `bodies` as in `state_at`."""
        return self.history_at(*self.history_times(rng, n, k, dt, skill), k, dt, bodies)

    def history_times(
        self, rng: np.random.Generator, n: int, k: int, dt: float, skill: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Clip indices and end times t of n random k-frame histories: on non-loop clips t >= (k-1)dt, so
        every frame of a history lies inside the clip.

        On a clip stored at 1/dt frames per second (a recording at the control rate), t is snapped to its
        frames, so no sample blends two frames: blending two frames of a noisy policy's torques shrinks
        their noise, which a discriminator would tell from a training policy's.
        """
        clip_index, end_time = self.sample_times(rng, n, earliest=(k - 1) * dt, skill=skill)
        at_control_rate = np.abs(self._fps[clip_index] * dt - 1.0) < _SNAP_FRAMES
        end_time = np.where(at_control_rate, np.floor(end_time / dt + _SNAP_FRAMES) * dt, end_time)
        return clip_index, end_time

    def history_at(
        self,
        clip_index: np.ndarray,
        end_time: np.ndarray,
        k: int,
        dt: float,
        bodies: np.ndarray | None = None,
    ) -> MotionState:
        """k frames ending at each (clip, time), oldest first: arrays (n, k, ...); `bodies` as in
        `state_at`."""
        offsets = dt * np.arange(k - 1, -1, -1)
        return self.state_at(clip_index[:, None], end_time[:, None] - offsets[None, :], bodies)

    def _joint_angles(self, rows0: np.ndarray, rows1: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """(n, G, 3) angles of the 3-DOF joints blended on SO(3) (module docstring); stored frames exact."""
        stored = self._frames["dof_positions"][:, self._triples]
        rotations = quat.slerp(
            self._joint_rotations[rows0],
            self._joint_rotations[rows1],
            np.broadcast_to(weight[:, None], (len(weight), len(self._triples))),
        )
        nearer = np.where(weight < 0.5, rows0, rows1)
        angles = nearest_xyz_triple(rotations, stored[nearer])
        return np.where((weight == 0.0)[:, None, None], stored[rows0], angles)

    def _blend_rows(
        self, clip_index: np.ndarray, time: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows of the frame table either side of each time, and the blend weight in [0, 1]."""
        duration = self._durations[clip_index]
        time = np.where(self._loop[clip_index], np.mod(time, duration), np.clip(time, 0.0, duration))
        position = time * self._fps[clip_index]
        nearest = np.rint(position)
        position = np.where(np.abs(position - nearest) < _SNAP_FRAMES, nearest, position)
        last = self._num_frames[clip_index] - 1
        frame0 = np.clip(np.floor(position).astype(np.int64), 0, last)
        frame1 = np.minimum(frame0 + 1, last)
        weight = np.clip(position - frame0, 0.0, 1.0)
        offset = self._offsets[clip_index]
        return offset + frame0, offset + frame1, weight


def _blend(key: str, first: np.ndarray, second: np.ndarray, weight: np.ndarray) -> np.ndarray:
    if key == "body_rotations":
        return quat.slerp(first, second, np.broadcast_to(weight[:, None], first.shape[:-1]))
    weight = weight.reshape(weight.shape + (1,) * (first.ndim - 1))
    return first + weight * (second - first)


def _check_same_names(clips: Sequence[MotionClip]) -> None:
    reference = clips[0]
    for clip in clips[1:]:
        for key in ("dof_names", "body_names"):
            if getattr(clip, key) != getattr(reference, key):
                raise ClipError(
                    f"{clip.source or 'clip'}: '{key}' expected the same names as "
                    f"{reference.source or 'the first clip'} {list(getattr(reference, key))}, "
                    f"found {list(getattr(clip, key))}"
                )


def _normalised_weights(weights: Sequence[float] | None, count: int) -> np.ndarray:
    values = np.ones(count) if weights is None else np.asarray(weights, dtype=np.float64)
    if values.shape != (count,) or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ClipError(
            f"motion library: 'weights' expected {count} finite values > 0, found {values.tolist()}"
        )
    return values / values.sum()


def clip_path(name: str, data_dir: Path | None = None) -> Path:
    """'deepmimic/walk' -> <data_dir>/deepmimic/walk.npz; data_dir: argument, $AMPBENCH_DATA, ./data/clips."""
    parts = Path(name).parts
    if not name or Path(name).is_absolute() or ".." in parts:
        raise ClipError(f"clip name expected a relative name like 'deepmimic/walk', found {name!r}")
    root = data_dir if data_dir is not None else Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)
    return Path(root) / f"{name}.npz"


def clip_files(name: str, data_dir: Path | None = None) -> list[Path]:
    """The files of a clip name: `<name>.npz`, or every `*.npz` in the folder `<name>/` (a recording of
    several episodes, as `ampbench collect` writes it); empty when neither exists."""
    path = clip_path(name, data_dir)
    if path.is_file():
        return [path]
    folder = path.with_suffix("")
    return sorted(folder.glob("*.npz")) if folder.is_dir() else []


def check_model_names(library: MotionLibrary, dof_names: Sequence[str], body_names: Sequence[str]) -> None:
    """ClipError naming the clip and its first missing DOF or body where a clip lacks one of the model's:
    the simulator's state could not be compared with the clip's."""
    for clip in library.clips:
        for kind, wanted, have in (("DOF", dof_names, clip.dof_names), ("body", body_names, clip.body_names)):
            missing = [name for name in wanted if name not in have]
            if missing:
                raise ClipError(
                    f"{clip.source or 'a clip'}: has no {kind} {missing[0]!r} of the model "
                    f"({len(missing)} of {len(wanted)} missing; the clip has {list(have)[:6]}...)"
                )


def load_library(mocap: cards.MocapConfig, data_dir: Path | None = None) -> MotionLibrary:
    """The card's clips with their weights and skills; a folder name's episodes share its weight equally.
    Missing files are listed together with how to get them."""
    files = {ref.name: clip_files(ref.name, data_dir) for ref in mocap.clips}
    missing = [str(clip_path(name, data_dir)) for name, paths in files.items() if not paths]
    if missing:
        raise ClipError(
            f"clip file(s) not found: {missing}; run `ampbench data fetch` to download them "
            f"(data dir: argument, ${DATA_DIR_ENV}, or ./{DEFAULT_DATA_DIR})"
        )
    clips, weights, skills = [], [], []
    for ref in mocap.clips:
        paths = files[ref.name]
        clips += [load_clip(path) for path in paths]
        weights += [ref.weight / len(paths)] * len(paths)
        skills += [ref.skill] * len(paths)
    return MotionLibrary(clips, weights, skills)
