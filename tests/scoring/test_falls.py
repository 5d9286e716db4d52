"""The scorer's one fall rule: body-origin heights, judged the same for every card and backend."""

from __future__ import annotations

import numpy as np
import pytest

from ampbench.scoring.falls import FALL_RULE, fall_steps
from tests.clipfactory import deepmimic_clip

NAMES = ("pelvis", "torso", "head", "left_hand", "right_hand")
STANDING = np.array([0.9, 1.1, 1.3, 0.85, 0.85])


def _poses(heights: np.ndarray) -> np.ndarray:
    """(envs, steps, bodies, 3) positions from (envs, steps, bodies) heights."""
    positions = np.zeros((*heights.shape, 3))
    positions[..., 2] = heights
    return positions


def _down(heights: np.ndarray, finite: np.ndarray | None = None) -> np.ndarray:
    finite = np.ones(heights.shape[:2], dtype=bool) if finite is None else finite
    return FALL_RULE.down(_poses(heights), NAMES, finite)


@pytest.mark.parametrize(
    ("body", "height", "down"),
    [
        ("pelvis", 0.49, True),
        ("pelvis", 0.51, False),
        ("head", 0.79, True),
        ("head", 0.81, False),
        ("left_hand", 0.09, True),
        ("right_hand", 0.09, True),
        ("right_hand", 0.11, False),
        ("torso", 0.05, False),  # not a rule body: the head and pelvis say where the torso is
    ],
)
def test_each_rule_body_has_its_height(body, height, down):
    heights = STANDING.copy()
    heights[NAMES.index(body)] = height
    assert _down(heights[None, None])[0, 0] == down


def test_non_finite_physics_and_nan_poses_count_as_down():
    heights = np.broadcast_to(STANDING, (2, 3, 5)).copy()
    heights[0, 1, 2] = np.nan
    finite = np.array([[True, True, True], [True, True, False]])
    np.testing.assert_array_equal(_down(heights, finite), [[False, True, False], [False, False, True]])


def test_falls_at_the_first_down_step_after_being_up():
    down = np.array(
        [
            [False, False, True, False],  # falls at 2, later readings do not matter
            [False, False, False, False],  # never falls
            [True, True, False, False],  # starts lying, stands at 2, stays up: no fall
            [True, False, True, True],  # starts lying, stands at 1, falls at 2
            [True, True, True, True],  # never stands: a failed recovery falls at 0
        ]
    )
    np.testing.assert_array_equal(fall_steps(down), [2, -1, -1, 2, 0])


def test_a_rollout_without_a_rule_body_is_refused_by_name():
    with pytest.raises(ValueError, match=r"needs bodies \['head'\].*records \['pelvis', 'left_hand'"):
        FALL_RULE.down(np.zeros((1, 1, 3, 3)), ("pelvis", "left_hand", "right_hand"), np.ones((1, 1), bool))


def test_the_rule_is_written_out_with_its_version():
    described = FALL_RULE.describe()
    assert described["version"] == 1
    assert described["down_below_m"] == {"pelvis": 0.5, "head": 0.8, "left_hand": 0.1, "right_hand": 0.1}


def _clip_down(motion) -> np.ndarray:
    return FALL_RULE.down(
        motion.body_positions[None], motion.body_names, np.ones((1, motion.num_frames), bool)
    )


@pytest.mark.parametrize(("clip", "up"), [("walk", True), ("jog", True), ("run", True), ("crawl", False)])
def test_locomotion_clips_are_up_in_every_frame_and_crawling_is_down(clip, up):
    down = _clip_down(deepmimic_clip(clip))
    assert not down.any() if up else down.all()


@pytest.mark.parametrize("clip", ["getup_faceup", "getup_facedown"])
def test_get_up_clips_start_down_and_end_up(clip):
    down = _clip_down(deepmimic_clip(clip))
    assert down[0, 0] and not down[0, -1]
    assert fall_steps(down)[0] == -1
