"""Speed of the Isaac Lab env and of training on it (pytest-benchmark), in the isaaclab venv.

Run: `pytest tests/bench/test_isaaclab_speed.py --benchmark-enable -m bench -s` (not part of CI).
`test_isaaclab_env_step` times one control step (the card's substeps of physics plus the task:
features, rewards, pushes, termination, auto-reset) for all envs; `test_isaaclab_training_update`
times whole training updates of the phase-2 smoke card (rollout of every env, discriminator and PPO
updates) with the project's trainer and with skrl's AMP, the first two updates (JAX compilation,
skrl's and Warp's warm-up) left out. Both record `env_steps_per_s` in extra_info. One env is built per size
(Isaac Lab runs one simulation per process at a time).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("isaaclab", reason="the isaaclab benchmarks need the isaaclab venv (.[isaaclab])")
from ampbench.cards import load_card
from ampbench.learning import loop, skrl_amp, update
from ampbench.motion.loader import MotionLibrary
from ampbench.sim.isaaclab.env import IsaacLabHumanoidEnv
from tests.clipfactory import synthetic_clip

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


WARM_UP_UPDATES = 2  # JAX compiles in the first; skrl's first run in a process warms up into its second
TIMED_UPDATES = 3


def _smoke_card(envs: int, updates: int, trainer_name: str):
    card = load_card("benchmarks/phase2.yaml", overlays=("smoke",), overrides=(f"trainer={trainer_name}",))
    steps = envs * card.ppo.rollout_steps * updates
    return card.model_copy(
        update={"training": card.training.model_copy(update={"envs": envs, "steps": steps})}
    )


def _update_seconds_project(env, card) -> list[float]:
    state = update.init_train_state(env, card, seed=0)
    rollouts = loop.rollouts_for([env], card, [0])
    references = [loop.draw_references(env, card, 0, 0)]
    imitations = [loop.imitation_reference_for(env, card, 0)]
    ends = [time.perf_counter()]
    for index in range(WARM_UP_UPDATES + TIMED_UPDATES):
        state, _, references = loop.run_update(
            [env], card, [0], index, state, rollouts, references, imitations
        )
        ends.append(time.perf_counter())
    return list(np.diff(ends))


def _update_seconds_skrl(env, card, run_dir) -> list[float]:
    """skrl's runner for the card, the end of each of its updates timed (its agent's `_update`)."""
    from isaaclab_rl.skrl import SkrlVecEnvWrapper
    from skrl.utils.runner.torch import Runner

    env.direct.begin(0, None)
    runner = Runner(
        SkrlVecEnvWrapper(env.direct, ml_framework="torch"), skrl_amp.runner_cfg(card, run_dir, 0)
    )
    agent_update, ends = runner.agent.update, [time.perf_counter()]

    def timed_update(*args, **kwargs):
        agent_update(*args, **kwargs)
        ends.append(time.perf_counter())

    runner.agent.update = timed_update
    runner.run()
    return list(np.diff(ends))


@pytest.mark.parametrize("envs", SIZES)
@pytest.mark.parametrize("trainer_name", ["ampbench", "skrl"])
def test_isaaclab_training_update(benchmark, envs, trainer_name, tmp_path):
    card = _smoke_card(envs, WARM_UP_UPDATES + TIMED_UPDATES, trainer_name)
    library = MotionLibrary([synthetic_clip(num_frames=61, fps=30.0, loop=True)], skills=["walk"])
    env = IsaacLabHumanoidEnv(card, library, envs=envs, training=True)
    try:
        if trainer_name == "skrl":
            seconds = _update_seconds_skrl(env, card, tmp_path)
        else:
            seconds = _update_seconds_project(env, card)
    finally:
        env.close()
    assert len(seconds) == WARM_UP_UPDATES + TIMED_UPDATES, seconds
    timed = seconds[WARM_UP_UPDATES:]
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)  # the figures are the timed updates above
    per_update = envs * card.ppo.rollout_steps
    rate = per_update / float(np.mean(timed))
    benchmark.extra_info.update(
        {"envs": envs, "trainer": trainer_name, "warm_up_s": seconds[:WARM_UP_UPDATES], "update_s": timed}
    )
    benchmark.extra_info["env_steps_per_s"] = rate
    print(f"isaaclab {trainer_name} {envs} envs: {rate:.0f} env-steps/s (warm-up updates {seconds[:2]} s)")
