"""Torque features without a noise tell: a discriminator cannot tell a policy's own training rollouts from
clips recorded from that policy with its training noise, but separates a deterministic recording of it
(white noise alone gives that away) and clips of a different policy.

The robot is welded at the pelvis so that nothing falls and every frame counts; two random policies with
different fixed posture offsets stand in for trained ones.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ampbench.cards import load_card
from ampbench.learning import normalizer, update
from ampbench.learning.amp import amp_init, discriminator_input, discriminator_step
from ampbench.learning.networks import discriminator_logits, policy_distribution
from ampbench.motion.loader import MotionLibrary
from ampbench.pipeline.collect import ACTION_NOISE, rollout_clip
from ampbench.sim.mjx.env import MjxHumanoidEnv
from ampbench.sim.mjx.rollout import Evaluator
from ampbench.sim.records import EvalScenario
from tests.clipfactory import synthetic_clip

ENVS, SKIP_STEPS, KEPT_STEPS = 16, 50, 150  # 1 s left out after reset, 3 s kept, at 50 Hz
CHANCE_LIMIT = 0.6  # measured 0.54 for the same policy recorded with its training noise


@pytest.fixture(scope="module")
def card():
    return load_card(
        "benchmarks/torque_dof.yaml",
        overlays=("smoke",),
        overrides=("training.envs=16", "ppo.rollout_steps=4"),
    )


def policy_params(card, env, offset_seed: int) -> dict:
    """A random policy network whose action mean carries a fixed posture offset in [-0.3, 0.3]."""
    state = update.init_train_state(env, card, seed=0)
    params = state.actor_critic["policy"]
    offset = np.random.default_rng(offset_seed).uniform(-0.3, 0.3, env.action_size)
    params["params"]["torso"]["mean"]["bias"] = jnp.asarray(offset, jnp.float32)
    return params


def player(card, params, stats):
    def mean(obs):
        return policy_distribution(
            params, card.ppo, normalizer.normalize(stats, obs, card.ppo.observation_clip)
        )

    def deterministic(obs):
        return jnp.clip(mean(obs)[0], -1.0, 1.0)

    def noisy(obs, key):
        mu, log_std = mean(obs)
        return jnp.clip(mu + jnp.exp(log_std) * jax.random.normal(key, mu.shape), -1.0, 1.0)

    return deterministic, noisy


def training_amp_observations(card, env, params) -> np.ndarray:
    """AMP observations of the trainer's own rollout (its Gaussian actions), after the first second."""
    state = update.init_train_state(env, card, seed=0)
    state = state.replace(actor_critic={**state.actor_critic, "policy": params})
    carry = update.reset_envs(env, ENVS, jax.random.key(3))
    ppo = card.ppo.model_copy(update={"rollout_steps": SKIP_STEPS + KEPT_STEPS})
    _, transitions = jax.jit(update.rollout, static_argnums=(0, 1))(env, ppo, state, carry, jax.random.key(4))
    return np.asarray(transitions.amp_obs[SKIP_STEPS:])  # (T, E, A)


def recorded_clips(env, deterministic, noisy, *, action_noise: bool, seed: int):
    scenario = EvalScenario(
        "record",
        seed=seed,
        envs=ENVS,
        episode_seconds=(SKIP_STEPS + KEPT_STEPS) * env.dt,
        weld_root=True,
        action_noise=action_noise,
    )
    rollout = Evaluator(env, deterministic, noisy).run(scenario)
    frames = slice(SKIP_STEPS, SKIP_STEPS + KEPT_STEPS)
    return [rollout_clip(rollout, i, frames, f"env {i}", ACTION_NOISE[action_noise]) for i in range(ENVS)]


def reference_features(card, clips, n: int) -> np.ndarray:
    """n reference observations from `clips`, drawn as the trainer draws them."""
    library = MotionLibrary(clips, skills=[card.mocap.clips[0].skill] * len(clips))
    reference_card = card.model_copy(
        update={"amp": card.amp.model_copy(update={"reference_torques": clips[0].action_noise})}
    )
    env = MjxHumanoidEnv(reference_card, library, training=True, weld_root=True)
    return env.reference_amp_observations(np.random.default_rng(5), n)


def held_out_accuracy(card, policy_obs: np.ndarray, clips: list) -> float:
    """Train a fresh discriminator on the first half of the episodes of each side (policy rollout envs,
    recorded clips), report its accuracy on the other half: unseen episodes of both."""
    half = ENVS // 2
    size = policy_obs.shape[-1]
    policy = {"fit": policy_obs[:, :half].reshape(-1, size), "test": policy_obs[:, half:].reshape(-1, size)}
    n = len(policy["fit"])
    reference = {
        "fit": reference_features(card, clips[:half], n),
        "test": reference_features(card, clips[half:], n),
    }
    config = card.amp.model_copy(update={"learning_rate": 1e-3, "grad_penalty": 0.0})
    state = amp_init(jax.random.key(0), config, size)
    stats = normalizer.update(normalizer.init_stats(size), jnp.asarray(policy["fit"]))
    state = state.replace(amp_stats=normalizer.update(stats, jnp.asarray(reference["fit"])))
    step = jax.jit(discriminator_step, static_argnums=(3, 4))
    clip = card.ppo.observation_clip
    for _ in range(400):
        state, _ = step(state, jnp.asarray(reference["fit"]), jnp.asarray(policy["fit"]), config, clip)

    def logits(x):
        return np.asarray(
            discriminator_logits(state.discriminator, config, discriminator_input(state, x, clip))
        )

    correct = np.sum(logits(reference["test"]) > 0) + np.sum(logits(policy["test"]) < 0)
    return float(correct) / (2 * n)


@pytest.fixture(scope="module")
def accuracies(card):
    clip = dataclasses.replace(
        synthetic_clip(num_frames=61, fps=30.0, loop=True), action_noise="noisy_policy"
    )
    library = MotionLibrary([clip], skills=[card.mocap.clips[0].skill])
    train_env = MjxHumanoidEnv(card, library, training=True, weld_root=True)
    eval_env = MjxHumanoidEnv(card, library, training=False, weld_root=True)
    stats = normalizer.init_stats(train_env.observation_size)
    params_a, params_b = policy_params(card, train_env, 1), policy_params(card, train_env, 2)
    policy_obs = training_amp_observations(card, train_env, params_a)
    players = {"a": player(card, params_a, stats), "b": player(card, params_b, stats)}
    cases = (("same_noisy", "a", True), ("same_deterministic", "a", False), ("other", "b", True))
    measured = {
        name: held_out_accuracy(
            card, policy_obs, recorded_clips(eval_env, *players[who], action_noise=noise, seed=9)
        )
        for name, who, noise in cases
    }
    print(f"held-out discriminator accuracy: {measured}")
    return measured


def test_clips_recorded_with_the_training_noise_look_like_training_rollouts(accuracies):
    assert accuracies["same_noisy"] < CHANCE_LIMIT, accuracies


def test_a_deterministic_recording_is_told_apart_by_its_missing_noise(accuracies):
    assert accuracies["same_deterministic"] > 0.8, accuracies  # measured 0.91


def test_clips_of_a_different_policy_are_told_apart(accuracies):
    assert accuracies["other"] > 0.9, accuracies  # measured 1.00
