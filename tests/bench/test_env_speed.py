"""Speed of the MJX env against bare `mjx.step` and MuJoCo C on the same model (pytest-benchmark).

Run: `pytest tests/bench --benchmark-enable -m bench` (not part of CI: each size compiles for about a
minute on 2 cores). Each benchmark times one control step (the card's substeps of physics) for all envs
and records `env_steps_per_s` in extra_info. The env's cost over bare physics is the wrapper overhead:
features, rewards, pushes, termination and auto-reset.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from mujoco import mjx
from mujoco import rollout as mj_rollout

from ampbench.cards import load_card
from ampbench.motion.loader import MotionLibrary
from ampbench.robot.model import build_mj_model
from ampbench.sim.mjx.env import MjxHumanoidEnv
from tests.clipfactory import synthetic_clip

SIZES = (1, 256, 1024)


@pytest.fixture(scope="module")
def card():
    return load_card("benchmarks/phase2.yaml")


@pytest.fixture(scope="module")
def env(card):
    skills = [band.skill for band in card.commands.bands]
    library = MotionLibrary([synthetic_clip(num_frames=61, fps=30.0, loop=True)] * len(skills), skills=skills)
    return MjxHumanoidEnv(card, library)


def _record(benchmark, envs: int, what: str, card) -> None:
    benchmark.extra_info.update(
        {"envs": envs, "what": what, "substeps": card.simulator.substeps, "contacts": card.simulator.contacts}
    )
    benchmark.extra_info["env_steps_per_s"] = envs / benchmark.stats.stats.mean


def _block(tree):
    return jax.block_until_ready(tree)


@pytest.mark.parametrize("envs", SIZES)
def test_env_step(benchmark, env, card, envs):
    state = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), envs))
    step = jax.jit(jax.vmap(env.step))
    action = jnp.zeros((envs, env.action_size))
    state = _block(step(state, action))
    benchmark.pedantic(lambda: _block(step(state, action)), rounds=5, iterations=1, warmup_rounds=1)
    _record(benchmark, envs, "ampbench env step", card)


@pytest.mark.parametrize("envs", SIZES)
def test_bare_mjx_physics(benchmark, env, card, envs):
    """The same substeps of `mjx.step` with nothing around them: the floor the env is measured against."""
    substeps = card.simulator.substeps

    def control_step(data):
        return jax.lax.scan(lambda d, _: (mjx.step(env.sys, d), None), data, None, length=substeps)[0]

    state = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), envs))
    step = jax.jit(jax.vmap(control_step))
    data = _block(step(state.data))
    benchmark.pedantic(lambda: _block(step(data)), rounds=5, iterations=1, warmup_rounds=1)
    _record(benchmark, envs, "bare mjx.step", card)


@pytest.mark.parametrize("envs", SIZES)
def test_mujoco_c_rollout(benchmark, card, envs):
    """MuJoCo C on 2 threads (`mujoco.rollout`), same model and options, zero torques."""
    model = build_mj_model(card.simulator, card.humanoid)
    datas = [mujoco.MjData(model) for _ in range(2)]
    state = np.zeros(mujoco.mj_stateSize(model, mujoco.mjtState.mjSTATE_FULLPHYSICS))
    mujoco.mj_getState(model, datas[0], state, mujoco.mjtState.mjSTATE_FULLPHYSICS)
    initial = np.tile(state, (envs, 1))
    control = np.zeros((envs, card.simulator.substeps, model.nu))
    benchmark.pedantic(
        lambda: mj_rollout.rollout(model, datas, initial, control), rounds=5, iterations=1, warmup_rounds=1
    )
    _record(benchmark, envs, "MuJoCo C rollout (2 threads)", card)
