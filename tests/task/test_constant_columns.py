"""`amp.constant_feature_std`: AMP columns the clips never move are found, named and weighted 0, so the
discriminator cannot tell policy from clip by them (the DeepMimic walk's neck is held still)."""

from __future__ import annotations

import numpy as np

from ampbench.cards import load_card
from ampbench.motion.loader import MotionLibrary
from ampbench.robot.model import build_mj_model
from ampbench.task.features import constant_columns
from ampbench.task.humanoid import HumanoidTask
from tests.clipfactory import deepmimic_clip


def test_constant_columns_are_those_below_the_std_threshold():
    rows = np.array([[0.0, 1.0, 5.0], [0.1, 1.0, 5.0 + 1e-9], [0.2, 1.0, 5.0]])
    assert constant_columns(rows, 1e-6).tolist() == [False, True, True]
    assert not constant_columns(rows, 0.0).any()


def test_the_walk_clips_still_neck_is_masked_and_named():
    card = load_card("benchmarks/learn_walk.yaml")
    library = MotionLibrary([deepmimic_clip("walk")], skills=["walk"])
    model = build_mj_model(card.simulator, card.humanoid)
    task = HumanoidTask(card, library, model)
    neck = [name for name in task.amp_column_names if "neck" in name]
    assert len(neck) == 12 and set(neck) <= set(task.constant_amp_columns)
    masked = np.asarray(task.amp_column_names)[task.amp_feature_weights == 0]
    assert set(masked) == set(task.constant_amp_columns)

    unmasked = card.model_copy(update={"amp": card.amp.model_copy(update={"constant_feature_std": 0.0})})
    task = HumanoidTask(unmasked, library, model)
    assert task.constant_amp_columns == () and np.all(task.amp_feature_weights > 0)
