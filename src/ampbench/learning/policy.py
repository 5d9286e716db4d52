"""A trained policy out of a checkpoint: its configuration, the policy file written beside each
checkpoint, and jitted `obs -> action` players of a checkpoint or a policy file (what every simulator
plays when it scores or records)."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ampbench.cards import ExperimentCard, PpoConfig
from ampbench.core.runs import RunError
from ampbench.learning import normalizer, policy_file
from ampbench.learning.checkpoint import read_checkpoint
from ampbench.learning.networks import (
    ACTIVATION,
    ACTIVATIONS,
    policy_distribution,
)
from ampbench.learning.ppo import (
    ACTION_LIMIT,
)
from ampbench.sim.protocol import Policy, TrainingEnv

POLICY_CONFIG = "policy_config.json"


def policy_config(env: TrainingEnv, card: ExperimentCard) -> dict[str, Any]:
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
    _check_shapes(path, params, ppo.hidden, config["observation_size"], config["action_size"])
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


def _check_shapes(
    path: Path, params: dict, hidden: tuple[int, ...], observation_size: int, action_size: int
) -> None:
    """Every policy leaf has the shape the policy config implies, so a damaged or foreign checkpoint is
    refused naming its leaf rather than failing inside a matrix product."""
    widths = [observation_size, *hidden, action_size]
    names = [f"hidden_{i}" for i in range(len(hidden))] + ["mean"]
    expected = {("params", "log_std"): (action_size,)}
    for name, fan_in, fan_out in zip(names, widths[:-1], widths[1:], strict=True):
        expected[("params", "torso", name, "kernel")] = (fan_in, fan_out)
        expected[("params", "torso", name, "bias")] = (fan_out,)
    for keys, shape in expected.items():
        leaf = params
        for key in keys:
            leaf = leaf.get(key) if isinstance(leaf, dict) else None
        found = None if leaf is None else tuple(np.shape(leaf))
        if found != shape:
            raise RunError(
                f"{path}: policy leaf {'/'.join(keys)} has shape {found}, "
                f"{POLICY_CONFIG} (ppo.hidden {list(hidden)}, observation_size {observation_size}, "
                f"action_size {action_size}) expects {shape}"
            )


def policy_file_path(checkpoint_path: Path) -> Path:
    """The policy file written beside a checkpoint: `ckpt_N.msgpack` -> `policy_N.npz`."""
    return checkpoint_path.with_name(checkpoint_path.stem.replace("ckpt_", "policy_", 1) + policy_file.SUFFIX)


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
        policy_file_path(path),
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
    _check_finite(checkpoint_path, params, stats)
    return jax.jit(partial(apply_fn, params, stats))


def _check_finite(checkpoint_path: str | Path, *trees) -> None:
    """Refuse a policy with NaN or inf in its parameters or normaliser: it would play non-finite actions."""
    for path, leaf in jax.tree_util.tree_leaves_with_path(trees):
        if not np.all(np.isfinite(np.asarray(leaf))):
            name = jax.tree_util.keystr(path)
            raise ValueError(
                f"{checkpoint_path}: {name} holds NaN or inf: this policy cannot be played or scored"
            )


def load_noisy_policy(checkpoint_path: str | Path) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """A jitted `(obs, key) -> action` function: mean + std x Gaussian noise, clipped to the action range,
    exactly as the trainer's rollouts act (what the recorder plays by default)."""
    if policy_file.is_policy_file(checkpoint_path):
        return policy_file.players(checkpoint_path)[1]
    apply_fn, params, stats = export_policy(checkpoint_path, noisy=True)
    _check_finite(checkpoint_path, params, stats)
    return jax.jit(partial(apply_fn, params, stats))


def load_players(checkpoint_path: str | Path) -> Policy:
    """Both players of a checkpoint or policy file, as a simulator plays them."""
    return Policy(load_policy(checkpoint_path), load_noisy_policy(checkpoint_path))
