"""Rewards: tracking in the heading frame, named terms and scales, style rewards at known logits."""

from __future__ import annotations

import math
from typing import get_args

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ampbench.cards import AmpConfig
from ampbench.robot import quat
from ampbench.task import rewards


def facing(yaw: float, forward: float, left: float):
    """Root rotation yawed by `yaw` and a world velocity that is (forward, left) in its heading frame."""
    rotation = quat.yaw_quat(np.array([yaw]))
    velocity = np.array(
        [
            [
                forward * math.cos(yaw) - left * math.sin(yaw),
                forward * math.sin(yaw) + left * math.cos(yaw),
                0.3,
            ]
        ]
    )
    return velocity, rotation


@pytest.mark.parametrize("yaw", [0.0, 2.0, -2.8])
def test_tracking_reward_in_heading_frame(yaw):
    velocity, rotation = facing(yaw, forward=1.5, left=0.0)
    terms = rewards.velocity_tracking_reward(velocity, rotation, np.array([1.5]), sigma=0.25)
    np.testing.assert_allclose(terms["tracking"], [1.0])
    np.testing.assert_allclose(terms["lateral"], [0.0], atol=1e-12)
    velocity, rotation = facing(yaw, forward=1.0, left=0.5)
    terms = rewards.velocity_tracking_reward(velocity, rotation, np.array([1.5]), sigma=0.25)
    np.testing.assert_allclose(terms["tracking"], [math.exp(-1.0)])
    np.testing.assert_allclose(terms["lateral"], [math.exp(-1.0) - 1.0])


def test_backwards_is_not_forwards():
    velocity, rotation = facing(0.5, forward=-1.0, left=0.0)
    terms = rewards.velocity_tracking_reward(velocity, rotation, np.array([1.0]), sigma=0.25)
    np.testing.assert_allclose(terms["tracking"], [math.exp(-16.0)])


def test_combine_rewards_weights_every_term():
    terms = {"tracking": np.array([0.8, 1.0]), "lateral": np.array([-0.4, 0.0])}
    terms["alive"] = np.ones(2)
    total = rewards.combine_rewards(terms, rewards.task_scales(0.25, 0.5))
    np.testing.assert_allclose(total, [0.8 - 0.25 * 0.4 + 0.5, 1.0 + 0.5])
    with pytest.raises(ValueError, match=r"\['alive', 'lateral', 'tracking'\] and scales \['tracking'\]"):
        rewards.combine_rewards(terms, {"tracking": 1.0})


def test_style_reward_kinds_are_the_cards():
    assert set(rewards.STYLE_REWARD_KINDS) == set(get_args(AmpConfig.model_fields["style_reward"].annotation))


def test_neg_log_one_minus_d_at_known_logits():
    logits = np.array([-50.0, -2.0, 0.0, 2.0, 9.0, 50.0])
    reward = rewards.style_reward(logits, "neg_log_one_minus_d")
    naive = -np.log(np.maximum(1.0 - 1.0 / (1.0 + np.exp(-logits[1:5])), 1e-4))
    np.testing.assert_allclose(reward[1:5], naive, rtol=1e-9)
    assert reward[2] == pytest.approx(math.log(2.0))
    assert reward[-1] == pytest.approx(-math.log(1e-4))  # capped: 9.2103
    assert reward[0] == pytest.approx(0.0, abs=1e-20)


def test_least_squares_at_known_logits():
    logits = np.array([-3.0, -1.0, 0.0, 1.0, 2.0, 3.0, 5.0])
    expected = [0.0, 0.0, 0.75, 1.0, 0.75, 0.0, 0.0]
    np.testing.assert_allclose(rewards.style_reward(logits, "least_squares"), expected)


def test_style_rewards_grow_with_the_logit():
    logits = np.linspace(-10.0, 10.0, 201)
    neg_log = rewards.style_reward(logits, "neg_log_one_minus_d")
    assert np.all(np.diff(neg_log) >= 0)
    assert np.all(np.diff(neg_log[logits < 9.2]) > 0)  # strictly below the cap at d = 9.21
    below_target = logits[(logits >= -1.0) & (logits <= 1.0)]
    assert np.all(np.diff(rewards.style_reward(below_target, "least_squares")) > 0)


def test_unknown_style_reward_is_named():
    with pytest.raises(ValueError, match=r"amp.style_reward must be one of .* found 'wgan'"):
        rewards.style_reward(np.zeros(2), "wgan")


@pytest.mark.parametrize("kind", rewards.STYLE_REWARD_KINDS)
def test_style_reward_same_in_numpy_and_jax(kind):
    logits = np.linspace(-12.0, 12.0, 49, dtype=np.float32)
    expected = rewards.style_reward(logits, kind)
    got = jax.jit(rewards.style_reward, static_argnums=1)(jnp.asarray(logits), kind)
    np.testing.assert_allclose(np.asarray(got), expected, atol=1e-6)


def test_tracking_reward_same_in_numpy_and_jax():
    rng = np.random.default_rng(0)
    velocity = rng.normal(size=(6, 3)).astype(np.float32)
    rotation = quat.normalize(rng.normal(size=(6, 4))).astype(np.float32)
    speed = rng.uniform(0.5, 3.0, 6).astype(np.float32)
    expected = rewards.velocity_tracking_reward(velocity, rotation, speed, 0.25)
    got = rewards.velocity_tracking_reward(
        jnp.asarray(velocity), jnp.asarray(rotation), jnp.asarray(speed), 0.25
    )
    for name in expected:
        np.testing.assert_allclose(np.asarray(got[name]), expected[name], atol=1e-6)


def test_task_terms_add_an_alive_term_to_velocity_tracking():
    velocity, rotation = facing(0.3, forward=1.5, left=0.0)
    terms = rewards.task_reward_terms(velocity, rotation, np.array([1.5]), sigma=0.25)
    assert set(terms) == set(rewards.TASK_TERMS)
    np.testing.assert_allclose(terms["alive"], [1.0])
    np.testing.assert_allclose(terms["tracking"], [1.0])
