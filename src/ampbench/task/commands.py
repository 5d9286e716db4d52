"""Velocity commands per skill, drawn from the card's speed bands with caller-supplied uniforms.

A command is a skill (chosen with the band weights) and a forward speed uniform in that skill's band.
The policy sees it as `[speed, one-hot skill]`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from array_api_compat import array_namespace, device

from ampbench.cards import CommandConfig


def bands_from_card(
    commands: CommandConfig, skills: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lows, highs, weights) float arrays in the order of `skills`; weights sum to 1."""
    by_skill = {band.skill: band for band in commands.bands}
    missing = [skill for skill in skills if skill not in by_skill]
    if missing:
        raise ValueError(
            f"commands.bands: no speed band for skills {missing} (bands exist for {sorted(by_skill)})"
        )
    bands = [by_skill[skill] for skill in skills]
    lows = np.asarray([band.speed[0] for band in bands], dtype=np.float64)
    highs = np.asarray([band.speed[1] for band in bands], dtype=np.float64)
    weights = np.asarray([band.weight for band in bands], dtype=np.float64)
    return lows, highs, weights / weights.sum()


def command_from_uniforms(uniforms, band_lows, band_highs, band_weights):
    """Skill index (E,) int32 and target speed (E,) from uniforms (E, 2).

    Column 0 picks the skill with probability proportional to `band_weights`; column 1 places the speed
    uniformly in that skill's [low, high] band.
    """
    xp = array_namespace(uniforms)
    if uniforms.ndim != 2 or uniforms.shape[1] != 2:
        raise ValueError(
            f"command_from_uniforms: uniforms must have shape (envs, 2), found {tuple(uniforms.shape)}"
        )
    on = device(uniforms)
    lows = xp.asarray(band_lows, dtype=uniforms.dtype, device=on)
    highs = xp.asarray(band_highs, dtype=uniforms.dtype, device=on)
    weights = xp.asarray(band_weights, dtype=uniforms.dtype, device=on)
    if not lows.shape == highs.shape == weights.shape:
        raise ValueError(
            "command_from_uniforms: band_lows, band_highs, band_weights must have one value per skill, "
            f"found shapes {tuple(lows.shape)}, {tuple(highs.shape)}, {tuple(weights.shape)}"
        )
    upper_edges = xp.cumulative_sum(weights) / xp.sum(weights)
    passed = uniforms[:, 0:1] >= upper_edges[None, :-1]
    skill = xp.astype(xp.sum(xp.astype(passed, xp.int32), axis=1), xp.int32)
    low, high = xp.take(lows, skill), xp.take(highs, skill)
    return skill, low + uniforms[:, 1] * (high - low)


def command_vector(skill_index, target_speed, num_skills: int):
    """(..., 1 + num_skills) policy command: [target speed, one-hot skill]."""
    xp = array_namespace(target_speed)
    skills = xp.arange(num_skills, dtype=xp.int32, device=device(target_speed))
    one_hot = xp.astype(skill_index[..., None] == skills, target_speed.dtype)
    return xp.concat([target_speed[..., None], one_hot], axis=-1)
