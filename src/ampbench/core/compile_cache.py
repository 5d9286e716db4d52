"""JAX's persistent compilation cache, on by default: a second run of a card loads its compiled update
and rollouts from disk instead of compiling them again (a minute or more for MJX on a CPU).

The cache is keyed by the compiled program itself (JAX hashes it with the jax/jaxlib versions and the
device), not by card, so every card and command share one folder and nothing stale is ever loaded. The
trainer passes the env's arrays (model, reset pool) as arguments, so the programs hold no clip data and
two runs of the same card, seed or not, compile to the same key.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "AMPBENCH_COMPILE_CACHE"
OFF = "off"
MIN_COMPILE_SECONDS = 1.0  # programs that compile faster are not worth a disk read
_EVENTS = {"/jax/compilation_cache/cache_hits": "loaded", "/jax/compilation_cache/cache_misses": "compiled"}
_counts = dict.fromkeys(_EVENTS.values(), 0)


def default_folder() -> Path:
    """$AMPBENCH_COMPILE_CACHE, else the user's cache folder ($XDG_CACHE_HOME or ~/.cache)/ampbench/jax."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "ampbench" / "jax"


def enable(folder: str | Path | None = None) -> Path | None:
    """Point JAX's persistent cache at `folder` (default: `default_folder()`); `"off"` leaves it off.
    Returns the folder in use, or None."""
    chosen = str(folder) if folder is not None else str(default_folder())
    if chosen == OFF:
        return None
    import jax

    path = Path(chosen)
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    global _listening
    if not _listening:
        jax.monitoring.register_event_listener(_count)
        _listening = True
    return path


_listening = False


def folder() -> Path | None:
    """The folder JAX's persistent cache is in (`enable` put it there), or None while it is off."""
    import jax

    chosen = jax.config.jax_compilation_cache_dir
    return Path(chosen) if chosen else None


def _count(event: str, **_: object) -> None:
    if event in _EVENTS:
        _counts[_EVENTS[event]] += 1


def counts() -> dict[str, int]:
    """Programs this process `loaded` from the cache and `compiled` and wrote to it, so far."""
    return dict(_counts)
