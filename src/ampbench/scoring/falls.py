"""The one fall rule every score uses, on every card and every backend, computed from body poses.

Training termination is a card setting (a recovery card may let the robot lie on the floor); scoring
is not: a published "stayed up" must mean the same in every row of a table. The rule reads only body
origin heights of the recorded `Rollout` (no contacts, no geoms), so any simulator that records the
project's bodies is judged identically, and its thresholds sit well clear of the poses of the
locomotion clips (lowest pelvis 0.77 m, head 1.17 m, hand 0.76 m over walk, jog and run), so a
centimetre of simulator difference cannot flip a verdict.

Down at a step: the pelvis origin below 0.5 m, the head origin below 0.8 m, a hand origin below 0.1 m
(the hand sphere within 6 cm of the floor), or the physics step not finite. An episode falls at its
first down step after it has been up; an episode that starts down (a get-up clip's lying pose) is judged
from the step it first stands, and one that never stands falls at step 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np


@dataclass(frozen=True)
class FallRule:
    """Down when any listed body's origin is below its height (m, world z); versioned for score files."""

    version: int
    below: Mapping[str, float]

    def down(self, body_positions: np.ndarray, body_names: Sequence[str], finite: np.ndarray) -> np.ndarray:
        """(envs, steps) bool from body positions (envs, steps, bodies, 3) and finite (envs, steps)."""
        missing = [name for name in self.below if name not in body_names]
        if missing:
            raise ValueError(
                f"fall rule v{self.version} needs bodies {missing}, the rollout records {list(body_names)}"
            )
        heights = np.asarray(body_positions)[..., 2]
        down = ~np.asarray(finite, dtype=bool)
        for name, height in self.below.items():
            down = down | ~(heights[..., list(body_names).index(name)] >= height)  # NaN counts as down
        return down

    def describe(self) -> dict[str, Any]:
        """What a score file records of the rule."""
        return {
            "version": self.version,
            "down_below_m": dict(self.below),
            "text": (
                "down at a step when a listed body origin is below its height or physics was not finite; "
                "an episode falls at its first down step after it has been up (never up: step 0)"
            ),
        }


FALL_RULE = FallRule(
    version=1,
    below=MappingProxyType({"pelvis": 0.5, "head": 0.8, "left_hand": 0.1, "right_hand": 0.1}),
)


def first_up_steps(down: np.ndarray) -> np.ndarray:
    """Per env (envs,): the first step the robot is up; the step count if it never is."""
    up = ~np.asarray(down, dtype=bool)
    return np.where(up.any(axis=1), up.argmax(axis=1), up.shape[1])


def fall_steps(down: np.ndarray) -> np.ndarray:
    """Per env (envs,): the first down step after the first up step; 0 if never up; -1 if it never fell."""
    down = np.asarray(down, dtype=bool)
    steps = down.shape[1]
    first_up = first_up_steps(down)
    after_up = down & (np.arange(steps)[None, :] > first_up[:, None])
    fell_after = after_up.any(axis=1)
    return np.where(first_up == steps, 0, np.where(fell_after, after_up.argmax(axis=1), -1))


# The rule applied to a recorded `ampbench.sim.records.Rollout` (envs, steps, ...): simulators record
# poses, and only scoring decides what a fall is.


def down_of(rollout) -> np.ndarray:
    """(envs, steps) True where the fall rule finds the robot down."""
    return FALL_RULE.down(rollout.body_positions, rollout.body_names, rollout.finite)


def first_up_step_of(rollout) -> np.ndarray:
    """(envs,) the first step the robot is up (`steps` if never: a get-up reset that stayed down)."""
    return first_up_steps(down_of(rollout))


def fall_step_of(rollout) -> np.ndarray:
    """(envs,) the step at which each env fell, -1 where it reached the time limit."""
    return fall_steps(down_of(rollout))


def alive_of(rollout) -> np.ndarray:
    """(envs, steps) True up to and including the fall step."""
    fall = fall_step_of(rollout)
    last = np.where(fall >= 0, fall, rollout.steps)
    return np.arange(rollout.steps)[None, :] <= last[:, None]


def episode_seconds_of(rollout) -> np.ndarray:
    """(envs,) time each env stayed up (s); the time limit where it never fell."""
    fall = fall_step_of(rollout)
    return np.where(fall >= 0, fall + 1, rollout.steps) * rollout.dt
