"""One PPO + AMP update, as pure JAX functions: the rollout (fused into the compiled update for a `JaxEnv`,
on the host for a `BatchedEnv`), the style reward and discriminator step, reward mixing, GAE and the PPO
step, with the keys and reference draws of each update derived from (seed, update index).

One update:

1. roll the policy out for `ppo.rollout_steps` control steps in every env (the env auto-resets, and
   reports `final_obs` and `amp_obs` of the transition it ended);
2. read the style reward of that rollout's AMP observations from the discriminator as it was during the
   rollout, then train the discriminator on them against reference observations drawn afresh from the
   clips on the host (`amp.amp_update`);
3. mix rewards: `amp.task_reward_scale` x task + `amp.style_reward_scale` x style;
4. GAE and the PPO update (`ppo.ppo_update`), value targets z-scored when the card says so; the
   observation normaliser then absorbs the rollout.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from ampbench.cards import AmpConfig, ExperimentCard, PpoConfig
from ampbench.learning import normalizer
from ampbench.learning.amp import AmpState, amp_init, amp_update
from ampbench.learning.networks import (
    gaussian_log_prob,
    init_actor_critic,
    policy_distribution,
    state_value,
)
from ampbench.learning.ppo import (
    ACTION_LIMIT,
    PpoBatch,
    check_minibatches,
    compute_gae,
    ppo_optimizer,
    ppo_update,
    scheduled_log_std,
)
from ampbench.sim.protocol import BatchedEnv, JaxEnv, TrainingEnv


class TrainingDiverged(RuntimeError):
    """A non-finite value appeared; the message names the update and the quantity."""


@struct.dataclass
class TrainState:
    actor_critic: dict
    ppo_opt_state: optax.OptState
    obs_stats: normalizer.RunningStats
    value_stats: normalizer.RunningStats  # of value targets; used when ppo.normalize_values
    amp: AmpState


@struct.dataclass
class RolloutCarry:
    """The env batch plus the running raw task return and length of each env's current episode."""

    env_state: Any
    episode_return: jax.Array
    episode_length: jax.Array


@struct.dataclass
class HostCarry:
    """A `BatchedEnv`'s current observations and running episode sums, numpy (envs, ...); the env keeps
    the rest of its batch itself."""

    obs: np.ndarray
    episode_return: np.ndarray
    episode_length: np.ndarray


@struct.dataclass
class Transition:
    """One rollout step of every env; the trainer stacks T of them (time-major)."""

    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    reward: jax.Array
    done: jax.Array
    truncated: jax.Array
    amp_obs: jax.Array
    final_obs: jax.Array
    metrics: dict[str, jax.Array]
    ended_return: jax.Array
    ended_length: jax.Array


# ---- schedule and keys ---------------------------------------------------------------------------------


def schedule(card: ExperimentCard) -> tuple[int, int]:
    """(env steps per update, number of updates): steps // (envs x rollout_steps), at least 1."""
    per_update = card.training.envs * card.ppo.rollout_steps
    check_minibatches(per_update, card.ppo.minibatches)
    return per_update, max(1, card.training.steps // per_update)


def _root_keys(seed: int) -> tuple[jax.Array, jax.Array]:
    """(key for initial parameters, root of the per-update keys)."""
    init_key, updates_root = jax.random.split(jax.random.key(seed))
    return init_key, updates_root


def update_keys(seed: int, update: int) -> tuple[jax.Array, jax.Array]:
    """(env reset key, update key) of update `update`: a pure function of (seed, update index)."""
    reset_key, update_key = jax.random.split(jax.random.fold_in(_root_keys(seed)[1], update))
    return reset_key, update_key


def reference_rng(seed: int, update: int) -> np.random.Generator:
    """The host generator of update `update`'s reference draws: a pure function of (seed, update)."""
    return np.random.default_rng([seed, update])


# ---- state ---------------------------------------------------------------------------------------------


def check_env_and_card(env: TrainingEnv, card: ExperimentCard, seed: int) -> None:
    if seed not in card.training.seeds:
        raise ValueError(
            f"card {card.name}: seed {seed} is not one of training.seeds {list(card.training.seeds)}"
        )
    if env.amp_observation_size % card.amp.history:
        raise ValueError(
            f"card {card.name}: env amp_observation_size {env.amp_observation_size} is not a multiple of "
            f"amp.history = {card.amp.history}"
        )


def init_train_state(env: TrainingEnv, card: ExperimentCard, seed: int) -> TrainState:
    policy_key, disc_key = jax.random.split(_root_keys(seed)[0])
    actor_critic = init_actor_critic(policy_key, card.ppo, env.observation_size, env.action_size)
    return TrainState(
        actor_critic=actor_critic,
        ppo_opt_state=ppo_optimizer(card.ppo).init(actor_critic),
        obs_stats=normalizer.init_stats(env.observation_size),
        value_stats=normalizer.init_stats(1),
        amp=amp_init(disc_key, card.amp, env.amp_observation_size, env.amp_feature_weights),
    )


def with_scheduled_log_std(state: TrainState, config: PpoConfig, env_steps: int) -> TrainState:
    """`state` with the policy's log std set to the card's schedule at `env_steps` (unchanged without a
    schedule). The std is then not learned (`learn_log_std` false stops its gradient), so the schedule
    alone moves it."""
    log_std = scheduled_log_std(config, env_steps)
    if log_std is None:
        return state
    policy = state.actor_critic["policy"]
    current = policy["params"]["log_std"]
    params = {**policy["params"], "log_std": jnp.full_like(current, log_std)}
    return state.replace(actor_critic={**state.actor_critic, "policy": {**policy, "params": params}})


@partial(jax.jit, static_argnums=1)
def reset_envs(env: JaxEnv, envs: int, key: jax.Array) -> RolloutCarry:
    zeros = jnp.zeros((envs,))
    return RolloutCarry(jax.vmap(env.reset)(jax.random.split(key, envs)), zeros, zeros)


# ---- one update (jitted) -------------------------------------------------------------------------------


def sample_actions(
    config: PpoConfig, state: TrainState, obs: jax.Array, key: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """(Gaussian actions, their log-probabilities) of the policy on raw observations (envs, O)."""
    normalized = normalizer.normalize(state.obs_stats, obs, config.observation_clip)
    mean, log_std = policy_distribution(state.actor_critic["policy"], config, normalized)
    action = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    return action, gaussian_log_prob(mean, log_std, action)


def _transition(
    obs, action, log_prob, stepped, episode_return, episode_length
) -> tuple[Transition, Any, Any]:
    """A step's transition and the running (return, length) after it; numpy or JAX arrays alike."""
    done = stepped.done.astype(np.float32)
    episode_return = episode_return + stepped.reward
    episode_length = episode_length + 1.0
    transition = Transition(
        obs=obs,
        action=action,
        log_prob=log_prob,
        reward=stepped.reward,
        done=done,
        truncated=stepped.truncated.astype(np.float32),
        amp_obs=stepped.amp_obs,
        final_obs=stepped.final_obs,
        metrics=stepped.metrics,
        ended_return=episode_return * done,
        ended_length=episode_length * done,
    )
    return transition, episode_return * (1 - done), episode_length * (1 - done)


def rollout(
    env: JaxEnv, config: PpoConfig, state: TrainState, carry: RolloutCarry, key: jax.Array
) -> tuple[RolloutCarry, Transition]:
    """`config.rollout_steps` steps of every env with Gaussian actions (clipped to +-1 for the env)."""

    def env_step(carry: RolloutCarry, step_key: jax.Array) -> tuple[RolloutCarry, Transition]:
        current = carry.env_state
        action, log_prob = sample_actions(config, state, current.obs, step_key)
        stepped = jax.vmap(env.step)(current, jnp.clip(action, -ACTION_LIMIT, ACTION_LIMIT))
        transition, episode_return, episode_length = _transition(
            current.obs, action, log_prob, stepped, carry.episode_return, carry.episode_length
        )
        return RolloutCarry(stepped, episode_return, episode_length), transition

    return jax.lax.scan(env_step, carry, jax.random.split(key, config.rollout_steps))


_sample_actions = jax.jit(sample_actions, static_argnums=0)


def host_rollout(
    env: BatchedEnv, config: PpoConfig, state: TrainState, carry: HostCarry, key: jax.Array
) -> tuple[HostCarry, Transition]:
    """`rollout` for a `BatchedEnv`: the same actions from the same keys, the env stepped on the host.

    The actions go to the env as JAX arrays: an env on the host (MuJoCo C) takes and returns numpy, one
    whose simulator shares JAX's device (Isaac Lab) takes them and returns its tensors by DLPack instead
    of through host memory; each kind is stacked where it is."""
    steps, obs = [], carry.obs
    episode_return, episode_length = carry.episode_return, carry.episode_length
    for step_key in jax.random.split(key, config.rollout_steps):
        action, log_prob = _sample_actions(config, state, obs, step_key)
        stepped = env.step(jnp.clip(action, -ACTION_LIMIT, ACTION_LIMIT))
        transition, episode_return, episode_length = _transition(
            obs, action, log_prob, stepped, episode_return, episode_length
        )
        steps.append(transition)
        obs = stepped.obs
    stacked = jax.tree_util.tree_map(_stack, *steps)
    return HostCarry(obs, episode_return, episode_length), stacked


def _stack(*steps: Any) -> Any:
    return jnp.stack(steps) if isinstance(steps[0], jax.Array) else np.stack(steps)


def _finite(*trees: Any) -> jax.Array:
    leaves = [x for tree in trees for x in jax.tree_util.tree_leaves(tree)]
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def _rollout_metrics(tr: Transition, style: jax.Array, reward: jax.Array, returns: jax.Array) -> dict:
    return {
        "reward/task": jnp.mean(tr.reward),
        "reward/style": jnp.mean(style),
        "reward/total": jnp.mean(reward),
        "ppo/value_target": jnp.mean(returns),
        "episode/ended": jnp.sum(tr.done),
        "episode/task_return_sum": jnp.sum(tr.ended_return),
        "episode/length_sum": jnp.sum(tr.ended_length),
        **{f"env/{name}": jnp.mean(value) for name, value in tr.metrics.items()},
    }


POLICY_AMP_MEAN, POLICY_AMP_COVARIANCE = "amp_obs/mean", "amp_obs/covariance"


def _amp_moments(amp_obs: jax.Array) -> dict[str, jax.Array]:
    """Mean and covariance of the rollout's raw AMP observations, for the imitation distance on the
    host (a few kB back per update, not the rollout)."""
    mean = jnp.mean(amp_obs, axis=0)
    centered = amp_obs - mean
    return {POLICY_AMP_MEAN: mean, POLICY_AMP_COVARIANCE: centered.T @ centered / (amp_obs.shape[0] - 1)}


def _values(state: TrainState, ppo: PpoConfig, obs: jax.Array) -> jax.Array:
    """V(obs) in return units (the network predicts z-scored returns when the card normalises values)."""
    raw = state_value(state.actor_critic["value"], ppo, obs)
    if not ppo.normalize_values:
        return raw
    return normalizer.denormalize(state.value_stats, raw[..., None])[..., 0]


@partial(jax.jit, static_argnums=(1, 2))
def update_step(
    env: JaxEnv,
    ppo: PpoConfig,
    amp: AmpConfig,
    state: TrainState,
    carry: RolloutCarry,
    key: jax.Array,
    reference_amp_obs: jax.Array,
) -> tuple[TrainState, RolloutCarry, dict[str, jax.Array], tuple[jax.Array, ...]]:
    """One rollout + discriminator update + PPO update; also finiteness flags in `HEALTH_CHECKS` order.

    `reference_amp_obs` (2 x envs x rollout_steps, A) are this update's fresh reference observations.
    Jitted with the (frozen, hashable) config sections static and the env as a pytree argument, so the
    compiled program holds no clip data and a second run of the same card finds it in the persistent
    compilation cache.
    """
    rollout_key, amp_key, ppo_key = jax.random.split(key, 3)
    carry, tr = rollout(env, ppo, state, carry, rollout_key)
    new_state, metrics, health = learn(ppo, amp, state, tr, amp_key, ppo_key, reference_amp_obs)
    return new_state, carry, metrics, health


@partial(jax.jit, static_argnums=(0, 1))
def learn_step(
    ppo: PpoConfig,
    amp: AmpConfig,
    state: TrainState,
    tr: Transition,
    key: jax.Array,
    reference_amp_obs: jax.Array,
) -> tuple[TrainState, dict[str, jax.Array], tuple[jax.Array, ...]]:
    """`update_step` after its rollout, for transitions a `BatchedEnv` produced on the host (the same
    keys: `key` is the update key, split as `update_step` splits it)."""
    _, amp_key, ppo_key = jax.random.split(key, 3)
    return learn(ppo, amp, state, tr, amp_key, ppo_key, reference_amp_obs)


def learn(
    ppo: PpoConfig,
    amp: AmpConfig,
    state: TrainState,
    tr: Transition,
    amp_key: jax.Array,
    ppo_key: jax.Array,
    reference_amp_obs: jax.Array,
) -> tuple[TrainState, dict[str, jax.Array], tuple[jax.Array, ...]]:
    """Style reward, discriminator update, GAE and PPO update from one rollout's transitions."""
    horizon, envs = tr.reward.shape
    clip = ppo.observation_clip
    obs = normalizer.normalize(state.obs_stats, tr.obs, clip)
    values = _values(state, ppo, obs)
    final_values = _values(state, ppo, normalizer.normalize(state.obs_stats, tr.final_obs, clip))

    amp_state, style, disc_metrics = amp_update(
        state.amp, tr.amp_obs.reshape(horizon * envs, -1), reference_amp_obs, amp_key, amp, obs_clip=clip
    )
    style = style.reshape(horizon, envs)
    reward = amp.task_reward_scale * tr.reward + amp.style_reward_scale * style
    advantages, returns = compute_gae(
        reward, values, tr.done, tr.truncated, final_values, ppo.gamma, ppo.gae_lambda
    )
    value_stats = normalizer.update(state.value_stats, returns[..., None])
    targets = (
        normalizer.normalize(value_stats, returns[..., None], None)[..., 0]
        if ppo.normalize_values
        else returns
    )
    flat = partial(jax.tree_util.tree_map, lambda x: x.reshape(horizon * envs, *x.shape[2:]))
    batch = flat(PpoBatch(obs, tr.action, tr.log_prob, advantages, targets))
    actor_critic, ppo_opt_state, ppo_metrics = ppo_update(
        state.actor_critic, state.ppo_opt_state, batch, ppo_key, ppo
    )
    new_state = TrainState(
        actor_critic, ppo_opt_state, normalizer.update(state.obs_stats, tr.obs), value_stats, amp_state
    )
    metrics = {
        **disc_metrics,
        **ppo_metrics,
        **_rollout_metrics(tr, style, reward, returns),
        **_amp_moments(tr.amp_obs.reshape(horizon * envs, -1)),
    }
    health = (
        _finite(tr.obs),
        _finite(tr.reward),
        _finite(tr.amp_obs),
        _finite(jnp.where((tr.done > 0) & (tr.truncated <= 0), 0.0, final_values)),
        _finite(disc_metrics, style),
        _finite(ppo_metrics),
        _finite(new_state.obs_stats, new_state.value_stats),
        _finite(new_state.amp.amp_stats),
        _finite(new_state.actor_critic),
        _finite(new_state.amp.discriminator),
        _finite(new_state.ppo_opt_state, new_state.amp.opt_state),
    )
    return new_state, metrics, health


HEALTH_CHECKS = (
    "env observations (obs)",
    "env task reward (reward)",
    "env AMP observations (amp_obs)",
    "env final observations bootstrapped from (final_obs)",
    "discriminator loss or style reward",
    "PPO loss",
    "observation or value normaliser",
    "AMP observation normaliser",
    "policy/value parameters",
    "discriminator parameters",
    "optimizer states",
)


def raise_if_diverged(update: int, health: tuple[Any, ...], seed: int) -> None:
    bad = [name for name, ok in zip(HEALTH_CHECKS, health, strict=True) if not bool(ok)]
    if bad:
        raise TrainingDiverged(
            f"seed {seed}, update {update}: non-finite values (NaN/inf) in {', '.join(bad)}; "
            "training stopped, the last checkpoint is left as it was"
        )


def host_scalars(metrics: dict[str, Any]) -> dict[str, float]:
    """Floats for logging: episode sums become means (left out when no episode ended); arrays (the AMP
    moments) are left out."""
    scalars = {k: float(v) for k, v in metrics.items() if not k.endswith("_sum") and np.ndim(v) == 0}
    ended = scalars["episode/ended"]
    if ended > 0:
        scalars["episode/task_return"] = float(metrics["episode/task_return_sum"]) / ended
        scalars["episode/length"] = float(metrics["episode/length_sum"]) / ended
    return scalars
