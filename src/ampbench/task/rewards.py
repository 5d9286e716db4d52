"""Task and style rewards shared by every backend, as named terms so every term can be logged apart.

Task reward: tracking of the commanded forward speed in the robot's heading frame, plus a small bounded
penalty on sideways drift (`tracking_scales` gives the weights, from the card). Style reward: read from
discriminator logits exactly as the card's AMP variant trained them (`AmpConfig.style_reward`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from array_api_compat import array_namespace, device

from ampbench.robot import quat

TASK_TERMS = ("tracking", "lateral", "alive")
"""The terms of `task_reward_terms`, in the order they are logged."""


def task_scales(lateral_weight: float, alive_bonus: float) -> dict[str, float]:
    """Weights of `task_reward_terms` for `combine_rewards` (`commands.lateral_weight`, `.alive_bonus`)."""
    return {"tracking": 1.0, "lateral": lateral_weight, "alive": alive_bonus}


def task_reward_terms(root_linear_velocity, root_rotation, command_speed, sigma: float):
    """`velocity_tracking_reward`'s terms plus `alive`: 1 for every step the episode goes on."""
    xp = array_namespace(root_linear_velocity)
    terms = velocity_tracking_reward(root_linear_velocity, root_rotation, command_speed, sigma)
    return {**terms, "alive": xp.ones_like(terms["tracking"])}


STYLE_REWARD_KINDS = ("neg_log_one_minus_d", "least_squares")
_MIN_ONE_MINUS_D = 1e-4
"""-log(1 - D) is capped at -log(1e-4) ≈ 9.21 so a confident discriminator cannot give unbounded reward."""


def velocity_tracking_reward(root_linear_velocity, root_rotation, command_speed, sigma: float):
    """Named task-reward terms (...,) for commanded forward speed `command_speed` (m/s).

    tracking = exp(-(v_forward - command_speed)^2 / sigma), in (0, 1];
    lateral = exp(-v_left^2 / sigma) - 1, in (-1, 0]: zero without sideways drift.
    Velocities are the root's, in the heading frame (x forward along the root's yaw, y to its left).
    """
    xp = array_namespace(root_linear_velocity)
    local = heading_velocity(root_linear_velocity, root_rotation)
    target = xp.asarray(command_speed, dtype=local.dtype, device=device(local))
    return {
        "tracking": xp.exp(-((local[..., 0] - target) ** 2) / sigma),
        "lateral": xp.exp(-(local[..., 1] ** 2) / sigma) - 1.0,
    }


def heading_velocity(root_linear_velocity, root_rotation):
    """Root velocity (..., 3) in the heading frame: x forward along the root's yaw, y to its left, z up."""
    heading_inv = quat.yaw_quat(-quat.heading_yaw(root_rotation))
    return quat.rotate(heading_inv, root_linear_velocity)


def combine_rewards(terms: Mapping[str, object], scales: Mapping[str, float]):
    """Sum of scale x term; every term needs a scale and every scale a term, so none is dropped silently."""
    if set(terms) != set(scales):
        raise ValueError(
            f"combine_rewards: reward terms {sorted(terms)} and scales {sorted(scales)} "
            "must name the same terms"
        )
    names = sorted(terms)
    total = scales[names[0]] * terms[names[0]]
    for name in names[1:]:
        total = total + scales[name] * terms[name]
    return total


def _softplus(xp, x):
    return xp.maximum(x, xp.zeros_like(x)) + xp.log1p(xp.exp(-xp.abs(x)))


def style_reward(logits, kind: str):
    """Style reward from discriminator logits d (reference = 1 / real in both variants).

    "neg_log_one_minus_d": -log(max(1 - sigmoid(d), 1e-4)), computed stably as min(softplus(d), 9.21).
    "least_squares": max(0, 1 - (d - 1)^2 / 4) (LSGAN targets: reference 1, policy -1).
    """
    xp = array_namespace(logits)
    if kind == "neg_log_one_minus_d":
        cap = xp.full_like(logits, -math.log(_MIN_ONE_MINUS_D))
        return xp.minimum(_softplus(xp, logits), cap)
    if kind == "least_squares":
        return xp.maximum(1.0 - (logits - 1.0) ** 2 / 4.0, xp.zeros_like(logits))
    raise ValueError(f"amp.style_reward must be one of {list(STYLE_REWARD_KINDS)}, found {kind!r}")
