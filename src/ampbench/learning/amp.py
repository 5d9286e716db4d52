"""The AMP discriminator of the MJX trainer: its loss, its replay buffer, its update, and the style reward.

Label convention, shared with `ampbench.task.rewards.style_reward`: reference (clip) samples are the
positive class. With `loss: bce` the logit is trained towards label 1 on reference and 0 on policy
samples; with `loss: least_squares` (LSGAN, as in the AMP paper) towards +1 and -1. Either way a higher
logit means "looks like the clips", and the style reward grows with the logit.

Per update (`amp_update`), in the order IsaacGymEnvs, MimicKit and skrl use: the style reward of the
rollout's AMP observations is read from the discriminator as it was when the rollout was played, BEFORE
the discriminator trains on those samples (scoring them after 16 steps with them as negatives would bias
the reward low); then the AMP normaliser absorbs the policy and the reference batch, the fresh samples
enter the replay buffer, and the discriminator takes `amp.epochs x amp.minibatches` Adam steps on
reference samples (drawn afresh from the clips for this update) against fresh and replayed policy samples.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import optax
from flax import struct

from ampbench.cards import AmpConfig
from ampbench.learning import normalizer
from ampbench.learning.networks import discriminator_logits, init_discriminator
from ampbench.learning.ppo import shuffled_minibatches
from ampbench.task.rewards import style_reward


@struct.dataclass
class ReplayBuffer:
    """Fixed-size ring buffer of raw policy AMP observations; `filled` counts valid rows."""

    data: jax.Array
    insert_at: jax.Array
    filled: jax.Array


@struct.dataclass
class AmpState:
    discriminator: dict
    opt_state: optax.OptState
    amp_stats: normalizer.RunningStats
    replay: ReplayBuffer
    feature_weights: jax.Array  # per-column factors after normalisation (the card's torque weight)


def replay_init(capacity: int, size: int) -> ReplayBuffer:
    zero = jnp.zeros((), jnp.int32)
    return ReplayBuffer(data=jnp.zeros((capacity, size)), insert_at=zero, filled=zero)


def replay_insert(buffer: ReplayBuffer, batch: jax.Array) -> ReplayBuffer:
    """Append rows (B, size), overwriting the oldest; of a batch larger than the buffer the last rows stay."""
    capacity, size = buffer.data.shape
    if batch.ndim != 2 or batch.shape[1] != size:
        raise ValueError(f"replay_insert: expected rows of shape (B, {size}), found {batch.shape}")
    count = batch.shape[0]
    kept = min(count, capacity)
    index = (buffer.insert_at + (count - kept) + jnp.arange(kept)) % capacity
    return ReplayBuffer(
        data=buffer.data.at[index].set(batch[count - kept :]),
        insert_at=(buffer.insert_at + count) % capacity,
        filled=jnp.minimum(buffer.filled + count, capacity),
    )


def replay_sample(buffer: ReplayBuffer, key: jax.Array, n: int) -> jax.Array:
    """n rows drawn uniformly with replacement from the filled part (insert before the first sample)."""
    index = jax.random.randint(key, (n,), 0, jnp.maximum(buffer.filled, 1))
    return buffer.data[index]


def replay_subset(key: jax.Array, fresh: jax.Array, capacity: int, replay_updates: int) -> jax.Array:
    """A random 1/replay_updates of the buffer's capacity from this rollout (all of it if smaller), so the
    buffer holds samples of about `replay_updates` past policies instead of only the latest rollout."""
    keep = min(fresh.shape[0], max(1, capacity // replay_updates))
    return fresh[jax.random.permutation(key, fresh.shape[0])[:keep]]


def gradient_penalty(params: dict, config: AmpConfig, amp_obs: jax.Array) -> jax.Array:
    """Mean over the first `grad_penalty_fraction` of the (shuffled) samples of ||d logit / d input||^2
    (unweighted)."""
    rows = penalty_rows(amp_obs.shape[0], config.grad_penalty_fraction)
    grads = jax.grad(lambda x: jnp.sum(discriminator_logits(params, config, x)))(amp_obs[:rows])
    return jnp.mean(jnp.sum(grads**2, axis=-1))


def penalty_rows(rows: int, fraction: float) -> int:
    """How many of `rows` samples the gradient penalty sees: the card's share, rounded up, at least one."""
    return max(1, math.ceil(rows * fraction))


def logit_regularizer(params: dict) -> jax.Array:
    """||W||^2 of the output layer, which keeps logits from growing without bound (unweighted)."""
    return jnp.sum(params["params"]["logit"]["kernel"] ** 2)


def weight_decay(params: dict) -> jax.Array:
    """Sum of squares of every weight matrix (not the biases) of the discriminator (unweighted)."""
    return sum(jnp.sum(layer["kernel"] ** 2) for layer in params["params"].values() if "kernel" in layer)


def classification_loss(ref_logits: jax.Array, policy_logits: jax.Array, loss: str) -> jax.Array:
    """Mean of the reference-class and the policy-class loss, so both count equally whatever their sizes."""
    if loss == "bce":
        ref = optax.sigmoid_binary_cross_entropy(ref_logits, jnp.ones_like(ref_logits))
        pol = optax.sigmoid_binary_cross_entropy(policy_logits, jnp.zeros_like(policy_logits))
    elif loss == "least_squares":
        ref = (ref_logits - 1.0) ** 2
        pol = (policy_logits + 1.0) ** 2
    else:
        raise ValueError(f"amp.loss: expected 'bce' or 'least_squares', found {loss!r}")
    return 0.5 * (jnp.mean(ref) + jnp.mean(pol))


def discriminator_loss(
    params: dict, ref_obs: jax.Array, policy_obs: jax.Array, config: AmpConfig
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Classification loss + `grad_penalty` x penalty (on reference samples, and on policy samples when
    the card says so) + `logit_reg` x ||W_last||^2 + `weight_decay` x sum of ||W||^2.

    Inputs are normalised AMP observations.
    """
    ref_logits = discriminator_logits(params, config, ref_obs)
    policy_logits = discriminator_logits(params, config, policy_obs)
    classify = classification_loss(ref_logits, policy_logits, config.loss)
    penalty = gradient_penalty(params, config, ref_obs)
    policy_penalty = (
        gradient_penalty(params, config, policy_obs)
        if config.grad_penalty_samples == "reference_and_policy"
        else jnp.zeros(())
    )
    weight_norm = logit_regularizer(params)
    decay = weight_decay(params)
    loss = (
        classify
        + config.grad_penalty * (penalty + policy_penalty)
        + config.logit_reg * weight_norm
        + config.weight_decay * decay
    )
    metrics = {
        "disc/loss": loss,
        "disc/classification_loss": classify,
        "disc/grad_penalty": penalty,
        "disc/grad_penalty_policy": policy_penalty,
        "disc/weight_decay": decay,
        "disc/logit_weight_norm": weight_norm,
        "disc/accuracy_reference": jnp.mean((ref_logits > 0).astype(jnp.float32)),
        "disc/accuracy_policy": jnp.mean((policy_logits < 0).astype(jnp.float32)),
        "disc/logit_reference": jnp.mean(ref_logits),
        "disc/logit_policy": jnp.mean(policy_logits),
        # How much the style reward can tell one policy sample from another: a discriminator can hold a
        # mean policy logit near -4 and still pay every policy state alike (spread ~0.2), which teaches
        # nothing about the clip.
        "disc/logit_policy_std": jnp.std(policy_logits),
    }
    return loss, metrics


def style_rewards(params: dict, config: AmpConfig, amp_obs: jax.Array) -> jax.Array:
    """Style reward of normalised AMP observations, read through the card's reward formula."""
    return style_reward(discriminator_logits(params, config, amp_obs), config.style_reward)


def discriminator_optimizer(config: AmpConfig) -> optax.GradientTransformation:
    return optax.adam(config.learning_rate)


def amp_init(
    key: jax.Array, config: AmpConfig, amp_observation_size: int, feature_weights: jax.Array | None = None
) -> AmpState:
    """Fresh discriminator state; `feature_weights` (A,) defaults to ones (every column counts alike)."""
    params = init_discriminator(key, config, amp_observation_size)
    weights = jnp.ones(amp_observation_size) if feature_weights is None else jnp.asarray(feature_weights)
    if weights.shape != (amp_observation_size,):
        raise ValueError(f"feature_weights must have shape ({amp_observation_size},), found {weights.shape}")
    return AmpState(
        discriminator=params,
        opt_state=discriminator_optimizer(config).init(params),
        amp_stats=normalizer.init_stats(amp_observation_size),
        replay=replay_init(config.replay_size, amp_observation_size),
        feature_weights=weights.astype(jnp.float32),
    )


def discriminator_input(state: AmpState, amp_obs: jax.Array, obs_clip: float) -> jax.Array:
    """Raw AMP observations as the discriminator sees them: normalised (clipped), weighted per column."""
    return normalizer.normalize(state.amp_stats, amp_obs, obs_clip) * state.feature_weights


def discriminator_step(
    state: AmpState, ref_obs: jax.Array, policy_obs: jax.Array, config: AmpConfig, obs_clip: float
) -> tuple[AmpState, dict[str, jax.Array]]:
    """One Adam step on raw AMP observations (normalised and weighted here: `discriminator_input`)."""
    ref = discriminator_input(state, ref_obs, obs_clip)
    policy = discriminator_input(state, policy_obs, obs_clip)
    grads, metrics = jax.grad(discriminator_loss, has_aux=True)(state.discriminator, ref, policy, config)
    updates, opt_state = discriminator_optimizer(config).update(grads, state.opt_state, state.discriminator)
    params = optax.apply_updates(state.discriminator, updates)
    return state.replace(discriminator=params, opt_state=opt_state), metrics


def amp_update(
    state: AmpState,
    fresh_amp_obs: jax.Array,
    reference_amp_obs: jax.Array,
    key: jax.Array,
    config: AmpConfig,
    *,
    obs_clip: float,
) -> tuple[AmpState, jax.Array, dict[str, jax.Array]]:
    """Style reward of a rollout's raw AMP observations (N, A) from the discriminator as it was during the
    rollout, then the discriminator update on them; returns (new state, reward (N,), mean metrics).

    `reference_amp_obs` (2N, A) are raw reference observations drawn afresh from the clips. Each of the
    `minibatches` steps per epoch holds n = N / minibatches fresh and n replayed policy samples against
    2n reference samples.
    """
    rewards = style_rewards(state.discriminator, config, discriminator_input(state, fresh_amp_obs, obs_clip))
    expected = (2 * fresh_amp_obs.shape[0], fresh_amp_obs.shape[1])
    if reference_amp_obs.shape != expected:
        raise ValueError(
            f"amp_update: reference_amp_obs must have shape {expected} (two per policy sample), "
            f"found {reference_amp_obs.shape}"
        )
    key, subset_key = jax.random.split(key)
    stats = normalizer.update(normalizer.update(state.amp_stats, fresh_amp_obs), reference_amp_obs)
    subset = replay_subset(subset_key, fresh_amp_obs, config.replay_size, config.replay_updates)
    state = state.replace(amp_stats=stats, replay=replay_insert(state.replay, subset))

    def minibatch_step(state, inputs):
        fresh, reference, replay_key = inputs
        policy = jnp.concatenate([fresh, replay_sample(state.replay, replay_key, fresh.shape[0])])
        return discriminator_step(state, reference, policy, config, obs_clip)

    def epoch(state, epoch_key):
        order_key, ref_order_key, steps_key = jax.random.split(epoch_key, 3)
        fresh = shuffled_minibatches(order_key, fresh_amp_obs, config.minibatches)
        reference = shuffled_minibatches(ref_order_key, reference_amp_obs, config.minibatches)
        replay_keys = jax.random.split(steps_key, config.minibatches)
        return jax.lax.scan(minibatch_step, state, (fresh, reference, replay_keys))

    state, metrics = jax.lax.scan(epoch, state, jax.random.split(key, config.epochs))
    return state, rewards, jax.tree_util.tree_map(jnp.mean, metrics)
