"""Checkpoints of a training run: the train state (and, beside it, the env batch: physics state, episode
clocks, keys), written atomically, so a run interrupted after a checkpoint and resumed reproduces the
uninterrupted run exactly (on the same device)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from ampbench.core.files import atomic_write_bytes
from ampbench.core.runs import RunError
from ampbench.learning.update import TrainState

CHECKPOINT_FORMAT = 2
KEPT = 2  # the latest checkpoint and env batch and the ones before, to fall back on
TRAVELLING = "travelling"  # payload entry of a `travelling_copy`: what was cut


def checkpoint_name(update: int) -> str:
    return f"ckpt_{update:06d}.msgpack"


def env_state_name(update: int) -> str:
    return f"envs_{update:06d}.msgpack"


def save_checkpoint(checkpoint_dir: Path, state: TrainState, *, update: int, seed: int) -> Path:
    """Write the checkpoint, then point `latest` at it; both atomically, so a crash leaves the old pair.
    `latest` only moves forward: an older update than the one it names is refused (a second writer)."""
    pointer = checkpoint_dir / "latest"
    if pointer.is_file():
        named = pointer.read_text().strip()
        if named.startswith("ckpt_") and int(named[5:11]) > update:
            raise RuntimeError(
                f"{pointer} names {named}, newer than update {update}: another process is writing this run"
            )
    payload = {
        "format": CHECKPOINT_FORMAT,
        "update": update,
        "seed": seed,
        "key": np.asarray(jax.random.key_data(jax.random.key(seed))),
        "state": flax.serialization.to_state_dict(jax.device_get(state)),
    }
    path = checkpoint_dir / checkpoint_name(update)
    atomic_write_bytes(path, flax.serialization.msgpack_serialize(payload))
    atomic_write_bytes(pointer, (path.name + "\n").encode())
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


def prune_checkpoints(checkpoint_dir: Path, keep: int = KEPT) -> None:
    """Remove all but the newest `keep` checkpoints and env batches (a checkpoint holds the AMP replay
    memory, an env batch the physics state of every env: a long run would fill the disk with them);
    the policy file of every checkpoint stays. Called after `latest` points at the newest checkpoint, so
    the one it names always stays."""
    for pattern in ("ckpt_*.msgpack", "envs_*.msgpack"):
        for old in sorted(checkpoint_dir.glob(pattern))[:-keep]:
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
        raise RunError(f"{path}: not an ampbench checkpoint (expected format {CHECKPOINT_FORMAT})")
    return payload


def travelling_copy(path: Path, out: Path, replay_rows: int) -> Path:
    """A copy of the checkpoint at `path` small enough to carry off a machine: the AMP replay memory cut
    to its `replay_rows` newest rows, stored as float16. The env batch (a separate file) does not travel:
    a run resumed from this copy starts new episodes and remembers fewer past policies, so it continues
    the training, not the exact run."""
    payload = read_checkpoint(path)
    replay = payload["state"]["amp"]["replay"]
    data, insert_at, filled = np.asarray(replay["data"]), int(replay["insert_at"]), int(replay["filled"])
    kept = min(replay_rows, filled)
    newest = data[(insert_at - kept + np.arange(kept)) % len(data)]  # oldest first, as inserted
    replay["data"] = newest.astype(np.float16)
    replay["insert_at"], replay["filled"] = np.int32(kept % len(data)), np.int32(kept)
    payload[TRAVELLING] = {"replay_capacity": len(data), "replay_rows": kept, "replay_rows_before": filled}
    atomic_write_bytes(Path(out), flax.serialization.msgpack_serialize(payload))
    return Path(out)


def is_travelling(path: Path) -> bool:
    """Whether the checkpoint is a `travelling_copy` (its env batch was not kept)."""
    return TRAVELLING in read_checkpoint(path)


def _unpack_travelling(payload: dict[str, Any]) -> None:
    """A travelling checkpoint's replay rows back into a memory of the card's capacity, float32."""
    replay = payload["state"]["amp"]["replay"]
    rows = np.asarray(replay["data"], np.float32)
    data = np.zeros((int(payload[TRAVELLING]["replay_capacity"]), rows.shape[1]), np.float32)
    data[: len(rows)] = rows
    replay["data"] = data


def restore_checkpoint(path: Path, template: TrainState, seed: int) -> tuple[TrainState, int]:
    """(state, next update index); the state is checked against `template` (shapes and structure)."""
    payload = read_checkpoint(path)
    if TRAVELLING in payload:
        _unpack_travelling(payload)
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
