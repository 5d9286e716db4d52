"""PPO pieces against numbers worked out by hand: GAE with a fall and a time limit, the clipped loss."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ampbench.cards import PpoConfig
from ampbench.learning.networks import gaussian_log_prob, init_actor_critic
from ampbench.learning.ppo import (
    PpoBatch,
    adapted_learning_rate,
    compute_gae,
    ppo_loss,
    ppo_optimizer,
    ppo_update,
    shuffled_minibatches,
)

LOG_2PI = math.log(2 * math.pi)


def gae_example(bootstrap_at_fall: float):
    """Env 0: step 1 is a fall (terminal), step 2 hits the time limit. Env 1: no episode ends."""
    rewards = jnp.array([[1.0, 1.0], [2.0, 1.0], [3.0, 1.0]])
    values = jnp.array([[0.5, 0.0], [1.0, 0.0], [1.5, 0.0]])
    dones = jnp.array([[0.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    truncations = jnp.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    bootstrap = jnp.array([[1.0, 0.0], [bootstrap_at_fall, 0.0], [2.0, 10.0]])
    return compute_gae(rewards, values, dones, truncations, bootstrap, gamma=0.9, lam=0.8)


def test_gae_by_hand_with_a_fall_and_a_time_limit():
    advantages, returns = gae_example(bootstrap_at_fall=9.0)
    # env 0, gamma 0.9, gamma*lambda 0.72:
    #   t=2 truncated: 3 + 0.9 * 2.0 - 1.5 = 3.3 (bootstraps from V(final_obs))
    #   t=1 terminal:  2 + 0 - 1.0 = 1.0 (ignores its bootstrap value 9, does not look past the end)
    #   t=0:           1 + 0.9 * 1.0 - 0.5 + 0.72 * 1.0 = 2.12
    # env 1, no end: deltas 1, 1, 1 + 0.9 * 10 = 10 -> 10, 1 + 7.2 = 8.2, 1 + 0.72 * 8.2 = 6.904
    np.testing.assert_allclose(advantages, [[2.12, 6.904], [1.0, 8.2], [3.3, 10.0]], rtol=1e-6)
    np.testing.assert_allclose(returns, [[2.62, 6.904], [2.0, 8.2], [4.8, 10.0]], rtol=1e-6)


def test_gae_ignores_a_nan_value_after_a_fall():
    advantages, _ = gae_example(bootstrap_at_fall=float("nan"))
    np.testing.assert_allclose(advantages[:, 0], [2.12, 1.0, 3.3], rtol=1e-6)


CONFIG = PpoConfig(
    clip=0.2, value_coef=0.5, entropy=0.01, hidden=(4,), init_log_std=0.0, learn_log_std=True, bounds_loss=0.0
)


def constant_params(value: float) -> dict:
    """Policy mean 0 and log std 0 for every observation; value `value` for every observation."""
    params = init_actor_critic(jax.random.key(0), CONFIG, observation_size=2, action_size=1)
    params = jax.tree_util.tree_map(jnp.zeros_like, params)
    params["value"]["params"]["value"]["bias"] = jnp.array([value])
    return params


def batch_with_ratios(ratios, advantages, returns) -> PpoBatch:
    n = len(ratios)
    actions = jnp.full((n, 1), 0.5)
    new_log_prob = -0.5 * 0.5**2 - 0.5 * LOG_2PI  # N(0, 1) density at 0.5
    np.testing.assert_allclose(
        gaussian_log_prob(jnp.zeros(1), jnp.zeros(1), actions[0]), new_log_prob, rtol=1e-6
    )
    return PpoBatch(
        obs=jnp.ones((n, 2)),
        actions=actions,
        log_probs=new_log_prob - jnp.log(jnp.array(ratios)),
        advantages=jnp.array(advantages),
        returns=jnp.array(returns),
    )


def test_clipped_loss_by_hand():
    batch = batch_with_ratios(ratios=[1.5, 0.5], advantages=[2.0, -1.0], returns=[3.0, 0.0])
    loss, metrics = ppo_loss(constant_params(1.0), batch, CONFIG)
    # surrogate: min(1.5 * 2, 1.2 * 2) = 2.4 and min(0.5 * -1, 0.8 * -1) = -0.8 -> policy loss -0.8
    # value: ((1 - 3)^2 + (1 - 0)^2) / 2 = 2.5; entropy of N(0, 1): (log 2pi + 1) / 2
    entropy = 0.5 * (LOG_2PI + 1.0)
    np.testing.assert_allclose(metrics["ppo/policy_loss"], -0.8, rtol=1e-6)
    np.testing.assert_allclose(metrics["ppo/value_loss"], 2.5, rtol=1e-6)
    np.testing.assert_allclose(metrics["ppo/entropy"], entropy, rtol=1e-6)
    np.testing.assert_allclose(loss, -0.8 + 0.5 * 2.5 - 0.01 * entropy, rtol=1e-6)
    kl = ((0.5 - math.log(1.5)) + (-0.5 - math.log(0.5))) / 2
    np.testing.assert_allclose(metrics["ppo/approx_kl"], kl, rtol=1e-5)
    assert float(metrics["ppo/clip_fraction"]) == 1.0


def mean_and_log_std_grads(ratios, advantages):
    batch = batch_with_ratios(ratios, advantages, returns=[1.0] * len(ratios))
    grads, _ = jax.grad(ppo_loss, has_aux=True)(constant_params(1.0), batch, CONFIG)
    policy = grads["policy"]["params"]
    return float(policy["torso"]["mean"]["bias"][0]), float(policy["log_std"][0])


def test_clipped_samples_give_no_policy_gradient():
    mean_grad, log_std_grad = mean_and_log_std_grads(ratios=[1.5, 0.5], advantages=[2.0, -1.0])
    assert mean_grad == 0.0
    np.testing.assert_allclose(log_std_grad, -0.01, rtol=1e-6)  # only the entropy bonus pulls


def test_a_fixed_log_std_gets_no_gradient():
    fixed = CONFIG.model_copy(update={"learn_log_std": False})
    batch = batch_with_ratios(ratios=[1.1], advantages=[2.0], returns=[1.0])
    grads, _ = jax.grad(ppo_loss, has_aux=True)(constant_params(1.0), batch, fixed)
    assert float(grads["policy"]["params"]["log_std"][0]) == 0.0


def test_bounds_loss_penalises_only_a_mean_outside_the_action_range():
    bounded = CONFIG.model_copy(update={"bounds_loss": 10.0})
    batch = batch_with_ratios(ratios=[1.0], advantages=[0.0], returns=[1.0])
    for bias, expected in ((0.9, 0.0), (-1.5, 0.25), (2.0, 1.0)):
        params = constant_params(1.0)
        params["policy"]["params"]["torso"]["mean"]["bias"] = jnp.array([bias])
        _, plain = ppo_loss(params, batch, CONFIG)
        loss, metrics = ppo_loss(params, batch, bounded)
        np.testing.assert_allclose(metrics["ppo/bounds_loss"], expected, rtol=1e-6)
        np.testing.assert_allclose(loss - plain["ppo/loss"], 10.0 * expected, rtol=1e-5, atol=1e-6)


def test_unclipped_sample_gradient_by_hand():
    # d/dm of -(ratio * A) with d log pi / dm = (a - m) / sigma^2 = 0.5: -(1.1 * 2 * 0.5) = -1.1
    mean_grad, _ = mean_and_log_std_grads(ratios=[1.1], advantages=[2.0])
    np.testing.assert_allclose(mean_grad, -1.1, rtol=1e-5)


def random_batch(n: int, key: jax.Array) -> PpoBatch:
    keys = jax.random.split(key, 4)
    return PpoBatch(
        obs=jax.random.normal(keys[0], (n, 2)),
        actions=jax.random.normal(keys[1], (n, 1)),
        log_probs=jnp.full((n,), -1.5),
        advantages=jax.random.normal(keys[2], (n,)),
        returns=jax.random.normal(keys[3], (n,)),
    )


def test_update_takes_epochs_times_minibatches_steps_and_lowers_the_loss():
    config = PpoConfig(epochs=3, minibatches=4, hidden=(8,), learning_rate=1e-2)
    params = init_actor_critic(jax.random.key(1), config, observation_size=2, action_size=1)
    batch = random_batch(32, jax.random.key(2))
    opt_state = ppo_optimizer(config).init(params)
    new_params, opt_state, metrics = ppo_update(params, opt_state, batch, jax.random.key(3), config)
    assert int(opt_state[1].count) == 12
    normalised = batch.replace(
        advantages=(batch.advantages - batch.advantages.mean()) / batch.advantages.std()
    )
    before, _ = ppo_loss(params, normalised, config)
    after, _ = ppo_loss(new_params, normalised, config)
    assert float(after) < float(before)
    assert set(metrics) >= {"ppo/policy_loss", "ppo/value_loss", "ppo/approx_kl", "ppo/grad_norm"}


def test_minibatches_are_a_permutation_of_the_batch():
    data = jnp.arange(12.0)
    split = shuffled_minibatches(jax.random.key(0), data, 3)
    assert split.shape == (3, 4)
    np.testing.assert_array_equal(np.sort(np.asarray(split).ravel()), np.arange(12.0))


def test_uneven_minibatches_name_the_card_fields():
    with pytest.raises(ValueError, match=r"10 samples .* ppo.minibatches = 4"):
        shuffled_minibatches(jax.random.key(0), jnp.zeros(10), 4)


def test_adaptive_learning_rate_follows_the_kl_rule():
    adaptive = CONFIG.model_copy(
        update={
            "learning_rate_schedule": "adaptive_kl",
            "desired_kl": 0.01,
            "learning_rate_range": (1e-5, 1e-3),
        }
    )
    rate = jnp.asarray(3e-4)
    np.testing.assert_allclose(adapted_learning_rate(rate, jnp.asarray(0.05), adaptive), 2e-4, rtol=1e-6)
    np.testing.assert_allclose(adapted_learning_rate(rate, jnp.asarray(0.001), adaptive), 4.5e-4, rtol=1e-6)
    np.testing.assert_allclose(adapted_learning_rate(rate, jnp.asarray(0.01), adaptive), 3e-4, rtol=1e-6)
    np.testing.assert_allclose(adapted_learning_rate(jnp.asarray(9e-4), jnp.asarray(0.0), adaptive), 1e-3)
    np.testing.assert_allclose(adapted_learning_rate(jnp.asarray(1.2e-5), jnp.asarray(1.0), adaptive), 1e-5)
    assert float(adapted_learning_rate(rate, jnp.asarray(1.0), CONFIG)) == pytest.approx(3e-4)


def test_the_adapted_rate_is_the_one_the_optimizer_uses():
    adaptive = CONFIG.model_copy(update={"learning_rate_schedule": "adaptive_kl", "desired_kl": 1e-9})
    params = constant_params(1.0)
    optimizer = ppo_optimizer(adaptive)
    batch = batch_with_ratios(
        ratios=[1.1, 0.9, 1.05, 0.95], advantages=[2.0, -1.0, 1.0, 0.5], returns=[1.0] * 4
    )
    _, opt_state, metrics = ppo_update(params, optimizer.init(params), batch, jax.random.key(0), adaptive)
    steps = adaptive.epochs * adaptive.minibatches
    expected = adaptive.learning_rate / 1.5**steps  # every step's KL is above 2 x 1e-9
    assert float(opt_state[1].hyperparams["learning_rate"]) == pytest.approx(max(expected, 1e-5), rel=1e-5)
    assert float(metrics["ppo/learning_rate"]) > float(opt_state[1].hyperparams["learning_rate"])
