"""Speed of the Isaac Lab env (pytest-benchmark), in the isaaclab venv.

Run: `pytest tests/bench/test_isaaclab_speed.py --benchmark-enable -m bench` (not part of CI). Each
benchmark times one control step (the card's substeps of physics plus the task: features, rewards,
pushes, termination, auto-reset) for all envs and records `env_steps_per_s` in extra_info. One env is
built per size (Isaac Lab runs one simulation per process at a time).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("isaaclab", reason="the isaaclab benchmarks need the isaaclab venv (.[isaaclab])")
from ampbench.backends.isaaclab.env import IsaacLabHumanoidEnv
from ampbench.cards import load_card
from ampbench.motion.loader import MotionLibrary
from tests.clipfactory import synthetic_clip

pytestmark = pytest.mark.bench
SIZES = (16, 64, 256)


@pytest.mark.parametrize("envs", SIZES)
def test_isaaclab_env_step(benchmark, envs):
    card = load_card("benchmarks/phase2.yaml")
    library = MotionLibrary([synthetic_clip(num_frames=61, fps=30.0, loop=True)], skills=["walk"])
    env = IsaacLabHumanoidEnv(card, library, envs=envs, training=True)
    try:
        env.reset(0)
        actions = np.random.default_rng(0).uniform(-0.5, 0.5, (envs, env.action_size)).astype(np.float32)
        benchmark.pedantic(lambda: env.step(actions), rounds=10, iterations=1, warmup_rounds=2)
    finally:
        env.close()
    benchmark.extra_info.update({"envs": envs, "what": "ampbench Isaac Lab env step"})
    benchmark.extra_info["env_steps_per_s"] = envs / benchmark.stats.stats.mean
