"""JAX's persistent compilation cache and the traced programs kept beside it, on for every command and
for the tests: a second run of a card loads its traced and compiled programs instead of tracing and
compiling them, because the env's arrays are program inputs."""

from __future__ import annotations

import json

import jax
import numpy as np

from ampbench.cards import load_card
from ampbench.core import program_cache
from ampbench.learning import loop, update
from ampbench.motion.loader import MotionLibrary
from ampbench.sim.mjx.env import MjxHumanoidEnv
from tests.clipfactory import synthetic_clip


def _two_update_run(run_dir, clip_seed: int, schedule: str) -> tuple[dict, update.TrainState]:
    """Train two updates of the phase-2 smoke card; its timing entry and final state."""
    overrides = ("training.steps=1024", f"ppo.learning_rate_schedule={schedule}")
    card = load_card("benchmarks/phase2.yaml", overlays=("smoke",), overrides=overrides)
    clips = [synthetic_clip(num_frames=61, fps=30.0, loop=True, seed=clip_seed)] * 3
    env = MjxHumanoidEnv(card, MotionLibrary(clips, skills=["walk", "pace", "run"]))
    result = loop.train(env, card, seed=0, run_dir=run_dir, resume=False)
    (start,) = json.loads((run_dir / loop.TIMING).read_text())["starts"]
    return start, result.state


def test_a_second_run_loads_every_program_from_the_cache_even_with_other_clips(tmp_path):
    first, first_state = _two_update_run(tmp_path / "first", clip_seed=0, schedule="adaptive_kl")
    second, _ = _two_update_run(tmp_path / "second", clip_seed=1, schedule="adaptive_kl")  # other pool
    assert second["compile_cache"]["compiled"] == 0
    assert second["compile_cache"]["loaded"] >= 2  # the env reset and the training update
    assert second["traced_programs"] == {"loaded": 2, "traced": 0}
    assert second["updates"] == 2 and second["first_update_seconds"] > 0
    # Two programs per run, the reset and one update: the adaptive-KL state once made the second update
    # compile it again (uncommitted arrays in the fresh state, committed ones after an update).
    assert sum(first["traced_programs"].values()) == 2
    # A loaded program is the traced one: the first run again, from disk, ends where the first ended.
    again, again_state = _two_update_run(tmp_path / "again", clip_seed=0, schedule="adaptive_kl")
    assert again["traced_programs"] == {"loaded": 2, "traced": 0}
    for ours, theirs in zip(jax.tree.leaves(first_state), jax.tree.leaves(again_state), strict=True):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def _update_key(card, clip_seed: int = 0) -> str:
    """The key the fused update's traced program is kept under, for the env alone as its argument."""
    clips = [synthetic_clip(num_frames=61, fps=30.0, loop=True, seed=clip_seed)] * 3
    env = MjxHumanoidEnv(card, MotionLibrary(clips, skills=["walk", "pace", "run"]))
    program = program_cache.CachedProgram(
        "update_step", lambda env: env, env_key=env.program_key, static_key=repr((card.ppo, card.amp))
    )
    leaves, in_tree = jax.tree_util.tree_flatten((env,))
    return program.key(leaves, in_tree)


def test_a_kept_program_is_found_only_by_a_run_that_would_trace_the_same_one():
    """What changes the traced program without changing any array's shape must change the key: a card
    value the env bakes in (push force), a learning setting (PPO's clip); other clips must not."""
    card = load_card("benchmarks/phase2.yaml", overlays=("smoke",))
    key = _update_key(card)
    assert _update_key(card, clip_seed=1) == key
    assert _update_key(card.model_copy(update={"description": "renamed"})) != key  # the whole card
    pushes = card.training_pushes.model_copy(update={"force": (40.0, 40.0)})
    assert _update_key(card.model_copy(update={"training_pushes": pushes})) != key
    assert _update_key(card.model_copy(update={"ppo": card.ppo.model_copy(update={"clip": 0.1})})) != key
