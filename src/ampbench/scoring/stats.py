"""Robust aggregates and bootstrap confidence intervals, in numpy, so every score comes with its uncertainty.

Written here rather than taken from `rliable` (rliable 1.2.0 fails to import with pandas 3). All
randomness comes from the `numpy.random.Generator` the caller passes, so a score file is reproducible.
Intervals are percentile bootstrap intervals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

Statistic = Callable[..., Any]
"""A reducer called as `statistic(values, axis=-1)`, e.g. `np.mean`, `np.median` or `iqm`."""


def _iqm_weights(n: int) -> np.ndarray:
    """Weight of each sorted sample in the middle half of [0, n): 1 inside, fractional at the edges."""
    left = np.arange(n, dtype=float)
    overlap = np.minimum(left + 1.0, 0.75 * n) - np.maximum(left, 0.25 * n)
    return np.clip(overlap, 0.0, 1.0)


def iqm(values: Any, axis: int = -1) -> np.ndarray | float:
    """Interquartile mean: the mean of the middle 50% of the sorted samples along `axis`.

    Each sample covers a unit interval of [0, n); the 25% at each end is cut off, and a sample cut
    through the middle keeps the fraction inside. For n divisible by 4 this is the usual 25%-trimmed
    mean; for small n it stays defined and continuous (n=1: the value, n=2 and n=3: a weighted mean).
    """
    data = np.sort(np.asarray(values, dtype=float), axis=axis)
    n = data.shape[axis]
    if n == 0:
        raise ValueError("iqm of an empty sample is undefined (found 0 values)")
    weights = _iqm_weights(n)
    result = np.tensordot(np.moveaxis(data, axis, -1), weights, axes=([-1], [0])) / (0.5 * n)
    return float(result) if np.ndim(result) == 0 else result


def _percentile_interval(replicates: np.ndarray, alpha: float) -> tuple[float, float]:
    low, high = np.percentile(replicates, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(low), float(high)


def _checked_strata(values_per_seed: Mapping[Any, Any]) -> list[np.ndarray]:
    if not values_per_seed:
        raise ValueError("stratified bootstrap needs at least one stratum (seed), found none")
    strata = []
    for key in sorted(values_per_seed, key=str):
        values = np.asarray(values_per_seed[key], dtype=float).ravel()
        if values.size == 0:
            raise ValueError(f"stratum (seed) {key!r} has no values; drop it or supply at least one value")
        strata.append(values)
    return strata


def _check_alpha(alpha: float, reps: int) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), found {alpha}")
    if reps < 1:
        raise ValueError(f"reps must be >= 1, found {reps}")


def stratified_bootstrap_ci(
    values_per_seed: Mapping[int | str, Any],
    statistic: Statistic,
    *,
    reps: int = 2000,
    alpha: float = 0.05,
    rng: np.random.Generator,
) -> tuple[float, float, float]:
    """(point, low, high) of `statistic` over the pooled values, resampling within each seed.

    Each replicate draws, for every seed, as many values as that seed has, with replacement from that
    seed only; so every replicate keeps the seed mix of the data and no seed can drop out.
    """
    _check_alpha(alpha, reps)
    strata = _checked_strata(values_per_seed)
    point = float(statistic(np.concatenate(strata), axis=-1))
    resampled = [values[rng.integers(0, values.size, size=(reps, values.size))] for values in strata]
    replicates = np.asarray(statistic(np.concatenate(resampled, axis=1), axis=-1), dtype=float)
    return (point, *_percentile_interval(replicates, alpha))


def seed_level_ci(
    per_seed: Any,
    statistic: Statistic = np.mean,
    *,
    reps: int = 2000,
    alpha: float = 0.05,
    rng: np.random.Generator,
) -> tuple[float, float, float]:
    """(point, low, high) of `statistic` over one scalar per seed (or run), resampling the seeds.

    With a single seed the interval collapses onto the point: one seed says nothing about spread.
    """
    _check_alpha(alpha, reps)
    values = np.asarray(per_seed, dtype=float).ravel()
    if values.size == 0:
        raise ValueError("seed_level_ci needs at least one per-seed value, found none")
    point = float(statistic(values, axis=-1))
    replicates = np.asarray(
        statistic(values[rng.integers(0, values.size, size=(reps, values.size))], axis=-1), dtype=float
    )
    return (point, *_percentile_interval(replicates, alpha))
