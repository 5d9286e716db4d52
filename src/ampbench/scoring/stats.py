"""Aggregates and confidence intervals, so every score comes with its uncertainty and says what it is over.

- Over evaluation episodes of one run: a percentile bootstrap stratified by evaluation seed, written here
  because `scipy.stats.bootstrap` resamples without strata and `rliable` 1.2.0 fails to import with
  pandas 3 (its `arch<8` breaks there; pinning pandas below 3 for every install is the price of using
  it). Randomness comes from the `numpy.random.Generator` the caller passes (reproducible files).
- Over many runs and cards (a phase): rliable's conventions with the same bootstrap, stratified by card:
  the interquartile mean of every run's score and a performance profile (`report.aggregate`).
- Success rates (k of n episodes): Wilson score intervals (`scipy.stats.binomtest`), which stay honest
  at 0 and 1 where a bootstrap collapses to [1, 1].
- Over training runs (seeds): a Student-t interval of the mean (`scipy.stats.t`); a percentile bootstrap
  of 3 runs is [min, max], about a 75% interval.
- Between two backends: Welch's t-test of the difference of run means (`scipy.stats.ttest_ind`).
- Survival past an episode limit: the constant-hazard mean time to a fall with its chi-square interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np
import scipy.stats

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


def _stratified_replicates(strata: list[np.ndarray], reps: int, rng: np.random.Generator) -> np.ndarray:
    """(reps, total) resamples: each row draws, for every stratum, as many values as it has, with
    replacement from that stratum only; so every replicate keeps the strata mix and none drops out."""
    return np.concatenate(
        [values[rng.integers(0, values.size, size=(reps, values.size))] for values in strata], axis=1
    )


def stratified_bootstrap_ci(
    values_per_seed: Mapping[int | str, Any],
    statistic: Statistic,
    *,
    reps: int = 2000,
    alpha: float = 0.05,
    rng: np.random.Generator,
) -> tuple[float, float, float]:
    """(point, low, high) of `statistic` over the pooled values, resampling within each seed (or any
    other stratum: `report.aggregate` passes runs per card, as rliable's stratified bootstrap does)."""
    _check_alpha(alpha, reps)
    strata = _checked_strata(values_per_seed)
    point = float(statistic(np.concatenate(strata), axis=-1))
    replicates = np.asarray(statistic(_stratified_replicates(strata, reps, rng), axis=-1), dtype=float)
    return (point, *_percentile_interval(replicates, alpha))


def performance_profile(
    values_per_stratum: Mapping[Any, Any],
    thresholds: Any,
    *,
    reps: int = 2000,
    alpha: float = 0.05,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fraction of pooled values above each threshold (a performance profile, Agarwal et al. 2021),
    with a percentile band from the stratified bootstrap: (fraction, low, high), one entry per threshold."""
    _check_alpha(alpha, reps)
    strata = _checked_strata(values_per_stratum)
    taus = np.asarray(thresholds, dtype=float)
    point = (np.concatenate(strata)[:, None] > taus).mean(axis=0)
    replicates = (_stratified_replicates(strata, reps, rng)[:, :, None] > taus).mean(axis=1)
    low, high = np.percentile(replicates, [100 * alpha / 2, 100 * (1 - alpha / 2)], axis=0)
    return point, low, high


def proportion_interval(successes: int, n: int, alpha: float = 0.05) -> tuple[float, float, float]:
    """(rate, low, high) of `successes` out of `n` with the Wilson score interval; NaNs when n = 0."""
    if n == 0:
        return math.nan, math.nan, math.nan
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, n = {n}], found {successes}")
    interval = scipy.stats.binomtest(int(successes), int(n)).proportion_ci(1 - alpha, method="wilson")
    return successes / n, float(interval.low), float(interval.high)


def t_interval(values: Any, alpha: float = 0.05) -> tuple[float, float, float]:
    """(mean, low, high) over runs with Student's t (n - 1 degrees of freedom); needs at least 2 runs.
    Runs that all agree give a zero-width interval: the caller decides what uncertainty remains."""
    values = np.asarray(values, dtype=float).ravel()
    if values.size < 2:
        raise ValueError(f"a t interval over runs needs at least 2 runs, found {values.size}")
    mean = float(values.mean())
    spread = scipy.stats.sem(values)
    if spread == 0:
        return mean, mean, mean
    low, high = scipy.stats.t.interval(1 - alpha, df=values.size - 1, loc=mean, scale=spread)
    return mean, float(low), float(high)


class Difference(NamedTuple):
    """Second minus first mean over runs, its Welch interval and the test's two-sided p-value."""

    difference: float
    low: float
    high: float
    p_value: float


def welch_difference(first: Any, second: Any, alpha: float = 0.05) -> Difference:
    """Welch's t-test of mean(second) - mean(first) over runs (unequal variances); 2+ runs per side.
    NaN interval and p-value where neither side has any spread."""
    a, b = (np.asarray(v, dtype=float).ravel() for v in (first, second))
    if a.size < 2 or b.size < 2:
        raise ValueError(f"Welch's test needs at least 2 runs per side, found {a.size} and {b.size}")
    difference = float(b.mean() - a.mean())
    if scipy.stats.sem(a) == 0 and scipy.stats.sem(b) == 0:  # no spread: the test is undefined
        return Difference(difference, math.nan, math.nan, math.nan)
    result = scipy.stats.ttest_ind(b, a, equal_var=False)
    interval = result.confidence_interval(1 - alpha)
    return Difference(difference, float(interval.low), float(interval.high), float(result.pvalue))


def mean_time_to_fall(exposure_seconds: float, falls: int, alpha: float = 0.05) -> tuple[float, float, float]:
    """(mean, low, high) time to a fall under a constant fall rate, from episodes censored at a limit:
    total time up / falls, with the chi-square interval of time-censored exponential data. It reaches
    past the episode limit, where a mean of censored episode lengths cannot; inf where nothing fell."""
    if exposure_seconds <= 0:
        raise ValueError(f"exposure must be > 0 s, found {exposure_seconds}")
    total = 2.0 * exposure_seconds
    low = total / scipy.stats.chi2.ppf(1 - alpha / 2, 2 * falls + 2)
    if falls == 0:
        return math.inf, float(low), math.inf
    return exposure_seconds / falls, float(low), float(total / scipy.stats.chi2.ppf(alpha / 2, 2 * falls))
