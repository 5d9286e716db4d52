"""AMP discriminator features and policy observations built by one function for simulator and clip state.

The environment calls `amp_features` with simulator state and `clip_features` calls it with clip frames,
so the policy's and the reference's discriminator inputs match by construction. Written once against the
array API: numpy, jax.numpy (jit-able: `feature_set` is a static string) and torch share it.

Kinematic feature order (13 + 2D + 3K values), everything rotation-dependent in the root's heading frame
(world frame turned by minus the root's yaw, so the features do not change when the whole scene turns
about z):
    root_height (1), root_orientation (6: tangent and normal axes with yaw removed),
    root_linear_velocity (3), root_angular_velocity (3), dof_positions (D), dof_velocities (D),
    key_body_positions (3K: relative to the root).
Torque features are `joint_torques / effort_limits` (D) and come first in the torque sets. The card's
torque weight is not applied here: the discriminator z-scores its inputs, which would cancel any factor
applied before; `discriminator_weights` gives the per-column factors to apply after that normalisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from array_api_compat import array_namespace, device

from ampbench.robot import quat

if TYPE_CHECKING:
    from ampbench.motion.loader import MotionState

_KINEMATIC = (
    "root_height",
    "root_orientation",
    "root_linear_velocity",
    "root_angular_velocity",
    "dof_positions",
    "dof_velocities",
    "key_body_positions",
)
FEATURE_PARTS: dict[str, tuple[str, ...]] = {
    "kinematic": _KINEMATIC,
    "torque_only": ("joint_torques",),
    "torque_dof": ("joint_torques", "dof_positions", "dof_velocities"),
    "full": ("joint_torques", *_KINEMATIC),
}
_TORQUE_SETS = frozenset(name for name, parts in FEATURE_PARTS.items() if "joint_torques" in parts)


def _part_sizes(num_dofs: int, num_key_bodies: int) -> dict[str, int]:
    return {
        "root_height": 1,
        "root_orientation": 6,
        "root_linear_velocity": 3,
        "root_angular_velocity": 3,
        "dof_positions": num_dofs,
        "dof_velocities": num_dofs,
        "key_body_positions": 3 * num_key_bodies,
        "joint_torques": num_dofs,
    }


@dataclass(frozen=True)
class FeatureLayout:
    """Size and named slices of one feature vector, for logging, plots and tests."""

    feature_set: str
    num_dofs: int
    num_key_bodies: int
    size: int
    slices: dict[str, slice]


def _check_feature_set(feature_set: str) -> tuple[str, ...]:
    if feature_set not in FEATURE_PARTS:
        raise ValueError(f"amp.feature_set must be one of {sorted(FEATURE_PARTS)}, found {feature_set!r}")
    return FEATURE_PARTS[feature_set]


def feature_layout(feature_set: str, num_dofs: int, num_key_bodies: int) -> FeatureLayout:
    """Layout of `amp_features(..., feature_set=feature_set)` for a robot with these sizes."""
    sizes = _part_sizes(num_dofs, num_key_bodies)
    slices: dict[str, slice] = {}
    start = 0
    for name in _check_feature_set(feature_set):
        slices[name] = slice(start, start + sizes[name])
        start += sizes[name]
    return FeatureLayout(feature_set, num_dofs, num_key_bodies, start, slices)


def _heading_inverse(root_rotation):
    """Quaternion that turns world vectors into the root's heading frame (yaw removed)."""
    return quat.yaw_quat(-quat.heading_yaw(root_rotation))


def _kinematic_parts(
    xp,
    root_position,
    root_rotation,
    root_linear_velocity,
    root_angular_velocity,
    dof_positions,
    dof_velocities,
    key_body_positions,
):
    heading_inv = _heading_inverse(root_rotation)
    relative_keys = key_body_positions - root_position[..., None, :]
    key_local = quat.rotate(heading_inv[..., None, :], relative_keys)
    return {
        "root_height": root_position[..., 2:3],
        "root_orientation": quat.tangent_normal(quat.multiply(heading_inv, root_rotation)),
        "root_linear_velocity": quat.rotate(heading_inv, root_linear_velocity),
        "root_angular_velocity": quat.rotate(heading_inv, root_angular_velocity),
        "dof_positions": dof_positions,
        "dof_velocities": dof_velocities,
        "key_body_positions": xp.reshape(key_local, (*key_local.shape[:-2], 3 * key_local.shape[-2])),
    }


def _check_shapes(dof_positions, dof_velocities, key_body_positions, joint_torques, effort_limits) -> None:
    num_dofs = dof_positions.shape[-1]
    checks = {
        "dof_velocities": (dof_velocities.shape[-1], num_dofs),
        "key_body_positions last axis": (key_body_positions.shape[-1], 3),
    }
    if joint_torques is not None:
        checks["joint_torques"] = (joint_torques.shape[-1], num_dofs)
        checks["effort_limits"] = (effort_limits.shape[-1], num_dofs)
    for name, (found, expected) in checks.items():
        if found != expected:
            raise ValueError(
                f"amp_features: {name} has {found} values per frame, expected {expected} "
                f"(dof_positions has {num_dofs} DOFs)"
            )


def amp_features(
    root_position,
    root_rotation,
    root_linear_velocity,
    root_angular_velocity,
    dof_positions,
    dof_velocities,
    key_body_positions,
    joint_torques,
    *,
    effort_limits,
    feature_set: str,
):
    """One AMP discriminator frame (..., F); layout given by `feature_layout`.

    Shapes: root_position (..., 3), root_rotation (..., 4 wxyz), velocities (..., 3) world frame,
    dof arrays (..., D), key_body_positions (..., K, 3) world, joint_torques (..., D) or None for
    `kinematic`, effort_limits (D,) N·m (any array type: converted to the state's namespace).
    """
    names = _check_feature_set(feature_set)
    xp = array_namespace(root_position)
    if feature_set in _TORQUE_SETS and joint_torques is None:
        raise ValueError(f"amp_features: feature_set {feature_set!r} needs joint_torques, got None")
    limits = xp.asarray(effort_limits, dtype=dof_positions.dtype, device=device(dof_positions))
    _check_shapes(dof_positions, dof_velocities, key_body_positions, joint_torques, limits)
    parts = {"dof_positions": dof_positions, "dof_velocities": dof_velocities}
    if "root_height" in names:
        parts = _kinematic_parts(
            xp,
            root_position,
            root_rotation,
            root_linear_velocity,
            root_angular_velocity,
            dof_positions,
            dof_velocities,
            key_body_positions,
        )
    if "joint_torques" in names:
        parts["joint_torques"] = joint_torques / limits
    return xp.concat([parts[name] for name in names], axis=-1)


def policy_observation(
    root_position,
    root_rotation,
    root_linear_velocity,
    root_angular_velocity,
    dof_positions,
    dof_velocities,
    key_body_positions,
    command,
):
    """Policy input (..., 13 + 2D + 3K + C): the kinematic AMP features, then the command vector.

    Torques are left out: the policy acts through them, it does not need to observe its last action.
    """
    xp = array_namespace(root_position)
    parts = _kinematic_parts(
        xp,
        root_position,
        root_rotation,
        root_linear_velocity,
        root_angular_velocity,
        dof_positions,
        dof_velocities,
        key_body_positions,
    )
    command = xp.asarray(command, dtype=root_position.dtype, device=device(root_position))
    return xp.concat([*(parts[name] for name in _KINEMATIC), command], axis=-1)


def _key_body_indices(key_body_indices, num_bodies: int) -> np.ndarray:
    indices = np.asarray(key_body_indices, dtype=np.int64).reshape(-1)
    bad = indices[(indices < 0) | (indices >= num_bodies)]
    if bad.size:
        raise ValueError(
            f"clip_features: key_body_indices {bad.tolist()} out of range for a clip with {num_bodies} bodies"
        )
    return indices


def clip_features(
    state: MotionState,
    *,
    key_body_indices,
    effort_limits,
    feature_set: str,
):
    """AMP features (S..., F) of clip frames: body 0 is the root, key bodies picked by static indices.

    This is the reference side of the discriminator; the env builds the policy side from simulator state
    through the same `amp_features`.
    """
    _check_feature_set(feature_set)
    if feature_set in _TORQUE_SETS and state.joint_torques is None:
        raise ValueError(
            f"clip_features: feature_set {feature_set!r} needs joint torques, but the clip has no "
            "joint_torques; use torque-motion clips (NPZ with a joint_torques key) or feature_set 'kinematic'"
        )
    xp = array_namespace(state.body_positions)
    indices = _key_body_indices(key_body_indices, state.body_positions.shape[-2])
    return amp_features(
        state.body_positions[..., 0, :],
        state.body_rotations[..., 0, :],
        state.body_linear_velocities[..., 0, :],
        state.body_angular_velocities[..., 0, :],
        state.dof_positions,
        state.dof_velocities,
        xp.take(state.body_positions, xp.asarray(indices, device=device(state.body_positions)), axis=-2),
        state.joint_torques,
        effort_limits=effort_limits,
        feature_set=feature_set,
    )


def discriminator_weights(
    feature_set: str, num_dofs: int, num_key_bodies: int, *, torque_weight: float, history: int
) -> np.ndarray:
    """Per-column factors (history x F,) for normalised discriminator inputs: `torque_weight` on torques.

    Applied after the discriminator's running normaliser, where a factor still changes how much the
    torque columns count (before it, z-scoring would undo it).
    """
    layout = feature_layout(feature_set, num_dofs, num_key_bodies)
    weights = np.ones(layout.size)
    if "joint_torques" in layout.slices:
        weights[layout.slices["joint_torques"]] = torque_weight
    return np.tile(weights, history)


_AXES = {
    "root_orientation": ("tx", "ty", "tz", "nx", "ny", "nz"),
    "root_linear_velocity": "xyz",
    "root_angular_velocity": "xyz",
}


def column_names(
    feature_set: str, dof_names: tuple[str, ...], key_bodies: tuple[str, ...], history: int
) -> tuple[str, ...]:
    """A name for every column of a (history x F,) AMP observation, oldest frame first, e.g.
    `dof_positions[neck_x]@t-1`: how a masked or telling column is reported."""
    layout = feature_layout(feature_set, len(dof_names), len(key_bodies))
    frame: list[str] = []
    for part in layout.slices:
        if part in ("dof_positions", "dof_velocities", "joint_torques"):
            frame += [f"{part}[{name}]" for name in dof_names]
        elif part == "key_body_positions":
            frame += [f"{part}[{body}.{axis}]" for body in key_bodies for axis in "xyz"]
        elif part in _AXES:
            frame += [f"{part}[{axis}]" for axis in _AXES[part]]
        else:
            frame.append(part)
    lags = [f"@t-{history - 1 - k}" if k < history - 1 else "@t" for k in range(history)]
    return tuple(f"{name}{lag}" for lag in lags for name in frame)


def constant_columns(reference: np.ndarray, below_std: float) -> np.ndarray:
    """Boolean mask (A,) of the columns of reference AMP observations (N, A) whose standard deviation is
    below `below_std` (none when it is 0): columns the clips never move."""
    return np.std(np.asarray(reference, np.float64), axis=0) < below_std
