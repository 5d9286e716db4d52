"""Traced programs kept on disk beside the compilation cache, so a second run skips Python tracing too.

The persistent compilation cache (`compile_cache`) spares XLA's compile, but every process still traces
the MJX update in Python to learn which program to ask for: 8-10 s of a cached start on 2 cores. Here
the traced program is serialised with `jax.export` the first time, under a key made of everything that
decides it (ampbench's files, the versions of JAX, MuJoCo, flax and optax, the devices, the env's own
program key, the static settings and every argument's shape, dtype and sharding), and a later run with
the same key loads it and only asks the compilation cache for its executable. A program is always run
through its exported form, so the first run compiles exactly what later runs load.

A kept file is signed with an HMAC keyed per user (`signing_key`, a private file made on first use), and
its pickled part is read only after the signature checks out: a file planted in the cache folder by
someone else is never unpickled (it is deleted and the program traced again).

An env opts in with a `program_key` attribute: a string that changes whenever its traced program would
(the MJX env: its card, model and flags), or None. Without one, or with the compilation cache off,
functions run as plain `jax.jit`. MJX's Warp implementation has none: its kernels are callbacks of the
process that traced them, which `jax.export` cannot keep.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import pickle
import secrets
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax

from ampbench.core import compile_cache
from ampbench.core.files import atomic_write_bytes
from ampbench.core.provenance import package_versions

FORMAT = 2  # raise when what is stored changes
KEY_BYTES = 32
VERSIONED = ("jax", "jaxlib", "mujoco", "mujoco-mjx", "flax", "optax", "numpy")
_PACKAGE = Path(__file__).resolve().parents[1]  # the ampbench package; its source keys the cache
_counts = {"loaded": 0, "traced": 0}


def signing_key_path() -> Path:
    """The per-user key that signs kept programs: `$XDG_CONFIG_HOME/ampbench/program-cache.key`."""
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "ampbench" / "program-cache.key"


def signing_key() -> bytes:
    """The key, made on first use: 32 random bytes, readable by its owner only, moved into place whole
    (a key file of any other length, say from a killed writer, is made again)."""
    path = signing_key_path()
    if path.is_file():
        key = path.read_bytes()
        if len(key) == KEY_BYTES:
            return key
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".key.")  # mode 0600
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(secrets.token_bytes(KEY_BYTES))
    os.replace(temporary, path)
    return path.read_bytes()


def _sign(payload: bytes) -> bytes:
    return hmac.new(signing_key(), payload, hashlib.sha256).digest() + payload


def _verified(data: bytes) -> bytes:
    """The payload of a signed file; ValueError where the signature is not this user's."""
    digest, payload = data[:32], data[32:]
    if not hmac.compare_digest(digest, hmac.new(signing_key(), payload, hashlib.sha256).digest()):
        raise ValueError("not signed with this user's key")
    return payload


def counts() -> dict[str, int]:
    """Programs this process `loaded` from disk and `traced` (and wrote), so far."""
    return dict(_counts)


@functools.cache
def source_digest() -> str:
    """sha256 of every file of the installed ampbench package (a model file outside it reaches the key
    through the env's `program_key`, which holds the built model)."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(_PACKAGE)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.cache
def _versions() -> str:
    return repr(sorted(package_versions(VERSIONED).items()))


def _describe(leaf: Any) -> str:
    if isinstance(leaf, jax.Array):
        return f"{jax.typeof(leaf)} {leaf.sharding}"
    return f"{type(leaf).__name__} {jax.typeof(leaf)}"


class CachedProgram:
    """`fn` (positional pytree arguments, no static ones: bind those first) run as an exported program,
    loaded from the cache folder's `programs/` when a run with the same key traced it before.

    The arguments' tree structure is not in the key beyond its leaf count: it follows from the code,
    the card and the env, which are."""

    def __init__(self, name: str, fn: Callable[..., Any], *, env_key: str, static_key: str):
        self.name, self.fn = name, fn
        self.env_key, self.static_key = env_key, static_key
        self._calls: dict[str, tuple[Callable[..., Any], Any]] = {}

    def key(self, leaves: list[Any], in_tree: Any) -> str:
        devices = jax.devices()
        parts = [
            f"format={FORMAT}",
            self.name,
            source_digest(),
            _versions(),
            f"{devices[0].platform}:{devices[0].device_kind} x{len(devices)}",
            f"x64={jax.config.jax_enable_x64} precision={jax.config.jax_default_matmul_precision} "
            f"threefry_partitionable={jax.config.jax_threefry_partitionable}",
            self.env_key,
            self.static_key,
            str(in_tree.num_leaves),
            *map(_describe, leaves),
        ]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def __call__(self, *args: Any) -> Any:
        leaves, in_tree = jax.tree_util.tree_flatten(args)
        key = self.key(leaves, in_tree)
        if key not in self._calls:
            self._calls[key] = self._load_or_export(key, leaves, in_tree)
        call, out_tree = self._calls[key]
        return jax.tree_util.tree_unflatten(out_tree, call(*leaves))

    def _load_or_export(self, key: str, leaves: list[Any], in_tree: Any) -> tuple[Callable, Any]:
        path = compile_cache.folder() / "programs" / f"{self.name}-{key[:32]}.bin"
        if path.is_file():
            try:  # unpickled only once its signature shows this user's ampbench wrote it
                out_tree, serialized = pickle.loads(_verified(path.read_bytes()))
                exported = jax.export.deserialize(serialized)
                _counts["loaded"] += 1
                return jax.jit(exported.call), out_tree
            except Exception as error:  # any unreadable or foreign file: trace again and replace it
                warnings.warn(f"{path}: not loaded, traced again ({error})", stacklevel=2)
                path.unlink(missing_ok=True)
        found: dict[str, Any] = {}

        def flat(*flat_leaves):
            out = self.fn(*jax.tree_util.tree_unflatten(in_tree, flat_leaves))
            out_leaves, found["out_tree"] = jax.tree_util.tree_flatten(out)
            return out_leaves

        shardings = tuple(leaf.sharding if isinstance(leaf, jax.Array) else None for leaf in leaves)
        serialized = jax.export.export(jax.jit(flat, in_shardings=shardings))(*leaves).serialize()
        try:
            atomic_write_bytes(path, _sign(pickle.dumps((found["out_tree"], serialized))))
        except OSError as error:  # a full or read-only cache folder costs the next run a trace, no more
            warnings.warn(f"{path}: traced program not kept ({error})", stacklevel=2)
        _counts["traced"] += 1
        # Run what later runs will load: a deserialised program's outputs are never weakly typed, and
        # the next program's key (and trace) would differ if this run's were.
        return jax.jit(jax.export.deserialize(serialized).call), found["out_tree"]


def cached_jit(name: str, fn: Callable[..., Any], env: Any, static_key: str) -> Callable[..., Any]:
    """`fn` as a `CachedProgram` when `env` has a `program_key` and the compilation cache is on, else
    `jax.jit(fn)`."""
    env_key = getattr(env, "program_key", None)
    if env_key is None or compile_cache.folder() is None:
        return jax.jit(fn)
    return CachedProgram(name, fn, env_key=env_key, static_key=static_key)
