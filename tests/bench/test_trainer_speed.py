"""Training speed of the one trainer on MJX (fused update) and on MuJoCo C (host loop), pytest-benchmark.

Run: `pytest tests/bench/test_trainer_speed.py --benchmark-enable -m bench` (not part of CI: MJX compiles
for minutes at each size on 2 cores). Each benchmark times one whole training update of a card (rollout
of every env, discriminator and PPO updates, reference draws) at 256 and 1024 envs and records
`env_steps_per_s` and `simulated_s_per_wall_s` in extra_info; compare within one run, since this machine
is shared. Cards: phase2 with its own physics (5 ms x 4 substeps, the `sparse` contacts), phase2 with a
peer's physics preset (2 ms x 5 substeps, feet-only contacts: less simulated time per step, fewer
contacts) and learn_walk (feet-only contacts, [256, 128] networks, whose learning step is a smaller
share of an update). `test_env_speed.py` times the env step, bare `mjx.step` and MuJoCo C beside it.
"""

from __future__ import annotations

import time

import pytest

from ampbench.cards import load_card
from ampbench.learning import loop, update
from ampbench.motion.loader import MotionLibrary
from ampbench.sim.mjx.env import MjxHumanoidEnv
from ampbench.sim.mujoco.env import MujocoHumanoidEnv
from tests.clipfactory import synthetic_clip

SIZES = (256, 1024)
PHYSICS = {
    "card": (),
    "2ms_x5_feet": ("simulator.timestep=0.002", "simulator.substeps=5", "simulator.contacts=feet"),
}
CARDS = (("phase2", "card"), ("phase2", "2ms_x5_feet"), ("learn_walk", "card"))


def _card(name: str, physics: str, envs: int):
    return load_card(f"benchmarks/{name}.yaml", overrides=(f"training.envs={envs}", *PHYSICS[physics]))


def _env(backend: str, card):
    skills = [band.skill for band in card.commands.bands]
    library = MotionLibrary([synthetic_clip(num_frames=61, fps=30.0, loop=True)] * len(skills), skills=skills)
    if backend == "mjx":
        return MjxHumanoidEnv(card, library)
    return MujocoHumanoidEnv(card, library, envs=card.training.envs)


@pytest.mark.parametrize("envs", SIZES)
@pytest.mark.parametrize("backend", ["mjx", "mujoco"])
@pytest.mark.parametrize(("card_name", "physics"), CARDS)
def test_training_update(benchmark, card_name, physics, backend, envs):
    card = _card(card_name, physics, envs)
    env = _env(backend, card)
    state = update.init_train_state(env, card, seed=0)
    rollouts = loop.rollouts_for([env], card, [0])
    per_update = envs * card.ppo.rollout_steps
    indices = iter(range(10**6))
    references = [loop.draw_references(env, card, 0, 0)]
    imitations = [loop.imitation_reference_for(env, card, 0)]

    def one_update():
        nonlocal state, references
        state, _, references = loop.run_update(
            [env], card, [0], next(indices), state, rollouts, references, imitations
        )

    started = time.perf_counter()
    one_update()  # compiles
    compile_seconds = time.perf_counter() - started
    benchmark.pedantic(one_update, rounds=3, iterations=1, warmup_rounds=1)
    seconds = benchmark.stats.stats.mean
    benchmark.extra_info.update(
        {
            "card": card_name,
            "physics": physics,
            "backend": backend,
            "envs": envs,
            "env_steps_per_s": per_update / seconds,
            "simulated_s_per_wall_s": per_update * card.simulator.control_dt / seconds,
            "first_update_s": compile_seconds,
            "contacts": card.simulator.contacts,
            "substeps": card.simulator.substeps,
        }
    )
