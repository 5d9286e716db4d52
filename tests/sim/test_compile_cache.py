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


def _two_update_run(run_dir, clip_seed: int, schedule: str) -> dict:
    """Train two updates of the phase-2 smoke card; its timing entry, and how many programs the
    in-memory jit cache of the update gained (each run's env is a new pytree, so at least one)."""
    overrides = ("training.steps=1024", f"ppo.learning_rate_schedule={schedule}")
    card = load_card("benchmarks/phase2.yaml", overlays=("smoke",), overrides=overrides)
    clips = [synthetic_clip(num_frames=61, fps=30.0, loop=True, seed=clip_seed)] * 3
    env = HumanoidAmpEnv(card, MotionLibrary(clips, skills=["walk", "pace", "run"]))
    before = trainer.update_step._cache_size()
    trainer.train(env, card, seed=0, run_dir=run_dir, resume=False)
    (start,) = json.loads((run_dir / trainer.TIMING).read_text())["starts"]
    return {**start, "update_programs": trainer.update_step._cache_size() - before}


def test_a_second_run_loads_every_program_from_the_cache_even_with_other_clips(tmp_path):
    first = _two_update_run(tmp_path / "first", clip_seed=0, schedule="adaptive_kl")
    second = _two_update_run(tmp_path / "second", clip_seed=1, schedule="adaptive_kl")  # other reset pool
    assert second["compile_cache"]["compiled"] == 0
    assert second["compile_cache"]["loaded"] >= 2  # the env reset and the training update
    assert second["updates"] == 2 and second["first_update_seconds"] > 0
    # One update program per run: the adaptive-KL state once made the second update compile it again
    # (uncommitted arrays in the fresh state, committed ones after an update).
    assert first["update_programs"] == second["update_programs"] == 1
