"""PPO for the MJX trainer: GAE with correct time-limit bootstrapping, the clipped loss, the minibatch update.

Arrays from a rollout are time-major, shape (T, E). Episodes end in two ways that GAE must tell apart:
a terminal step (a fall) has no future, so nothing is bootstrapped; a truncated step (the time limit)
would have continued, so its target bootstraps from the value of the observation the env reached before
auto-resetting (`EnvState.final_obs`). Either way the advantage recursion stops at the episode's end.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import struct

from ampbench.cards import PpoConfig
from ampbench.learning.networks import (
    gaussian_entropy,
    gaussian_log_prob,
    policy_distribution,
    state_value,
)

ACTION_LIMIT = 1.0
"""Actions reach the env clipped to [-ACTION_LIMIT, ACTION_LIMIT]: the env's contract, not a tunable."""


@struct.dataclass
class PpoBatch:
    """Flat samples, shape (N, ...): observations already normalised as the rollout saw them."""

    obs: jax.Array
    actions: jax.Array
    log_probs: jax.Array
    advantages: jax.Array
    returns: jax.Array


def compute_gae(
    rewards: jax.Array,
    values: jax.Array,
    dones: jax.Array,
    truncations: jax.Array,
    bootstrap_value: jax.Array,
    gamma: float,
    lam: float,
) -> tuple[jax.Array, jax.Array]:
    """(advantages, value targets), all (T, E).

    `values[t]` is V(obs_t), the state the action of step t was taken in. `bootstrap_value[t]` is
    V(s'_t), the value of the observation step t ended in before any auto-reset (for t < T-1 and no
    episode end it equals `values[t + 1]`). It is used unless the step was terminal (done and not
    truncated). `dones` is 1 at every episode end, `truncations` 1 where the end was the time limit.
    """
    dones = dones.astype(rewards.dtype)
    terminal = (dones > 0) & (truncations <= 0)
    next_values = jnp.where(terminal, 0.0, bootstrap_value)  # where, not 0 x value: a fall may carry NaN
    deltas = rewards + gamma * next_values - values
    carry_weight = gamma * lam * (1.0 - dones)

    def backward(next_advantage, step):
        delta, weight = step
        advantage = delta + weight * next_advantage
        return advantage, advantage

    _, advantages = jax.lax.scan(backward, jnp.zeros_like(rewards[0]), (deltas, carry_weight), reverse=True)
    return advantages, advantages + values


def ppo_loss(params: dict, batch: PpoBatch, config: PpoConfig) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Clipped surrogate + `value_coef` x squared value error - `entropy` x policy entropy
    + `bounds_loss` x mean sum(max(|mean| - 1, 0)^2) (keeps the action mean inside the action range).

    `params` is {"policy": ..., "value": ...}. Advantages are used as given (the update normalises them);
    returns are the value network's targets (z-scored already when the card normalises values).
    """
    mean, log_std = policy_distribution(params["policy"], config, batch.obs)
    log_ratio = gaussian_log_prob(mean, log_std, batch.actions) - batch.log_probs
    ratio = jnp.exp(log_ratio)
    clipped_ratio = jnp.clip(ratio, 1.0 - config.clip, 1.0 + config.clip)
    surrogate = jnp.minimum(ratio * batch.advantages, clipped_ratio * batch.advantages)
    policy_loss = -jnp.mean(surrogate)
    value_loss = jnp.mean((state_value(params["value"], config, batch.obs) - batch.returns) ** 2)
    entropy = jnp.mean(gaussian_entropy(log_std))
    bounds = jnp.mean(jnp.sum(jnp.maximum(jnp.abs(mean) - ACTION_LIMIT, 0.0) ** 2, axis=-1))
    loss = (
        policy_loss + config.value_coef * value_loss - config.entropy * entropy + config.bounds_loss * bounds
    )
    metrics = {
        "ppo/policy_loss": policy_loss,
        "ppo/value_loss": value_loss,
        "ppo/entropy": entropy,
        "ppo/bounds_loss": bounds,
        "ppo/action_std": jnp.mean(jnp.exp(log_std)),
        "ppo/approx_kl": jnp.mean(ratio - 1.0 - log_ratio),
        "ppo/clip_fraction": jnp.mean((jnp.abs(ratio - 1.0) > config.clip).astype(jnp.float32)),
        "ppo/loss": loss,
    }
    return loss, metrics


def ppo_optimizer(config: PpoConfig) -> optax.GradientTransformation:
    """Global-norm clip, then Adam whose learning rate lives in the optimizer state (so `adaptive_kl`
    can change it, and a checkpoint keeps it)."""
    adam = optax.inject_hyperparams(optax.adam)(learning_rate=config.learning_rate)
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), adam)


def adapted_learning_rate(learning_rate: jax.Array, kl: jax.Array, config: PpoConfig) -> jax.Array:
    """rsl_rl's KL rule: /1.5 above 2 x desired_kl, x1.5 below half of it, within the card's range."""
    if config.learning_rate_schedule == "fixed":
        return learning_rate
    low, high = config.learning_rate_range
    lowered = jnp.maximum(learning_rate / 1.5, low)
    raised = jnp.minimum(learning_rate * 1.5, high)
    target = config.desired_kl
    return jnp.where(kl > 2.0 * target, lowered, jnp.where(kl < 0.5 * target, raised, learning_rate))


def check_minibatches(samples: int, minibatches: int) -> int:
    """Minibatch size; the rollout (envs x rollout_steps) must split evenly."""
    if samples % minibatches:
        raise ValueError(
            f"card: training.envs x ppo.rollout_steps = {samples} samples do not split into "
            f"ppo.minibatches = {minibatches} equal minibatches"
        )
    return samples // minibatches


def scheduled_log_std(config: PpoConfig, env_steps: int) -> float | None:
    """The log std the card's `log_std_anneal` sets at `env_steps` (linear from `init_log_std`, then
    held), or None where the card has no schedule."""
    anneal = config.log_std_anneal
    if anneal is None:
        return None
    progress = min(1.0, env_steps / anneal.env_steps)
    return config.init_log_std + progress * (anneal.end - config.init_log_std)


def shuffled_minibatches(key: jax.Array, tree, minibatches: int):
    """The leaves of `tree` (leading axis N) permuted and reshaped to (minibatches, N / minibatches, ...)."""
    n = jax.tree_util.tree_leaves(tree)[0].shape[0]
    size = check_minibatches(n, minibatches)
    order = jax.random.permutation(key, n)
    return jax.tree_util.tree_map(lambda x: x[order].reshape(minibatches, size, *x.shape[1:]), tree)


def normalize_advantages(batch: PpoBatch) -> PpoBatch:
    """Zero mean, unit std over the whole rollout, so the step size does not depend on reward scale."""
    adv = batch.advantages
    return batch.replace(advantages=(adv - adv.mean()) / (adv.std() + 1e-8))


def ppo_update(
    params: dict,
    opt_state: optax.OptState,
    batch: PpoBatch,
    key: jax.Array,
    config: PpoConfig,
) -> tuple[dict, optax.OptState, dict[str, jax.Array]]:
    """`epochs` passes over the batch in `minibatches` shuffled minibatches; returns mean metrics."""
    optimizer = ppo_optimizer(config)
    batch = normalize_advantages(batch)
    grad_fn = jax.grad(ppo_loss, has_aux=True)

    def minibatch_step(carry, minibatch):
        params, opt_state = carry
        grads, metrics = grad_fn(params, minibatch, config)
        adam_state = opt_state[1]
        rate = adapted_learning_rate(
            adam_state.hyperparams["learning_rate"], metrics["ppo/approx_kl"], config
        )
        adam_state = adam_state._replace(hyperparams={**adam_state.hyperparams, "learning_rate": rate})
        opt_state = (opt_state[0], adam_state)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        metrics["ppo/grad_norm"] = optax.tree.norm(grads)
        metrics["ppo/learning_rate"] = rate
        return (optax.apply_updates(params, updates), opt_state), metrics

    def epoch(carry, epoch_key):
        return jax.lax.scan(minibatch_step, carry, shuffled_minibatches(epoch_key, batch, config.minibatches))

    (params, opt_state), metrics = jax.lax.scan(
        epoch, (params, opt_state), jax.random.split(key, config.epochs)
    )
    return params, opt_state, jax.tree_util.tree_map(jnp.mean, metrics)
