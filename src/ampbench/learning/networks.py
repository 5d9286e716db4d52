"""Policy, value and discriminator networks of the MJX trainer, as flax.linen modules built from the card.

The networks are plain MLPs with ELU activations (smooth, so the discriminator's gradient penalty has a
useful gradient everywhere). The policy is a Gaussian with a state-independent log std, fixed or learned
as the card says; its mean is unbounded (the PPO loss's bounds term keeps it near [-1, 1]) and the
trainer clips actions to [-1, 1] before they reach the env, so log-probabilities are those of the raw
(unclipped) sample. Parameters are plain nested dicts, so they serialise without a
template and load without this package's trainer.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from ampbench.cards import AmpConfig, PpoConfig

ACTIVATION = "elu"
ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {"elu": nn.elu}
LOG_2PI = math.log(2.0 * math.pi)


class MLP(nn.Module):
    """Hidden layers with a shared activation, then a linear output layer named `out_name`."""

    hidden: tuple[int, ...]
    out_size: int
    out_name: str
    activation: str = ACTIVATION
    out_scale: float = 1.0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        for i, width in enumerate(self.hidden):
            x = act(nn.Dense(width, name=f"hidden_{i}")(x))
        init = nn.initializers.variance_scaling(self.out_scale, "fan_in", "truncated_normal")
        return nn.Dense(self.out_size, kernel_init=init, name=self.out_name)(x)


class GaussianPolicy(nn.Module):
    """Action mean from an MLP; log std is one learned vector shared by all states."""

    hidden: tuple[int, ...]
    action_size: int
    init_log_std: float
    learn_log_std: bool
    activation: str = ACTIVATION

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        # A small output layer starts the mean near zero, so early actions are mostly exploration noise.
        mean = MLP(self.hidden, self.action_size, "mean", self.activation, out_scale=0.01, name="torso")(obs)
        log_std = self.param("log_std", nn.initializers.constant(self.init_log_std), (self.action_size,))
        if not self.learn_log_std:  # kept as a parameter so every policy file has the same layout
            log_std = jax.lax.stop_gradient(log_std)
        return mean, jnp.broadcast_to(log_std, mean.shape)


def policy_network(config: PpoConfig, action_size: int, activation: str = ACTIVATION) -> GaussianPolicy:
    return GaussianPolicy(
        tuple(config.hidden), action_size, config.init_log_std, config.learn_log_std, activation
    )


def value_network(config: PpoConfig) -> MLP:
    return MLP(tuple(config.hidden), 1, "value")


def discriminator_network(config: AmpConfig) -> MLP:
    """One logit per AMP observation; the output layer is named `logit` for the logit regulariser."""
    return MLP(tuple(config.hidden), 1, "logit")


def init_actor_critic(key: jax.Array, config: PpoConfig, observation_size: int, action_size: int) -> dict:
    """Parameters {"policy": ..., "value": ...} for observations of `observation_size` values."""
    policy_key, value_key = jax.random.split(key)
    dummy = jnp.zeros((1, observation_size))
    return {
        "policy": policy_network(config, action_size).init(policy_key, dummy),
        "value": value_network(config).init(value_key, dummy),
    }


def init_discriminator(key: jax.Array, config: AmpConfig, amp_observation_size: int) -> dict:
    return discriminator_network(config).init(key, jnp.zeros((1, amp_observation_size)))


def policy_distribution(
    params: dict, config: PpoConfig, obs: jax.Array, activation: str = ACTIVATION
) -> tuple[jax.Array, jax.Array]:
    """(mean, log_std) of the Gaussian policy; the action size is read from the parameters."""
    action_size = params["params"]["log_std"].shape[-1]
    return policy_network(config, action_size, activation).apply(params, obs)


def state_value(params: dict, config: PpoConfig, obs: jax.Array) -> jax.Array:
    return value_network(config).apply(params, obs)[..., 0]


def discriminator_logits(params: dict, config: AmpConfig, amp_obs: jax.Array) -> jax.Array:
    return discriminator_network(config).apply(params, amp_obs)[..., 0]


def gaussian_log_prob(mean: jax.Array, log_std: jax.Array, action: jax.Array) -> jax.Array:
    """Log density of a diagonal Gaussian, summed over the last axis."""
    z = (action - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * LOG_2PI, axis=-1)


def gaussian_entropy(log_std: jax.Array) -> jax.Array:
    """Entropy of a diagonal Gaussian, summed over the last axis."""
    return jnp.sum(log_std + 0.5 * (LOG_2PI + 1.0), axis=-1)
