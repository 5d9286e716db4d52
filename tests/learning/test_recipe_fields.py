"""Each AMP recipe field of the card reaches the update: the test of a field fails when it is ignored."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ampbench.cards import AmpConfig, LogStdAnneal, PpoConfig
from ampbench.learning import normalizer
from ampbench.learning.amp import amp_init, discriminator_loss, gradient_penalty, weight_decay
from ampbench.learning.networks import init_actor_critic
from ampbench.learning.ppo import ppo_optimizer, scheduled_log_std
from ampbench.learning.update import TrainState, Transition, learn, with_scheduled_log_std

SMALL = {"hidden": (8, 8), "replay_size": 8}


@pytest.fixture(scope="module")
def discriminator():
    params = amp_init(jax.random.key(0), AmpConfig(**SMALL), amp_observation_size=4).discriminator
    keys = jax.random.split(jax.random.key(1))
    return params, jax.random.normal(keys[0], (32, 4)), 2.0 + jax.random.normal(keys[1], (32, 4))


def loss_with(params, reference, policy, **fields) -> tuple[float, dict]:
    loss, metrics = discriminator_loss(params, reference, policy, AmpConfig(**SMALL, **fields))
    return float(loss), metrics


def test_weight_decay_adds_its_weight_times_every_kernel_squared(discriminator):
    params, reference, policy = discriminator
    kernels = [layer["kernel"] for layer in params["params"].values()]
    assert len(kernels) == 3 and float(weight_decay(params)) == pytest.approx(
        sum(float(jnp.sum(k**2)) for k in kernels), rel=1e-5
    )
    base, _ = loss_with(params, reference, policy, weight_decay=0.0)
    decayed, metrics = loss_with(params, reference, policy, weight_decay=0.01)
    assert decayed - base == pytest.approx(0.01 * float(metrics["disc/weight_decay"]), rel=1e-3)
    assert float(metrics["disc/weight_decay"]) > 0


def test_the_policy_sample_penalty_is_added_only_when_asked(discriminator):
    params, reference, policy = discriminator
    base, quiet = loss_with(params, reference, policy, grad_penalty=5.0)
    both, metrics = loss_with(
        params, reference, policy, grad_penalty=5.0, grad_penalty_samples="reference_and_policy"
    )
    expected = float(gradient_penalty(params, AmpConfig(**SMALL), policy))
    assert float(quiet["disc/grad_penalty_policy"]) == 0.0
    assert float(metrics["disc/grad_penalty_policy"]) == pytest.approx(expected, rel=1e-5)
    assert both - base == pytest.approx(5.0 * expected, rel=1e-3) and expected > 0


def test_the_log_std_schedule_is_linear_then_held_and_set_on_the_policy():
    config = PpoConfig(init_log_std=-1.0, log_std_anneal=LogStdAnneal(end=-3.0, env_steps=1000))
    assert [scheduled_log_std(config, steps) for steps in (0, 500, 1000, 5000)] == [-1.0, -2.0, -3.0, -3.0]
    assert scheduled_log_std(PpoConfig(), 500) is None
    policy = {"params": {"log_std": jnp.full((3,), -1.0), "kernel": jnp.ones((2, 3))}}
    state = TrainState({"policy": policy, "value": {}}, None, None, None, None)
    scheduled = with_scheduled_log_std(state, config, 250)
    assert np.allclose(scheduled.actor_critic["policy"]["params"]["log_std"], -1.5)
    assert scheduled.actor_critic["policy"]["params"]["kernel"] is policy["params"]["kernel"]
    assert with_scheduled_log_std(state, PpoConfig(), 250) is state


def test_a_learned_std_and_a_schedule_are_refused_together():
    with pytest.raises(ValueError, match="learn_log_std and log_std_anneal"):
        PpoConfig(learn_log_std=True, log_std_anneal=LogStdAnneal(end=-3.0, env_steps=10))


def test_the_reward_scales_weigh_task_and_style_in_what_ppo_learns_from():
    """`reward/total` and the value targets come from task_reward_scale x task + style_reward_scale x style,
    so a trainer that dropped either scale (or a style weight 0 that still paid style) fails here. With the
    values fixed the returns are linear in the reward, so the value targets are affine in the two scales."""
    horizon, envs, obs_size, action_size, amp_size = 4, 8, 3, 2, 4
    ppo = PpoConfig(hidden=(8,), rollout_steps=horizon, epochs=1, minibatches=2)
    keys = iter(jax.random.split(jax.random.key(0), 8))
    actor_critic = init_actor_critic(next(keys), ppo, obs_size, action_size)

    def normal(*shape):
        return jax.random.normal(next(keys), shape)

    zeros = jnp.zeros((horizon, envs))
    transitions = Transition(
        obs=normal(horizon, envs, obs_size),
        action=normal(horizon, envs, action_size),
        log_prob=zeros,
        reward=1.0 + normal(horizon, envs),
        done=zeros.astype(bool),
        truncated=zeros.astype(bool),
        amp_obs=normal(horizon, envs, amp_size),
        final_obs=normal(horizon, envs, obs_size),
        metrics={},
        ended_return=zeros,
        ended_length=zeros,
    )
    reference = normal(2 * horizon * envs, amp_size)

    def learned(task_scale: float, style_scale: float) -> dict:
        amp = AmpConfig(**SMALL, task_reward_scale=task_scale, style_reward_scale=style_scale)
        state = TrainState(
            actor_critic,
            ppo_optimizer(ppo).init(actor_critic),
            normalizer.init_stats(obs_size),
            normalizer.init_stats(1),
            amp_init(jax.random.key(1), amp, amp_size),
        )
        _, metrics, _ = learn(ppo, amp, state, transitions, jax.random.key(2), jax.random.key(3), reference)
        return {
            name: float(metrics[name])
            for name in ("reward/task", "reward/style", "reward/total", "ppo/value_target")
        }

    runs = {scales: learned(*scales) for scales in ((0.5, 2.0), (1.0, 0.0), (0.0, 1.0), (0.0, 0.0))}
    for (task_scale, style_scale), metrics in runs.items():
        expected = task_scale * metrics["reward/task"] + style_scale * metrics["reward/style"]
        assert metrics["reward/total"] == pytest.approx(expected, rel=1e-5, abs=1e-6)
    assert runs[(1.0, 0.0)]["reward/total"] == pytest.approx(runs[(1.0, 0.0)]["reward/task"], rel=1e-5)
    assert runs[(0.0, 1.0)]["reward/style"] > 0.01
    target = {scales: metrics["ppo/value_target"] for scales, metrics in runs.items()}
    zero = target[(0.0, 0.0)]
    task_part, style_part = target[(1.0, 0.0)] - zero, target[(0.0, 1.0)] - zero
    assert abs(task_part) > 0.1 and abs(style_part) > 0.01
    assert target[(0.5, 2.0)] - zero == pytest.approx(0.5 * task_part + 2.0 * style_part, rel=1e-3)
