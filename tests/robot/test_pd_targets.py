"""`humanoid.pd_target_mapping` reaches the targets every backend uses and the model's servo range."""

from __future__ import annotations

import numpy as np

from ampbench import cards
from ampbench.robot.model import build_mj_model, humanoid_spec, pd_targets


def mapping(name: str) -> cards.HumanoidConfig:
    return cards.HumanoidConfig(pd_target_mapping=name)


def test_per_joint_type_centres_ball_joints_on_zero_and_lone_hinges_mid_range():
    spec = humanoid_spec()
    targets = pd_targets(spec, mapping("per_joint_type"))
    low, high = spec.joint_ranges.T
    knee = spec.dof_names.index("right_knee")
    assert np.isclose(targets.center[knee], (low[knee] + high[knee]) / 2)
    assert np.isclose(targets.scale[knee], 0.7 * (high[knee] - low[knee]))
    hip = [spec.dof_names.index(f"right_hip_{axis}") for axis in "xyz"]
    widest = min(1.2 * np.abs(spec.joint_ranges[hip]).max(), np.pi)
    assert np.allclose(targets.center[hip], 0.0) and np.allclose(targets.scale[hip], widest)
    assert np.all(targets.low <= low) and np.all(targets.high >= high)  # targets reach the limits and past


def test_the_mapping_sets_the_servo_control_range():
    simulator, spec = cards.SimulatorConfig(), humanoid_spec()
    for name in ("scaled_range", "per_joint_type"):
        targets = pd_targets(spec, mapping(name))
        model = build_mj_model(simulator, mapping(name))
        assert np.allclose(model.actuator_ctrlrange, np.stack([targets.low, targets.high], axis=1))
    scaled = pd_targets(spec, mapping("scaled_range"))
    assert np.allclose(scaled.low, spec.joint_ranges[:, 0]) and np.allclose(
        scaled.high, spec.joint_ranges[:, 1]
    )
