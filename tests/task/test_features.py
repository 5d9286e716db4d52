"""AMP features: sizes, heading invariance, torque scaling, history order, clip path == simulator path."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ampbench.motion.loader import MotionState
from ampbench.robot import quat
from ampbench.task import features

DOFS, KEYS = 28, 4
EFFORT = np.linspace(50.0, 200.0, DOFS)
ALL_SETS = ("kinematic", "torque_only", "torque_dof", "full")


def random_state(rng: np.random.Generator, batch: tuple[int, ...] = (5,), dofs: int = DOFS, keys: int = KEYS):
    return {
        "root_position": rng.normal(size=(*batch, 3)) + np.array([0.0, 0.0, 1.0]),
        "root_rotation": quat.normalize(rng.normal(size=(*batch, 4))),
        "root_linear_velocity": rng.normal(size=(*batch, 3)),
        "root_angular_velocity": rng.normal(size=(*batch, 3)),
        "dof_positions": rng.normal(size=(*batch, dofs)),
        "dof_velocities": rng.normal(size=(*batch, dofs)),
        "key_body_positions": rng.normal(size=(*batch, keys, 3)),
        "joint_torques": rng.normal(size=(*batch, dofs)) * 50.0,
    }


def amp(state, feature_set="kinematic", effort=EFFORT):
    return features.amp_features(**state, effort_limits=effort, feature_set=feature_set)


@pytest.mark.parametrize(
    ("feature_set", "size"), [("kinematic", 81), ("torque_only", 28), ("torque_dof", 84), ("full", 109)]
)
def test_feature_sizes_match_layout(feature_set, size):
    layout = features.feature_layout(feature_set, DOFS, KEYS)
    out = amp(random_state(np.random.default_rng(0)), feature_set)
    assert layout.size == size
    assert out.shape == (5, size)
    covered = sorted((s.start, s.stop) for s in layout.slices.values())
    assert covered[0][0] == 0 and covered[-1][1] == size
    assert all(a[1] == b[0] for a, b in itertools.pairwise(covered))


def test_layout_slices_hold_the_named_inputs():
    state = random_state(np.random.default_rng(1))
    out = amp(state, "full")
    layout = features.feature_layout("full", DOFS, KEYS)
    np.testing.assert_allclose(out[:, layout.slices["dof_positions"]], state["dof_positions"])
    np.testing.assert_allclose(out[:, layout.slices["dof_velocities"]], state["dof_velocities"])
    np.testing.assert_allclose(out[:, layout.slices["root_height"]], state["root_position"][:, 2:3])
    np.testing.assert_allclose(out[:, layout.slices["joint_torques"]], state["joint_torques"] / EFFORT)


def test_unknown_feature_set_names_the_choices():
    with pytest.raises(ValueError, match=r"amp.feature_set must be one of .*'torque_dof'.*found 'torques'"):
        features.feature_layout("torques", DOFS, KEYS)


def turned_about_z(state, yaw: float, shift: np.ndarray):
    """The same scene turned by `yaw` about world z and shifted horizontally."""
    turn = quat.yaw_quat(np.asarray(yaw))
    return {
        **state,
        "root_position": quat.rotate(turn, state["root_position"]) + shift,
        "root_rotation": quat.multiply(
            np.broadcast_to(turn, state["root_rotation"].shape), state["root_rotation"]
        ),
        "root_linear_velocity": quat.rotate(turn, state["root_linear_velocity"]),
        "root_angular_velocity": quat.rotate(turn, state["root_angular_velocity"]),
        "key_body_positions": quat.rotate(turn, state["key_body_positions"]) + shift,
    }


@pytest.mark.parametrize("yaw", [0.7, -2.5, np.pi])
def test_kinematic_features_ignore_heading_and_horizontal_position(yaw):
    state = random_state(np.random.default_rng(2))
    turned = turned_about_z(state, yaw, np.array([3.0, -4.0, 0.0]))
    np.testing.assert_allclose(amp(turned, "full"), amp(state, "full"), atol=1e-10)
    assert not np.allclose(turned["root_linear_velocity"], state["root_linear_velocity"])


def test_heading_frame_values_by_hand():
    """Root yawed 90° (facing +y), moving along +y, hand 0.5 m in front: all 'forward' in the features."""
    state = random_state(np.random.default_rng(3), batch=(1,), keys=1)
    state["root_position"] = np.array([[1.0, 2.0, 0.9]])
    state["root_rotation"] = quat.yaw_quat(np.array([np.pi / 2]))
    state["root_linear_velocity"] = np.array([[0.0, 1.5, 0.0]])
    state["root_angular_velocity"] = np.array([[0.0, 0.0, 0.3]])
    state["key_body_positions"] = np.array([[[1.0, 2.5, 1.0]]])
    out = amp(state)[0]
    layout = features.feature_layout("kinematic", DOFS, 1)
    np.testing.assert_allclose(out[layout.slices["root_height"]], [0.9])
    np.testing.assert_allclose(out[layout.slices["root_orientation"]], [1, 0, 0, 0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(out[layout.slices["root_linear_velocity"]], [1.5, 0, 0], atol=1e-12)
    np.testing.assert_allclose(out[layout.slices["root_angular_velocity"]], [0, 0, 0.3], atol=1e-12)
    np.testing.assert_allclose(out[layout.slices["key_body_positions"]], [0.5, 0, 0.1], atol=1e-12)


def test_torques_are_normalised_by_effort_limits():
    state = random_state(np.random.default_rng(4), batch=(2,))
    state["joint_torques"] = np.stack([EFFORT, -0.5 * EFFORT])
    out = amp(state, "torque_only")
    np.testing.assert_allclose(out, np.stack([np.full(DOFS, 1.0), np.full(DOFS, -0.5)]))


@pytest.mark.parametrize("feature_set", ALL_SETS)
def test_discriminator_weights_put_the_torque_weight_on_torque_columns_of_every_frame(feature_set):
    layout = features.feature_layout(feature_set, DOFS, 4)
    weights = features.discriminator_weights(feature_set, DOFS, 4, torque_weight=2.5, history=2)
    assert weights.shape == (2 * layout.size,)
    frame = np.ones(layout.size)
    if "joint_torques" in layout.slices:
        frame[layout.slices["joint_torques"]] = 2.5
    np.testing.assert_array_equal(weights, np.tile(frame, 2))


@pytest.mark.parametrize("feature_set", ["torque_only", "torque_dof", "full"])
def test_torque_sets_refuse_missing_torques(feature_set):
    state = {**random_state(np.random.default_rng(5)), "joint_torques": None}
    with pytest.raises(ValueError, match=f"{feature_set}.*needs joint_torques"):
        amp(state, feature_set)


def test_kinematic_set_works_without_torques():
    state = random_state(np.random.default_rng(5))
    expected = amp(state)
    np.testing.assert_array_equal(amp({**state, "joint_torques": None}), expected)


def test_mismatched_dof_counts_are_named():
    state = random_state(np.random.default_rng(6))
    with pytest.raises(ValueError, match=r"effort_limits has 27 values per frame, expected 28"):
        amp(state, "torque_dof", effort=EFFORT[:27])
    state["dof_velocities"] = state["dof_velocities"][:, :20]
    with pytest.raises(ValueError, match=r"dof_velocities has 20 values per frame, expected 28"):
        amp(state)


def test_any_leading_batch_shape():
    state = random_state(np.random.default_rng(7), batch=(2, 3))
    out = amp(state, "full")
    flat = amp({key: value.reshape(6, *value.shape[2:]) for key, value in state.items()}, "full")
    assert out.shape == (2, 3, 109)
    np.testing.assert_allclose(out.reshape(6, -1), flat)
    single = amp({key: value[1, 2] for key, value in state.items()}, "full")
    np.testing.assert_allclose(single, out[1, 2])


def test_policy_observation_is_kinematic_features_then_command():
    state = random_state(np.random.default_rng(8))
    command = np.tile(np.array([1.2, 0.0, 1.0, 0.0]), (5, 1))
    kinematic = {key: value for key, value in state.items() if key != "joint_torques"}
    obs = features.policy_observation(**kinematic, command=command)
    assert obs.shape == (5, 81 + 4)
    np.testing.assert_allclose(obs[:, :81], amp(state))
    np.testing.assert_allclose(obs[:, 81:], command)


def synthetic_motion_state(rng: np.random.Generator, with_torques: bool = True) -> MotionState:
    """Frames (4, 2) of a 6-body, 28-DOF skeleton: leading shape like `sample_history` returns."""
    shape = (4, 2)
    return MotionState(
        dof_positions=rng.normal(size=(*shape, DOFS)),
        dof_velocities=rng.normal(size=(*shape, DOFS)),
        body_positions=rng.normal(size=(*shape, 6, 3)),
        body_rotations=quat.normalize(rng.normal(size=(*shape, 6, 4))),
        body_linear_velocities=rng.normal(size=(*shape, 6, 3)),
        body_angular_velocities=rng.normal(size=(*shape, 6, 3)),
        joint_torques=rng.normal(size=(*shape, DOFS)) * 30.0 if with_torques else None,
    )


@pytest.mark.parametrize("feature_set", ALL_SETS)
def test_clip_features_equal_amp_features_built_by_hand(feature_set):
    clip = synthetic_motion_state(np.random.default_rng(9))
    keys = [5, 2, 3, 1]
    by_hand = features.amp_features(
        clip.body_positions[..., 0, :],
        clip.body_rotations[..., 0, :],
        clip.body_linear_velocities[..., 0, :],
        clip.body_angular_velocities[..., 0, :],
        clip.dof_positions,
        clip.dof_velocities,
        clip.body_positions[..., keys, :],
        clip.joint_torques,
        effort_limits=EFFORT,
        feature_set=feature_set,
    )
    out = features.clip_features(clip, key_body_indices=keys, effort_limits=EFFORT, feature_set=feature_set)
    assert out.shape == (4, 2, features.feature_layout(feature_set, DOFS, 4).size)
    np.testing.assert_array_equal(out, by_hand)


def test_clip_without_torques_names_the_feature_set():
    clip = synthetic_motion_state(np.random.default_rng(10), with_torques=False)
    with pytest.raises(
        ValueError, match=r"'torque_dof' needs joint torques, but the clip has no joint_torques"
    ):
        features.clip_features(clip, key_body_indices=[1], effort_limits=EFFORT, feature_set="torque_dof")


def test_clip_key_body_out_of_range():
    clip = synthetic_motion_state(np.random.default_rng(11))
    with pytest.raises(ValueError, match=r"key_body_indices \[6\] out of range for a clip with 6 bodies"):
        features.clip_features(clip, key_body_indices=[1, 6], effort_limits=EFFORT, feature_set="kinematic")


def as_jax(state):
    return {key: jnp.asarray(value, dtype=jnp.float32) for key, value in state.items()}


def as_float32(state):
    return {key: np.asarray(value, dtype=np.float32) for key, value in state.items()}


@pytest.mark.parametrize("feature_set", ALL_SETS)
def test_amp_features_same_in_numpy_and_jax_and_jit(feature_set):
    state = as_float32(random_state(np.random.default_rng(12)))
    expected = amp(state, feature_set)
    jitted = jax.jit(lambda s: amp(s, feature_set))
    np.testing.assert_allclose(np.asarray(amp(as_jax(state), feature_set)), expected, atol=1e-6)
    np.testing.assert_allclose(np.asarray(jitted(as_jax(state))), expected, atol=1e-6)


def test_policy_observation_same_in_numpy_and_jax():
    state = as_float32(random_state(np.random.default_rng(13)))
    state.pop("joint_torques")
    command = np.tile(np.array([0.7, 1.0, 0.0], dtype=np.float32), (5, 1))
    expected = features.policy_observation(**state, command=command)
    got = features.policy_observation(**as_jax(state), command=jnp.asarray(command))
    np.testing.assert_allclose(np.asarray(got), expected, atol=1e-6)


def test_clip_features_same_in_numpy_and_jax():
    clip = synthetic_motion_state(np.random.default_rng(14))
    clip32 = MotionState(**as_float32(vars(clip)))
    jax_clip = MotionState(**as_jax(vars(clip)))
    kwargs = {
        "key_body_indices": [2, 4],
        "effort_limits": EFFORT,
        "feature_set": "full",
    }
    expected = features.clip_features(clip32, **kwargs)
    np.testing.assert_allclose(np.asarray(features.clip_features(jax_clip, **kwargs)), expected, atol=1e-6)
