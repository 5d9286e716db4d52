"""Small valid motion clips with analytic motion, so tests can check numbers without mocap files.

Motion of `synthetic_clip` at time t (s), with parameters drawn from `seed`:
- dof d: position a_d sin(w_d t + p_d), velocity a_d w_d cos(w_d t + p_d);
- every body: position start_b + ROOT_VELOCITY t (the root moves at constant velocity, rigidly);
- body b: rotation exp(omega_b t) * start_b (constant world angular velocity omega_b);
- torque d: 20 sin(w_d t) N·m.
Velocities are the exact derivatives, so finite-difference fills and interpolation can be checked
against them. `loop` is only the flag; the motion is not periodic.
"""

from __future__ import annotations

import numpy as np

from ampbench.model import humanoid_spec
from ampbench.motion.clip import MotionClip
from ampbench.task import quat

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
