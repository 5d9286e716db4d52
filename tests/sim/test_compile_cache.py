"""JAX's persistent compilation cache, on for every command and for the tests: a second run of a card
loads its compiled programs instead of compiling them, because the env's arrays are program inputs."""

from __future__ import annotations

import json

import pytest

from ampbench.backends.mjx.env import HumanoidAmpEnv
from ampbench.cards import load_card
from ampbench.learning import trainer
from ampbench.motion.loader import MotionLibrary
from tests.clipfactory import synthetic_clip

pytestmark = pytest.mark.sim


def _one_update_run(run_dir, clip_seed: int) -> dict:
    card = load_card("benchmarks/phase2.yaml", overlays=("smoke",), overrides=("training.steps=512",))
    clips = [synthetic_clip(num_frames=61, fps=30.0, loop=True, seed=clip_seed)] * 3
    env = HumanoidAmpEnv(card, MotionLibrary(clips, skills=["walk", "pace", "run"]))
    trainer.train(env, card, seed=0, run_dir=run_dir, resume=False)
    (start,) = json.loads((run_dir / trainer.TIMING).read_text())["starts"]
    return start


def test_a_second_run_loads_every_program_from_the_cache_even_with_other_clips(tmp_path):
    _one_update_run(tmp_path / "first", clip_seed=0)
    second = _one_update_run(tmp_path / "second", clip_seed=1)  # other reset pool, same program
    assert second["compile_cache"]["compiled"] == 0
    assert second["compile_cache"]["loaded"] >= 2  # the env reset and the training update
    assert second["updates"] == 1 and second["first_update_seconds"] > 0
