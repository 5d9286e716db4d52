"""PPO + AMP training loop: one card in, checkpoints, TensorBoard scalars and a policy out, on any simulator.

Shape of Brax's PPO trainer (a jitted update built from `lax.scan`s, `progress_fn(step, metrics)`), with
the card as the only configuration. Two kinds of env drive the same update: a `JaxEnv` (MJX: single-env
pure functions, rolled out with `lax.scan` inside the one compiled update) and a `BatchedEnv` (MuJoCo C,
Isaac Lab: numpy batches stepped on the host, the policy jitted, the learning step compiled apart).
One update:

1. roll the policy out for `ppo.rollout_steps` control steps in every env (the env auto-resets, and
   reports `final_obs` and `amp_obs` of the transition it ended);
2. read the style reward of that rollout's AMP observations from the discriminator as it was during the
   rollout, then train the discriminator on them against reference observations drawn afresh from the
   clips on the host (`amp.amp_update`);
3. mix rewards: `amp.task_reward_scale` x task + `amp.style_reward_scale` x style;
4. GAE and the PPO update (`ppo.ppo_update`), value targets z-scored when the card says so; the
   observation normaliser then absorbs the rollout.

Reproducibility: every update's keys and reference draws derive from (seed, update index). A checkpoint
holds the training state and, beside it, the env batch (physics state, episode clocks, keys), so nothing
is reset at a checkpoint boundary and a run interrupted after a checkpoint and resumed reproduces the
uninterrupted run exactly (on the same device).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from tensorboardX import SummaryWriter
from tqdm import tqdm

import ampbench
from ampbench.cards import AmpConfig, ExperimentCard, PpoConfig
from ampbench.core import compile_cache, program_cache
from ampbench.core.runs import RunError, atomic_write_bytes, atomic_write_json, latest_checkpoint
from ampbench.learning import normalizer, policy_file
from ampbench.learning.amp import AmpState, amp_init, amp_update
from ampbench.learning.networks import (
    ACTIVATION,
    ACTIVATIONS,
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
)
from ampbench.sim.protocol import BatchedEnv

CHECKPOINT_FORMAT = 2
ENV_STATES_KEPT = 2  # the latest checkpoint's env batch and the one before, to fall back on
POLICY_CONFIG = "policy_config.json"
TIMING = "timing.json"
# tqdm's own rate and ETA would count the first update's compile; the postfix carries ours.
PROGRESS_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"
ProgressFn = Callable[[int, dict[str, float]], None]


class JaxEnv(Protocol):
    """An env of single-env pure JAX functions (the trainer vmaps them and fuses the rollout into the
    compiled update).

    `step` auto-resets on `done`; its state carries obs, reward (raw task reward), done, truncated,
    amp_obs (of the transition just taken), final_obs (before auto-reset) and metrics (name -> scalar).
    The env is a pytree passed to the jitted update as an argument: its leaves are its large arrays (the
    physics model, the reset pool), so they are inputs of the compiled program, not constants in it, and
    its aux data compares equal for one env, so one env compiles once.
    """

    observation_size: int
    action_size: int
    amp_observation_size: int
    amp_feature_weights: jax.Array  # (amp_observation_size,) factors after normalisation

    def reset(self, key: jax.Array) -> Any: ...

    def step(self, state: Any, action: jax.Array) -> Any: ...

    def reference_amp_observations(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n raw reference AMP observations drawn afresh (host side, numpy)."""
        ...


AmpEnv = JaxEnv | BatchedEnv


def is_batched(env: AmpEnv) -> bool:
    return hasattr(env, "load_state_dict")


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


@dataclass(frozen=True)
class TrainResult:
    state: TrainState
    checkpoint: Path
    updates: int
    env_steps: int
    history: list[dict[str, float]]


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


def check_env_and_card(env: AmpEnv, card: ExperimentCard, seed: int) -> None:
    if seed not in card.training.seeds:
        raise ValueError(
            f"card {card.name}: seed {seed} is not one of training.seeds {list(card.training.seeds)}"
        )
    if env.amp_observation_size % card.amp.history:
        raise ValueError(
            f"card {card.name}: env amp_observation_size {env.amp_observation_size} is not a multiple of "
            f"amp.history = {card.amp.history}"
        )


def init_train_state(env: AmpEnv, card: ExperimentCard, seed: int) -> TrainState:
    policy_key, disc_key = jax.random.split(_root_keys(seed)[0])
    actor_critic = init_actor_critic(policy_key, card.ppo, env.observation_size, env.action_size)
    return TrainState(
        actor_critic=actor_critic,
        ppo_opt_state=ppo_optimizer(card.ppo).init(actor_critic),
        obs_stats=normalizer.init_stats(env.observation_size),
        value_stats=normalizer.init_stats(1),
        amp=amp_init(disc_key, card.amp, env.amp_observation_size, env.amp_feature_weights),
    )


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
    metrics = {**disc_metrics, **ppo_metrics, **_rollout_metrics(tr, style, reward, returns)}
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


def raise_if_diverged(update: int, health: tuple[Any, ...]) -> None:
    bad = [name for name, ok in zip(HEALTH_CHECKS, health, strict=True) if not bool(ok)]
    if bad:
        raise TrainingDiverged(
            f"update {update}: non-finite values (NaN/inf) in {', '.join(bad)}; "
            "training stopped, the last checkpoint is left as it was"
        )


def host_scalars(metrics: dict[str, Any]) -> dict[str, float]:
    """Floats for logging: episode sums become means (left out when no episode ended)."""
    scalars = {k: float(v) for k, v in metrics.items() if not k.endswith("_sum")}
    ended = scalars["episode/ended"]
    if ended > 0:
        scalars["episode/task_return"] = float(metrics["episode/task_return_sum"]) / ended
        scalars["episode/length"] = float(metrics["episode/length_sum"]) / ended
    return scalars


# ---- checkpoints ---------------------------------------------------------------------------------------


def checkpoint_name(update: int) -> str:
    return f"ckpt_{update:06d}.msgpack"


def env_state_name(update: int) -> str:
    return f"envs_{update:06d}.msgpack"


def save_checkpoint(checkpoint_dir: Path, state: TrainState, *, update: int, seed: int) -> Path:
    """Write the checkpoint, then point `latest` at it; both atomically, so a crash leaves the old pair."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "update": update,
        "seed": seed,
        "key": np.asarray(jax.random.key_data(jax.random.key(seed))),
        "state": flax.serialization.to_state_dict(jax.device_get(state)),
    }
    path = checkpoint_dir / checkpoint_name(update)
    atomic_write_bytes(path, flax.serialization.msgpack_serialize(payload))
    atomic_write_bytes(checkpoint_dir / "latest", (path.name + "\n").encode())
    return path


def _leaves_to_host(tree: Any) -> dict[str, np.ndarray]:
    """Leaves as numpy arrays keyed by position; typed PRNG keys as their raw key data."""
    leaves = jax.tree_util.tree_leaves(jax.device_get(tree))
    out = {}
    for i, leaf in enumerate(leaves):
        if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        out[f"{i:05d}"] = np.asarray(leaf)
    return out


def save_env_state(checkpoint_dir: Path, batch: Any, *, update: int) -> Path:
    """The env batch at a checkpoint: the state the next update starts from. Written before the
    checkpoint it belongs to, so `latest` never names a checkpoint without one."""
    path = checkpoint_dir / env_state_name(update)
    atomic_write_bytes(path, flax.serialization.msgpack_serialize(_leaves_to_host(batch)))
    return path


def prune_env_states(checkpoint_dir: Path, keep: int = ENV_STATES_KEPT) -> None:
    """Remove all but the newest `keep` env batches (each is the whole physics state of every env);
    called after `latest` points at the newest checkpoint, so the one it names always stays."""
    for old in sorted(checkpoint_dir.glob("envs_*.msgpack"))[:-keep]:
        old.unlink()


def restore_env_state(path: Path, template: Any) -> Any:
    """The saved env batch, checked leaf by leaf against a freshly reset batch of this card; numpy
    leaves stay numpy at their saved precision (a host env's float64 physics), JAX leaves become JAX."""
    try:
        saved = flax.serialization.msgpack_restore(Path(path).read_bytes())
    except (OSError, ValueError) as error:
        raise RunError(f"{path}: unreadable env state ({error})") from None
    leaves, treedef = jax.tree_util.tree_flatten(template)
    if not isinstance(saved, dict) or len(saved) != len(leaves):
        found = len(saved) if isinstance(saved, dict) else type(saved).__name__
        raise RunError(f"{path}: env state has {found} arrays, this card's env batch has {len(leaves)}")
    restored = []
    for (name, value), want in zip(sorted(saved.items()), leaves, strict=True):
        if isinstance(want, np.ndarray | np.generic):
            got = np.asarray(value, dtype=want.dtype)
        elif jnp.issubdtype(want.dtype, jax.dtypes.prng_key):
            got = jax.random.wrap_key_data(jnp.asarray(value), impl=jax.random.key_impl(want))
        else:
            got = jnp.asarray(value, dtype=want.dtype)
        if got.shape != np.shape(want):
            raise RunError(
                f"{path}: env array {name} has shape {got.shape}, this card expects {np.shape(want)}"
            )
        restored.append(got)
    return jax.tree_util.tree_unflatten(treedef, restored)


def read_checkpoint(path: Path) -> dict[str, Any]:
    try:
        payload = flax.serialization.msgpack_restore(Path(path).read_bytes())
    except (OSError, ValueError) as error:
        raise RunError(f"{path}: unreadable checkpoint ({error})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise RunError(f"{path}: not an ampbench MJX checkpoint (expected format {CHECKPOINT_FORMAT})")
    return payload


def restore_checkpoint(path: Path, template: TrainState, seed: int) -> tuple[TrainState, int]:
    """(state, next update index); the state is checked against `template` (shapes and structure)."""
    payload = read_checkpoint(path)
    if payload["seed"] != seed:
        raise RunError(f"{path}: written by a run with seed {payload['seed']}, resumed with seed {seed}")
    if not np.array_equal(payload["key"], np.asarray(jax.random.key_data(jax.random.key(seed)))):
        raise RunError(f"{path}: seed {seed} gives another PRNG key here (JAX's default PRNG changed)")
    try:
        state = flax.serialization.from_state_dict(template, payload["state"])
    except (KeyError, ValueError) as error:
        raise RunError(f"{path}: does not match this card's networks ({error})") from None
    for (where, want), got in zip(
        jax.tree_util.tree_leaves_with_path(template), jax.tree_util.tree_leaves(state), strict=True
    ):
        if np.shape(got) != want.shape:
            raise RunError(
                f"{path}: {jax.tree_util.keystr(where)} has shape {np.shape(got)}, "
                f"this card and env expect {want.shape}"
            )
    state = jax.tree_util.tree_map(lambda want, got: jnp.asarray(got, dtype=want.dtype), template, state)
    return state, int(payload["update"])


def policy_config(env: AmpEnv, card: ExperimentCard) -> dict[str, Any]:
    """Everything needed to rebuild and run the policy (and read the discriminator) without the card file."""
    return {
        "observation_size": env.observation_size,
        "action_size": env.action_size,
        "amp_observation_size": env.amp_observation_size,
        "activation": ACTIVATION,
        "action_limit": ACTION_LIMIT,
        "observation_clip": card.ppo.observation_clip,
        "ppo": card.ppo.model_dump(mode="json"),
        "amp": card.amp.model_dump(mode="json"),
    }


# ---- policy export -------------------------------------------------------------------------------------

PolicyApply = Callable[..., jax.Array]


def export_policy(
    checkpoint_path: str | Path, *, noisy: bool = False
) -> tuple[PolicyApply, dict, normalizer.RunningStats]:
    """(apply_fn, params, normaliser) of a checkpoint; apply_fn(params, normaliser, obs) is the
    deterministic action (the Gaussian's mean, clipped to the env's range); with `noisy`,
    apply_fn(params, normaliser, obs, key) samples the Gaussian as training does, then clips. Needs
    `policy_config.json` beside the checkpoint, nothing of the trainer's state."""
    path = Path(checkpoint_path)
    config_path = path.parent / POLICY_CONFIG
    if not config_path.is_file():
        raise RunError(f"{path}: {config_path.name} is missing beside the checkpoint")
    config = json.loads(config_path.read_text())
    ppo = PpoConfig.model_validate(config["ppo"])
    state = read_checkpoint(path)["state"]
    params = jax.tree_util.tree_map(jnp.asarray, state["actor_critic"]["policy"])
    stats = normalizer.RunningStats(**{k: jnp.asarray(v) for k, v in state["obs_stats"].items()})
    if stats.size != config["observation_size"]:
        raise RunError(
            f"{path}: observation normaliser has {stats.size} values, "
            f"{config_path.name} says observation_size {config['observation_size']}"
        )
    if config["activation"] not in ACTIVATIONS:
        raise RunError(
            f"{config_path}: activation {config['activation']!r} is not one of {list(ACTIVATIONS)}"
        )
    limit, activation = float(config["action_limit"]), config["activation"]
    clip = float(config["observation_clip"])

    def apply_fn(
        params: dict, stats: normalizer.RunningStats, obs: jax.Array, key: jax.Array | None = None
    ) -> jax.Array:
        mean, log_std = policy_distribution(params, ppo, normalizer.normalize(stats, obs, clip), activation)
        if noisy:
            mean = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
        return jnp.clip(mean, -limit, limit)

    return apply_fn, params, stats


def write_policy_file(checkpoint_path: str | Path) -> Path:
    """The checkpoint's policy as a framework-neutral policy file beside it (`policy_file`), with the
    observation and AMP normalisers; the same actions as `load_policy` of the checkpoint."""
    path = Path(checkpoint_path)
    _, params, stats = export_policy(path)
    config = json.loads((path.parent / POLICY_CONFIG).read_text())
    amp_stats = normalizer.RunningStats(
        **{k: jnp.asarray(v) for k, v in read_checkpoint(path)["state"]["amp"]["amp_stats"].items()}
    )
    torso = params["params"]["torso"]
    names = [f"hidden_{i}" for i in range(len(torso) - 1)] + ["mean"]
    return policy_file.write(
        path.with_name(path.stem.replace("ckpt_", "policy_", 1) + policy_file.SUFFIX),
        layers=[(np.asarray(torso[n]["kernel"]), np.asarray(torso[n]["bias"])) for n in names],
        observation_size=config["observation_size"],
        action_size=config["action_size"],
        activation=config["activation"],
        observation_mean=np.asarray(stats.mean),
        observation_scale=np.asarray(normalizer.scale(stats)),
        observation_clip=config["observation_clip"],
        log_std=np.asarray(params["params"]["log_std"]),
        action_limit=config["action_limit"],
        amp_observation_mean=np.asarray(amp_stats.mean),
        amp_observation_scale=np.asarray(normalizer.scale(amp_stats)),
    )


def load_policy(checkpoint_path: str | Path) -> Callable[[jax.Array], jax.Array]:
    """A jitted `obs -> action` function (deterministic) from a checkpoint or policy file."""
    if policy_file.is_policy_file(checkpoint_path):
        return policy_file.players(checkpoint_path)[0]
    apply_fn, params, stats = export_policy(checkpoint_path)
    return jax.jit(partial(apply_fn, params, stats))


def load_noisy_policy(checkpoint_path: str | Path) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """A jitted `(obs, key) -> action` function: mean + std x Gaussian noise, clipped to the action range,
    exactly as the trainer's rollouts act (what the recorder plays by default)."""
    if policy_file.is_policy_file(checkpoint_path):
        return policy_file.players(checkpoint_path)[1]
    apply_fn, params, stats = export_policy(checkpoint_path, noisy=True)
    return jax.jit(partial(apply_fn, params, stats))


# ---- the loop ------------------------------------------------------------------------------------------


def committed(tree: Any) -> Any:
    """The arrays of `tree` committed to the default device. A fresh or restored state holds uncommitted
    arrays and an update's outputs are committed; a compiled update keys on that, so without this the
    second update compiles the whole update again."""
    return jax.device_put(tree, jax.devices()[0])


class FusedRollouts:
    """A `JaxEnv`'s batch and updates: rollout and learning in one compiled call (traced once per card
    and code, `program_cache`)."""

    def __init__(self, env: JaxEnv, card: ExperimentCard, seed: int):
        self.env, self.card = env, card
        self.placed_env = committed(env)
        envs, ppo, amp = card.training.envs, card.ppo, card.amp
        reset = program_cache.cached_jit(
            "reset_envs", lambda env, key: reset_envs(env, envs, key), env, static_key=f"envs={envs}"
        )
        self.carry = reset(self.placed_env, committed(update_keys(seed, 0)[0]))
        self._update = program_cache.cached_jit(
            "update_step",
            lambda env, *args: update_step(env, ppo, amp, *args),
            env,
            static_key=repr((ppo, amp)),
        )

    def snapshot(self) -> RolloutCarry:
        return self.carry

    def restore(self, saved: RolloutCarry) -> None:
        self.carry = saved

    def update(self, state: TrainState, key: jax.Array, reference: jax.Array):
        state, carry, key, reference = committed((state, self.carry, key, reference))
        new_state, self.carry, metrics, health = self._update(self.placed_env, state, carry, key, reference)
        return new_state, metrics, health


class HostRollouts:
    """A `BatchedEnv`'s batch and updates: rollout on the host, then the compiled learning step."""

    def __init__(self, env: BatchedEnv, card: ExperimentCard, seed: int):
        if env.num_envs != card.training.envs:
            raise ValueError(
                f"card {card.name}: env has {env.num_envs} envs, training.envs is {card.training.envs}"
            )
        self.env, self.card = env, card
        zeros = np.zeros(env.num_envs, np.float32)
        self.carry = HostCarry(env.reset(seed), zeros, zeros.copy())

    def snapshot(self) -> dict[str, Any]:
        return {"env": self.env.state_dict(), "carry": self.carry}

    def restore(self, saved: dict[str, Any]) -> None:
        self.env.load_state_dict(saved["env"])
        self.carry = saved["carry"]

    def update(self, state: TrainState, key: jax.Array, reference: jax.Array):
        rollout_key = jax.random.split(key, 3)[0]
        state = committed(state)
        self.carry, tr = host_rollout(self.env, self.card.ppo, state, self.carry, rollout_key)
        return learn_step(self.card.ppo, self.card.amp, state, tr, key, reference)


def rollouts_for(env: AmpEnv, card: ExperimentCard, seed: int) -> FusedRollouts | HostRollouts:
    """The env's batch, freshly reset, with the update that suits it."""
    return HostRollouts(env, card, seed) if is_batched(env) else FusedRollouts(env, card, seed)


def _start(
    env: AmpEnv, card: ExperimentCard, seed: int, checkpoint_dir: Path, resume: bool
) -> tuple[TrainState, FusedRollouts | HostRollouts, int]:
    """(train state, env batch, first update): fresh, or from checkpoints/latest and its env batch."""
    state = init_train_state(env, card, seed)
    batch = rollouts_for(env, card, seed)
    if not resume:
        if (checkpoint_dir / "latest").exists():
            raise RunError(
                f"{checkpoint_dir}: holds checkpoints already; resume it or choose a new run folder"
            )
        return state, batch, 0
    state, first = restore_checkpoint(latest_checkpoint(checkpoint_dir.parent), state, seed)
    env_path = checkpoint_dir / env_state_name(first)
    if not env_path.is_file():
        raise RunError(
            f"{env_path}: the env batch of the latest checkpoint is missing; without it the run cannot "
            "continue where it stopped"
        )
    batch.restore(restore_env_state(env_path, batch.snapshot()))
    return state, batch, first


def draw_references(env: AmpEnv, card: ExperimentCard, seed: int, update: int) -> np.ndarray:
    """Update `update`'s fresh reference AMP observations (2 x its transitions), drawn on the host."""
    return env.reference_amp_observations(
        reference_rng(seed, update), 2 * card.training.envs * card.ppo.rollout_steps
    )


def run_update(
    env: AmpEnv,
    card: ExperimentCard,
    seed: int,
    update: int,
    state: TrainState,
    batch: FusedRollouts | HostRollouts,
    reference: np.ndarray,
) -> tuple[TrainState, dict[str, float], np.ndarray]:
    """One update with its finiteness check; raises before anything of the diverged update is kept.
    Returns the next update's reference draw too, made on the host while the compiled update runs."""
    new_state, metrics, health = batch.update(state, update_keys(seed, update)[1], jnp.asarray(reference))
    upcoming = draw_references(env, card, seed, update + 1)
    metrics, health = jax.device_get((metrics, health))
    raise_if_diverged(update, health)
    return new_state, host_scalars(metrics), upcoming


@dataclass
class Throughput:
    """This process's training speed: the first update (which compiles, unless the persistent cache
    had it) apart from the rest, and the wall clock with everything (compile, checkpoints, logging)."""

    steps_per_update: int
    started: float = field(default_factory=time.monotonic)
    update_seconds: list[float] = field(default_factory=list)
    cache_at_start: dict[str, int] = field(default_factory=compile_cache.counts)
    programs_at_start: dict[str, int] = field(default_factory=program_cache.counts)
    first_update_done: float = 0.0

    def add(self, seconds: float) -> None:
        if not self.update_seconds:
            self.first_update_done = time.monotonic()
        self.update_seconds.append(seconds)

    @property
    def update_rate(self) -> float:
        """Env steps per second of the updates after the first (of the first while it is the only one)."""
        timed = self.update_seconds[1:] or self.update_seconds
        return self.steps_per_update * len(timed) / sum(timed)

    @property
    def wall_rate(self) -> float:
        return self.steps_per_update * len(self.update_seconds) / (time.monotonic() - self.started)

    @property
    def compile_seconds(self) -> float:
        """First update's time beyond a typical update's: compiling, or loading from the cache."""
        return max(0.0, self.update_seconds[0] - self.steps_per_update / self.update_rate)

    def record(self) -> dict[str, Any]:
        now = compile_cache.counts()
        return {
            "seconds_to_first_update": self.first_update_done - ampbench.IMPORTED_AT,
            "first_update_seconds": self.update_seconds[0],
            "compile_seconds": self.compile_seconds,
            "updates": len(self.update_seconds),
            "update_env_steps_per_second": self.update_rate,
            "wall_env_steps_per_second": self.wall_rate,
            "compile_cache": {key: now[key] - self.cache_at_start[key] for key in now},
            "traced_programs": {
                key: count - self.programs_at_start[key] for key, count in program_cache.counts().items()
            },
        }


def write_timing(run_dir: Path, started_at: str, throughput: Throughput) -> None:
    """`timing.json`: one entry per start of the run (a resume adds one), rewritten at each checkpoint."""
    path = run_dir / TIMING
    starts = json.loads(path.read_text())["starts"] if path.is_file() else []
    starts = [entry for entry in starts if entry["started_at"] != started_at]
    starts.append({"started_at": started_at, **throughput.record()})
    atomic_write_json(path, {"starts": starts})


def _report(
    writer: SummaryWriter,
    bar: tqdm,
    progress_fn: ProgressFn | None,
    scalars: dict[str, float],
    env_steps: int,
    throughput: Throughput,
) -> None:
    scalars = {
        **scalars,
        "perf/steps_per_second": throughput.update_rate,
        "perf/wall_steps_per_second": throughput.wall_rate,
    }
    for name, value in scalars.items():
        writer.add_scalar(name, value, global_step=env_steps)
    bar.update(env_steps - bar.n)
    eta = (bar.total - env_steps) / throughput.update_rate
    postfix = {"steps/s": f"{throughput.update_rate:.0f}", "eta": tqdm.format_interval(eta)}
    if "episode/length" in scalars:
        postfix["ep_len"] = f"{scalars['episode/length']:.0f}"
    postfix["reward"] = f"{scalars['reward/total']:.3f}"
    bar.set_postfix(postfix)
    if progress_fn is not None:
        progress_fn(env_steps, scalars)


def train(
    env: AmpEnv,
    card: ExperimentCard,
    *,
    seed: int,
    run_dir: str | Path,
    resume: bool,
    progress_fn: ProgressFn | None = None,
    minutes: float | None = None,
) -> TrainResult:
    """Train one seed into `run_dir` (checkpoints/, tb/); `resume` continues from checkpoints/latest.

    `progress_fn(env_steps, scalars)` is called after every update (after its checkpoint, if one was due).
    With `minutes`, the first update that ends past that wall-clock budget writes a checkpoint and stops.
    """
    deadline = None if minutes is None else time.monotonic() + 60.0 * minutes
    check_env_and_card(env, card, seed)
    checkpoint_dir = Path(run_dir) / "checkpoints"
    per_update, updates = schedule(card)
    throughput, started_at = Throughput(per_update), datetime.now(UTC).isoformat(timespec="seconds")
    state, batch, first = _start(env, card, seed, checkpoint_dir, resume)
    atomic_write_json(checkpoint_dir / POLICY_CONFIG, policy_config(env, card))
    history: list[dict[str, float]] = []
    with (
        SummaryWriter(str(Path(run_dir) / "tb")) as writer,
        tqdm(
            total=updates * per_update,
            initial=first * per_update,
            unit="step",
            unit_scale=True,
            bar_format=PROGRESS_FORMAT,
        ) as bar,
    ):
        done = first
        reference = draw_references(env, card, seed, first)
        for update in range(first, updates):
            update_started = time.perf_counter()
            state, scalars, reference = run_update(env, card, seed, update, state, batch, reference)
            throughput.add(time.perf_counter() - update_started)
            done = update + 1
            out_of_time = deadline is not None and time.monotonic() >= deadline
            if done % card.training.checkpoint_every == 0 or done == updates or out_of_time:
                save_env_state(checkpoint_dir, batch.snapshot(), update=done)
                write_policy_file(save_checkpoint(checkpoint_dir, state, update=done, seed=seed))
                prune_env_states(checkpoint_dir)
                write_timing(Path(run_dir), started_at, throughput)
            history.append(scalars)
            _report(writer, bar, progress_fn, scalars, done * per_update, throughput)
            if out_of_time:
                break
    return TrainResult(state, latest_checkpoint(Path(run_dir)), done, done * per_update, history)
