"""Small valid motion clips with analytic motion, so tests can check numbers without mocap files.

Motion of `synthetic_clip` at time t (s), with parameters drawn from `seed`:
- dof d: position a_d sin(w_d t + p_d), velocity a_d w_d cos(w_d t + p_d);
- every body: position start_b + ROOT_VELOCITY t (the root moves at constant velocity, rigidly);
- body b: rotation exp(omega_b t) * start_b (constant world angular velocity omega_b);
- torque d: 20 sin(w_d t) N·m.
Velocities are the exact derivatives, so finite-difference fills and interpolation can be checked
against them. `loop` is only the flag; the motion is not periodic.

`write_isaaclab` writes a small source file in Isaac Lab's humanoid_amp layout from hinge angles, for
converter tests (and, with `changes`, bad files of that layout).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from ampbench.motion.clip import MotionClip, SourceDataWarning
from ampbench.motion.clip_files import load_clip
from ampbench.motion.convert.deepmimic import deepmimic_to_clip
from ampbench.motion.convert.retarget import joint_groups, reference_model
from ampbench.motion.loader import clip_path
from ampbench.robot import quat
from ampbench.robot.model import forward_kinematics, humanoid_spec

ROOT_VELOCITY = np.array([1.2, -0.3, 0.05])


def synthetic_clip(
    num_frames: int = 31, fps: float = 30.0, loop: bool = False, torques: bool = True, seed: int = 0
) -> MotionClip:
    """A clip with the model's 28 DOF and 15 body names and the analytic motion above."""
    spec = humanoid_spec()
    params = synthetic_parameters(len(spec.dof_names), len(spec.body_names), seed)
    times = np.arange(num_frames) / fps
    state = synthetic_state(params, times)
    return MotionClip(
        fps=fps,
        dof_names=spec.dof_names,
        body_names=spec.body_names,
        **{key: value for key, value in state.items() if key != "joint_torques" or torques},
        loop=loop,
        source=f"synthetic_clip(seed={seed})",
    )


def synthetic_parameters(num_dofs: int, num_bodies: int, seed: int) -> dict[str, np.ndarray]:
    """Amplitudes, angular frequencies, phases, start poses and angular velocities of the motion."""
    rng = np.random.default_rng(seed)
    return {
        "amplitude": rng.uniform(0.1, 0.6, num_dofs),
        "frequency": rng.uniform(1.0, 4.0, num_dofs),
        "phase": rng.uniform(-np.pi, np.pi, num_dofs),
        "start_position": rng.uniform(-0.5, 0.5, (num_bodies, 3)) + np.array([0.0, 0.0, 1.0]),
        "start_rotation": quat.normalize(rng.normal(size=(num_bodies, 4))),
        "omega": rng.uniform(-2.0, 2.0, (num_bodies, 3)),
    }


def synthetic_state(params: dict[str, np.ndarray], times: np.ndarray) -> dict[str, np.ndarray]:
    """The analytic state at `times` (T,): MotionClip array keys -> arrays with leading shape (T,)."""
    t = np.asarray(times, dtype=np.float64)[:, None]
    angle = params["frequency"] * t + params["phase"]
    num_bodies = params["omega"].shape[0]
    spin = quat.from_rotvec(params["omega"][None] * t[:, :, None])
    return {
        "dof_positions": params["amplitude"] * np.sin(angle),
        "dof_velocities": params["amplitude"] * params["frequency"] * np.cos(angle),
        "body_positions": params["start_position"][None] + ROOT_VELOCITY * t[:, :, None],
        "body_rotations": quat.multiply(spin, np.broadcast_to(params["start_rotation"], spin.shape)),
        "body_linear_velocities": np.broadcast_to(ROOT_VELOCITY, (t.shape[0], num_bodies, 3)).copy(),
        "body_angular_velocities": np.broadcast_to(params["omega"], (t.shape[0], num_bodies, 3)).copy(),
        "joint_torques": 20.0 * np.sin(params["frequency"] * t),
    }


def random_in_range_angles(rng: np.random.Generator, frames: int) -> np.ndarray:
    """(F, 28) smooth hinge angles well inside every joint range (never near gimbal lock)."""
    ranges = humanoid_spec().joint_ranges
    low, high = np.maximum(ranges[:, 0], -1.2), np.minimum(ranges[:, 1], 1.2)
    middle, half = (low + high) / 2.0, (high - low) / 2.0 * 0.8
    phase = rng.uniform(-np.pi, np.pi, len(middle))
    return middle + half * np.sin(np.linspace(0.0, 2.0, frames)[:, None] * 3.0 + phase)


def isaaclab_fields(angles: np.ndarray, *, exponential_maps: bool = True) -> dict[str, np.ndarray]:
    """Isaac Lab-layout arrays (float32, 60 fps) with DOFs and bodies in reversed order; 3-DOF joints as
    rotation vectors unless exponential_maps is False; the root walks 1 m along x at 0.9 m height."""
    spec, model = humanoid_spec(), reference_model()
    frames = len(angles)
    root = np.column_stack([np.linspace(0, 1, frames), np.zeros(frames), np.full(frames, 0.9)])
    positions, rotations = forward_kinematics(
        model, root, np.broadcast_to([1.0, 0, 0, 0], (frames, 4)), angles
    )
    stored = angles.copy()
    if exponential_maps:
        for group in joint_groups():
            if len(group.dof_indices) == 3:
                dofs = list(group.dof_indices)
                stored[:, dofs] = quat.to_rotvec(quat.from_intrinsic_xyz(angles[:, dofs]))
    return {
        "fps": np.int64(60),
        "dof_names": np.array(spec.dof_names[::-1]),
        "body_names": np.array(spec.body_names[::-1]),
        "dof_positions": stored[:, ::-1].astype(np.float32),
        "dof_velocities": np.zeros_like(stored, dtype=np.float32),
        "body_positions": positions[:, ::-1].astype(np.float32),
        "body_rotations": rotations[:, ::-1].astype(np.float32),
        "body_linear_velocities": np.zeros_like(positions[:, ::-1], dtype=np.float32),
        "body_angular_velocities": np.zeros_like(positions[:, ::-1], dtype=np.float32),
    }


def write_isaaclab(path: Path, angles: np.ndarray, *, exponential_maps: bool = True, **changes) -> Path:
    """`isaaclab_fields` saved as an NPZ, with some keys replaced by `changes`."""
    np.savez(path, **(isaaclab_fields(angles, exponential_maps=exponential_maps) | changes))
    return path


SHARED_DEEPMIMIC = Path(__file__).resolve().parents[1].parent / "shared" / "mocap" / "deepmimic"


def deepmimic_clip(name: str) -> MotionClip:
    """A DeepMimic clip: the converted one in the clip folder, else converted here from the shared copy
    (skips the test where neither is present)."""
    path = clip_path(f"deepmimic/{name}")
    if path.exists():
        return load_clip(path)
    source = SHARED_DEEPMIMIC / f"humanoid3d_{name}.txt"
    if not source.exists():
        pytest.skip(f"neither {path} nor {source}: run `ampbench data fetch` to test on the DeepMimic clips")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SourceDataWarning)  # the converter's notes on the source data
        return deepmimic_to_clip(source)
