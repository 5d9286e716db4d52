"""The task's reference AMP observations: drawn for the bodies the features read, in batches, and the
same whatever order the clips list their bodies in or however the draw is batched."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ampbench.cards import load_card
from ampbench.motion.clip import BODY_ARRAYS
from ampbench.motion.loader import MotionLibrary
from ampbench.robot.model import build_mj_model
from ampbench.task import humanoid
from ampbench.task.humanoid import HumanoidTask
from tests.clipfactory import synthetic_clip


@pytest.fixture(scope="module")
def card_and_model():
    card = load_card("benchmarks/learn_walk.yaml", overrides=("training.reset_states=64",))
    return card, build_mj_model(card.simulator, card.humanoid)


def bodies_reversed(clip):
    """The same motion with its bodies listed last to first."""
    order = np.arange(len(clip.body_names))[::-1]
    arrays = {key: getattr(clip, key)[:, order] for key in BODY_ARRAYS}
    return dataclasses.replace(clip, body_names=tuple(np.asarray(clip.body_names)[order]), **arrays)


def draw(card_and_model, clip, n: int) -> np.ndarray:
    card, model = card_and_model
    task = HumanoidTask(card, MotionLibrary([clip], skills=["walk"]), model)
    return task.reference_amp_observations(np.random.default_rng(4), n)


def test_clips_listing_bodies_in_another_order_give_the_same_observations(card_and_model):
    clip = synthetic_clip(num_frames=61, loop=True)
    np.testing.assert_array_equal(
        draw(card_and_model, bodies_reversed(clip), 300), draw(card_and_model, clip, 300)
    )


def test_batching_the_draw_does_not_change_it(card_and_model, monkeypatch):
    clip = synthetic_clip(num_frames=61, loop=True)
    whole = draw(card_and_model, clip, 300)
    monkeypatch.setattr(humanoid, "REFERENCE_DRAW_ROWS", 7)
    np.testing.assert_array_equal(draw(card_and_model, clip, 300), whole)
