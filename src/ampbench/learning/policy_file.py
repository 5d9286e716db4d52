"""A framework-neutral policy file: what any trainer's Gaussian MLP policy needs to act, as one NPZ.

Keys (format `ampbench-policy`, version 1): `observation_size`, `action_size`, `activation` (`elu`),
`observation_mean`, `observation_scale` and `observation_clip` (the policy reads
clip((obs - mean) / scale, +-clip)), `kernel_<i>` (in, out) and `bias_<i>` of each dense layer in order,
the last one giving the action mean, `log_std` (action,), `action_limit` (actions are clipped to
+-limit), and where the trainer has one, `amp_observation_mean` / `amp_observation_scale` (the
discriminator's input normaliser). Every backend plays it through `policy.load_policy`; skrl runs are
scored through it (`from_skrl_checkpoint`).
"""

from __future__ import annotations

import inspect
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ampbench.core.files import atomic_write_bytes, check_npz_sizes

FORMAT = "ampbench-policy"
VERSION = 1
SUFFIX = ".npz"
_ACTIVATIONS = {"elu": jax.nn.elu}
_REQUIRED = (
    "format",
    "version",
    "observation_size",
    "action_size",
    "activation",
    "observation_mean",
    "observation_scale",
    "observation_clip",
    "log_std",
    "action_limit",
)


class PolicyFileError(ValueError):
    """A policy file is missing keys or disagrees with itself; the message names the file and key."""


def is_policy_file(path: str | Path) -> bool:
    return Path(path).suffix == SUFFIX


def write(path: str | Path, *, layers: list[tuple[np.ndarray, np.ndarray]], **fields) -> Path:
    """Write a policy file; `layers` are (kernel (in, out), bias (out,)) pairs, `fields` the other keys."""
    arrays = {f"kernel_{i}": k for i, (k, _) in enumerate(layers)} | {
        f"bias_{i}": b for i, (_, b) in enumerate(layers)
    }
    path = Path(path)
    buffer = io.BytesIO()
    np.savez(buffer, format=FORMAT, version=VERSION, **fields, **arrays)
    atomic_write_bytes(path, buffer.getvalue())  # a kill mid-write leaves no truncated policy file
    return path


def read(path: str | Path) -> tuple[dict[str, np.ndarray], list[tuple[np.ndarray, np.ndarray]]]:
    """(fields, layers) of a policy file, checked: format and version, keys, shapes along the layers."""
    try:
        check_npz_sizes(Path(path))
        with np.load(path, allow_pickle=False) as data:
            fields = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise PolicyFileError(f"{path}: not a readable policy file ({error})") from None
    missing = [key for key in _REQUIRED if key not in fields]
    if missing:
        raise PolicyFileError(f"{path}: not a policy file of format {FORMAT}: keys {missing} missing")
    if str(fields["format"]) != FORMAT or int(fields["version"]) != VERSION:
        raise PolicyFileError(
            f"{path}: format {fields['format']} version {fields['version']}, "
            f"expected {FORMAT} version {VERSION}"
        )
    for key, value in fields.items():
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise PolicyFileError(f"{path}: {key} holds NaN or inf: this policy cannot be played or scored")
    if str(fields["activation"]) not in _ACTIVATIONS:
        raise PolicyFileError(f"{path}: activation {fields['activation']} is not one of {list(_ACTIVATIONS)}")
    count = sum(1 for key in fields if key.startswith("kernel_"))
    layers = [(fields[f"kernel_{i}"], fields[f"bias_{i}"]) for i in range(count)]
    width = int(fields["observation_size"])
    for i, (kernel, bias) in enumerate(layers):
        if kernel.shape[0] != width or bias.shape != kernel.shape[1:]:
            raise PolicyFileError(
                f"{path}: kernel_{i} has shape {kernel.shape} and bias_{i} {bias.shape}, "
                f"expected ({width}, n) and (n,)"
            )
        width = kernel.shape[1]
    if not layers or width != int(fields["action_size"]) or fields["log_std"].shape != (width,):
        raise PolicyFileError(
            f"{path}: the last layer gives {width} values and log_std has shape {fields['log_std'].shape}, "
            f"expected action_size {int(fields['action_size'])}"
        )
    return fields, layers


def players(path: str | Path) -> tuple[Callable, Callable]:
    """Jitted (obs -> mean action, (obs, key) -> mean + std x Gaussian noise), both clipped to the limit."""
    fields, layers = read(path)
    act = _ACTIVATIONS[str(fields["activation"])]
    params = [(jnp.asarray(k, jnp.float32), jnp.asarray(b, jnp.float32)) for k, b in layers]
    mean_in, scale = jnp.asarray(fields["observation_mean"]), jnp.asarray(fields["observation_scale"])
    clip, limit = float(fields["observation_clip"]), float(fields["action_limit"])
    std = jnp.exp(jnp.asarray(fields["log_std"], jnp.float32))

    def mean(obs):
        x = jnp.clip((obs - mean_in) / scale, -clip, clip)
        for kernel, bias in params[:-1]:
            x = act(x @ kernel + bias)
        return x @ params[-1][0] + params[-1][1]

    def deterministic(obs):
        return jnp.clip(mean(obs), -limit, limit)

    def noisy(obs, key):
        mu = mean(obs)
        return jnp.clip(mu + std * jax.random.normal(key, mu.shape), -limit, limit)

    return jax.jit(deterministic), jax.jit(noisy)


def from_skrl_checkpoint(
    checkpoint: str | Path, path: str | Path, *, action_limit: float, observation_clip: float
) -> Path:
    """The policy of a skrl AMP checkpoint (GaussianMixin MLP, RunningStandardScaler) as a policy file."""
    import torch
    from skrl.resources.preprocessors.torch import RunningStandardScaler

    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)  # tensors only: no code runs
    policy = {k: v.numpy() for k, v in saved["policy"].items()}
    weights = sorted(
        (int(k.split(".")[1]), k) for k in policy if k.startswith("net_container.") and k.endswith(".weight")
    )
    layers = [(policy[k].T, policy[k.removesuffix("weight") + "bias"]) for _, k in weights]
    defaults = inspect.signature(RunningStandardScaler.__init__).parameters
    epsilon = defaults["epsilon"].default  # the mapping leaves skrl's own; it sets the clip
    obs, amp = saved["observation_preprocessor"], saved["amp_observation_preprocessor"]
    return write(
        path,
        layers=layers,
        observation_size=layers[0][0].shape[0],
        action_size=layers[-1][0].shape[1],
        activation="elu",
        observation_mean=obs["running_mean"].numpy(),
        observation_scale=np.sqrt(obs["running_variance"].numpy()) + epsilon,
        observation_clip=observation_clip,
        log_std=policy["log_std_parameter"],
        action_limit=action_limit,
        amp_observation_mean=amp["running_mean"].numpy(),
        amp_observation_scale=np.sqrt(amp["running_variance"].numpy()) + epsilon,
    )
