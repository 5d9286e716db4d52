"""Commands: speeds inside their bands, skill weights respected, the one-hot command vector."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from ampbench.cards import CommandConfig, SpeedBand
from ampbench.task import commands

CARD_COMMANDS = CommandConfig(
    bands=(
        SpeedBand(skill="walk", speed=(0.5, 1.0), weight=2.0),
        SpeedBand(skill="pace", speed=(1.0, 2.0), weight=1.0),
        SpeedBand(skill="run", speed=(2.0, 3.0), weight=1.0),
    )
)


def test_bands_follow_the_requested_skill_order():
    lows, highs, weights = commands.bands_from_card(CARD_COMMANDS, ("run", "walk", "pace"))
    np.testing.assert_array_equal(lows, [2.0, 0.5, 1.0])
    np.testing.assert_array_equal(highs, [3.0, 1.0, 2.0])
    np.testing.assert_allclose(weights, [0.25, 0.5, 0.25])


def test_missing_band_is_named():
    with pytest.raises(ValueError, match=r"no speed band for skills \['jump'\] \(bands exist for"):
        commands.bands_from_card(CARD_COMMANDS, ("walk", "jump"))


def test_commands_inside_bands_with_skill_weights():
    lows, highs, weights = commands.bands_from_card(CARD_COMMANDS, ("walk", "pace", "run"))
    uniforms = np.random.default_rng(0).uniform(size=(20_000, 2))
    skill, speed = commands.command_from_uniforms(uniforms, lows, highs, weights)
    assert skill.dtype == np.int32
    np.testing.assert_allclose(np.bincount(skill, minlength=3) / 20_000, [0.5, 0.25, 0.25], atol=0.01)
    assert np.all(speed >= lows[skill]) and np.all(speed <= highs[skill])
    for index in range(3):
        chosen = speed[skill == index]
        assert chosen.mean() == pytest.approx((lows[index] + highs[index]) / 2, abs=0.02)


def test_band_edges_by_hand():
    uniforms = np.array([[0.0, 0.0], [0.4999, 0.999999], [0.5, 0.5], [0.75, 1.0], [0.999999, 0.25]])
    skill, speed = commands.command_from_uniforms(uniforms, [0.5, 1.0, 2.0], [1.0, 2.0, 3.0], [2.0, 1.0, 1.0])
    np.testing.assert_array_equal(skill, [0, 0, 1, 2, 2])
    np.testing.assert_allclose(speed, [0.5, 0.9999995, 1.5, 3.0, 2.25])


def test_bad_uniform_shape_is_named():
    with pytest.raises(ValueError, match=r"uniforms must have shape \(envs, 2\), found \(4,\)"):
        commands.command_from_uniforms(np.zeros(4), [0.5], [1.0], [1.0])


def test_command_vector_is_speed_then_one_hot():
    vector = commands.command_vector(np.array([2, 0]), np.array([2.5, 0.7]), 3)
    np.testing.assert_array_equal(vector, [[2.5, 0, 0, 1], [0.7, 1, 0, 0]])
    single = commands.command_vector(np.asarray(1), np.asarray(1.2), 3)
    np.testing.assert_array_equal(single, [1.2, 0, 1, 0])


def test_commands_same_in_numpy_and_jax():
    lows, highs, weights = commands.bands_from_card(CARD_COMMANDS, ("walk", "pace", "run"))
    uniforms = np.random.default_rng(1).uniform(size=(64, 2)).astype(np.float32)
    skill, speed = commands.command_from_uniforms(uniforms, lows, highs, weights)
    jax_skill, jax_speed = commands.command_from_uniforms(jnp.asarray(uniforms), lows, highs, weights)
    np.testing.assert_array_equal(np.asarray(jax_skill), skill)
    np.testing.assert_allclose(np.asarray(jax_speed), speed, atol=1e-6)
    vector = commands.command_vector(skill, speed, 3)
    np.testing.assert_allclose(
        np.asarray(commands.command_vector(jax_skill, jax_speed, 3)), vector, atol=1e-6
    )
