"""The stride measure of a score file: period and length of one foot's strides from its touchdowns, the
same rule on the policy's episodes and on the clip, so a policy that walks like its clip strides like it."""

from __future__ import annotations

import numpy as np
import pytest

from ampbench.cards import load_card
from ampbench.motion.loader import MotionLibrary
from ampbench.pipeline import score as pipeline_score
from ampbench.robot.model import build_mj_model
from ampbench.scoring.metrics import rollout_strides, strides
from ampbench.task.humanoid import HumanoidTask
from tests.clipfactory import deepmimic_clip
from tests.scoring.test_imitation_distance import playback

DT = 0.02


def foot_down_every(period_s: float, steps: int, stance: float = 0.6) -> np.ndarray:
    """(steps,) contact of a foot on the floor for the first `stance` share of every period."""
    phase = (np.arange(steps) * DT / period_s) % 1.0
    return phase < stance


def test_period_and_length_come_from_the_touchdowns():
    contact = np.stack([foot_down_every(1.1, 500), foot_down_every(0.7, 500)])
    speed = np.stack([np.full(500, 1.2), np.full(500, 2.0)])
    period, length = strides(contact, speed, np.ones_like(contact), DT)
    np.testing.assert_allclose(period, [1.1, 0.7], atol=DT)
    np.testing.assert_allclose(length, [1.2 * 1.1, 2.0 * 0.7], rtol=0.03)


def test_touchdowns_outside_the_counted_steps_are_not_strides():
    contact = foot_down_every(1.0, 300)[None]  # touchdowns at 1, 2 s (steps 50, 100, ...)
    counted = np.zeros_like(contact)
    counted[:, 40:110] = True  # one stride (50 -> 100)
    period, length = strides(contact, np.ones((1, 300)), counted, DT)
    assert period[0] == pytest.approx(1.0) and length[0] == pytest.approx(1.0)
    counted[:, 60:110] = True
    counted[:, :60] = False  # a single touchdown
    assert np.isnan(strides(contact, np.ones((1, 300)), counted, DT)).all()


@pytest.fixture(scope="module")
def walk():
    card = load_card("benchmarks/learn_walk.yaml")
    library = MotionLibrary([deepmimic_clip("walk")], skills=["walk"])
    return card, library, HumanoidTask(card, library, build_mj_model(card.simulator, card.humanoid))


def test_the_clip_played_as_a_policy_strides_like_the_clip(walk):
    card, library, task = walk
    clip = pipeline_score.clip_strides(card, library)["walk"]
    assert 0.8 < clip["period_s"] < 1.6 and 0.8 < clip["length_m"] < 2.0, clip  # a human walk

    gait = card.evaluation.gait_pushes
    foot = task.spec.body_names.index(gait.foot)
    period, length = rollout_strides(playback(task, 100), foot, gait.contact_height, start_seconds=0.5)
    strode = np.isfinite(period)  # 2.5 s of a 1.3 s stride: a few envs see one touchdown only
    assert strode.sum() >= 0.75 * len(period) and np.array_equal(strode, np.isfinite(length))
    np.testing.assert_allclose(period[strode], clip["period_s"], atol=2 * task.dt)
    np.testing.assert_allclose(length[strode], clip["length_m"], rtol=0.05)

    standing = playback(task, 100)  # every frame the first: no touchdown
    for name in ("body_positions", "root_linear_velocity"):
        frozen = getattr(standing, name)
        frozen[:] = frozen[:, :1]
    assert np.isnan(rollout_strides(standing, foot, gait.contact_height, start_seconds=0.5)).all()
