"""The humanoid under MuJoCo stepping: the root weld holds, and nothing but torques holds it up (in the
`torque` action mode, where ctrl 0 is no torque; in `pd` it is a target angle the servos hold)."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from ampbench import cards
from ampbench.robot.model import build_mj_model

LEG_LENGTH = 0.421546 + 0.409870 + 0.0225 + 0.0275  # thigh + shin offsets + foot box bottom below the ankle


def _step(model: mujoco.MjModel, data: mujoco.MjData, seconds: float) -> np.ndarray:
    """Pelvis positions after each step, with zero motor torques."""
    data.ctrl[:] = 0.0
    trace = []
    for _ in range(round(seconds / model.opt.timestep)):
        mujoco.mj_step(model, data)
        trace.append(data.qpos[:3].copy())
    return np.array(trace)


@pytest.mark.parametrize("contacts", ["floor", "all"])
def test_weld_root_holds_the_pelvis_under_gravity(contacts):
    model = build_mj_model(
        cards.SimulatorConfig(contacts=contacts), cards.HumanoidConfig(action_mode="torque"), weld_root=True
    )
    data = mujoco.MjData(model)
    trace = _step(model, data, 1.0)
    assert np.max(np.linalg.norm(trace - model.qpos0[:3], axis=1)) < 0.005
    tilt_deg = np.degrees(2 * np.arccos(min(1.0, abs(data.qpos[3]))))
    assert tilt_deg < 0.5
    assert np.ptp(data.qpos[7:]) > 0.1  # the limbs did move: only the root is held


def test_standing_humanoid_without_torques_falls():
    model = build_mj_model(cards.SimulatorConfig(), cards.HumanoidConfig(action_mode="torque"))
    data = mujoco.MjData(model)
    data.qpos[2] = LEG_LENGTH + 0.001
    trace = _step(model, data, 2.0)
    assert trace[0, 2] > LEG_LENGTH - 0.01  # started standing, not sunk into the floor
    assert trace[:, 2].min() < 0.5  # below the card's default termination height


@pytest.mark.parametrize(("integrator", "stable"), [("implicitfast", True), ("euler", False)])
def test_pd_servos_are_stable_at_5_ms_only_with_implicit_damping(integrator, stable):
    """kd dt / I reaches 8.75 on the light joints: explicit (Euler) damping rings up, implicitfast holds."""
    simulator = cards.SimulatorConfig(integrator=integrator)
    model = build_mj_model(simulator, cards.HumanoidConfig(action_mode="pd"), weld_root=True)
    data = mujoco.MjData(model)
    targets = np.random.default_rng(0).uniform(model.actuator_ctrlrange[:, 0], model.actuator_ctrlrange[:, 1])
    peak = 0.0
    for step in range(400):  # 2 s, a new target every 0.25 s
        if step % 50 == 0:
            data.ctrl[:] = np.roll(targets, step // 50)
        mujoco.mj_step(model, data)
        speed = np.max(np.abs(data.qvel[6:])) if np.all(np.isfinite(data.qvel)) else np.inf
        peak = max(peak, speed)
    assert (peak < 50.0) == stable, f"{integrator}: peak joint speed {peak:.1f} rad/s"
