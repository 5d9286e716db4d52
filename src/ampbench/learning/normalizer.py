"""Running mean/variance of observations, so the policy and the discriminator see inputs of unit scale.

The statistics are a pytree (count, mean, M2) updated with Chan et al.'s parallel formula, which merges a
whole batch at once and stays exact for any batch split: updating with A then B equals updating with A+B.
`normalize` clips to +-`clip` (the card's `ppo.observation_clip`) so a rare outlier cannot dominate a
network's input; value targets are normalised without a clip and read back with `denormalize`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

_VARIANCE_FLOOR = 1e-8


@struct.dataclass
class RunningStats:
    count: jax.Array
    mean: jax.Array
    m2: jax.Array

    @property
    def size(self) -> int:
        return int(self.mean.shape[-1])


def init_stats(size: int) -> RunningStats:
    """Empty statistics; until the first update `normalize` only clips."""
    return RunningStats(count=jnp.zeros(()), mean=jnp.zeros((size,)), m2=jnp.zeros((size,)))


def _check_width(stats: RunningStats, x: jax.Array, what: str) -> None:
    if x.ndim < 1 or x.shape[-1] != stats.size:
        raise ValueError(f"normalizer.{what}: expected values of shape (..., {stats.size}), found {x.shape}")


def update(stats: RunningStats, batch: jax.Array) -> RunningStats:
    """Merge a batch of shape (..., size) into the statistics."""
    _check_width(stats, batch, "update")
    flat = batch.reshape(-1, stats.size)
    n = flat.shape[0]
    batch_mean = flat.mean(axis=0)
    batch_m2 = jnp.sum((flat - batch_mean) ** 2, axis=0)
    total = stats.count + n
    delta = batch_mean - stats.mean
    return RunningStats(
        count=total,
        mean=stats.mean + delta * (n / total),
        m2=stats.m2 + batch_m2 + delta**2 * (stats.count * n / total),
    )


def variance(stats: RunningStats) -> jax.Array:
    """Population variance; ones before any data, so an empty normaliser is the identity (then clip)."""
    return jnp.where(stats.count > 0, stats.m2 / jnp.maximum(stats.count, 1.0), 1.0)


def scale(stats: RunningStats) -> jax.Array:
    """The divisor of `normalize`: the standard deviation, floored."""
    return jnp.sqrt(variance(stats) + _VARIANCE_FLOOR)


def normalize(stats: RunningStats, x: jax.Array, clip: float | None) -> jax.Array:
    """z-scored values, clipped to +-clip (None: not clipped)."""
    _check_width(stats, x, "normalize")
    scaled = (x - stats.mean) / scale(stats)
    return scaled if clip is None else jnp.clip(scaled, -clip, clip)


def denormalize(stats: RunningStats, z: jax.Array) -> jax.Array:
    """The inverse of an unclipped `normalize`."""
    _check_width(stats, z, "denormalize")
    return z * scale(stats) + stats.mean
