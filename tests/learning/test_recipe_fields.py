"""Each AMP recipe field of the card reaches the update: the test of a field fails when it is ignored."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ampbench.cards import AmpConfig, LogStdAnneal, PpoConfig
from ampbench.learning.amp import amp_init, discriminator_loss, gradient_penalty, weight_decay
from ampbench.learning.ppo import scheduled_log_std
from ampbench.learning.update import TrainState, with_scheduled_log_std

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
