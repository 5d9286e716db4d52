"""IQM and bootstrap intervals: known values, determinism, and intervals that behave like intervals."""

import numpy as np
import pytest

from ampbench.scoring.stats import (
    iqm,
    mean_time_to_fall,
    proportion_interval,
    stratified_bootstrap_ci,
    t_interval,
    welch_difference,
)


def test_iqm_is_the_trimmed_mean_when_n_divides_by_four():
    assert iqm([100.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, -50.0]) == pytest.approx(3.5)
    assert iqm([0.0, 1.0, 2.0, 1000.0]) == pytest.approx(1.5)


def test_iqm_small_samples_use_fractional_edge_weights():
    assert iqm([7.0]) == pytest.approx(7.0)
    assert iqm([1.0, 3.0]) == pytest.approx(2.0)
    # n=3 keeps [0.75, 2.25): weights 0.25, 1, 0.25 on the sorted values
    assert iqm([0.0, 10.0, 1.0]) == pytest.approx((0.25 * 0 + 1.0 * 1 + 0.25 * 10) / 1.5)
    # n=5 keeps [1.25, 3.75): weights 0, 0.75, 1, 0.75, 0
    assert iqm([1.0, 2.0, 3.0, 4.0, 50.0]) == pytest.approx((0.75 * 2 + 3 + 0.75 * 4) / 2.5)


def test_iqm_along_an_axis_matches_row_by_row():
    rng = np.random.default_rng(3)
    data = rng.normal(size=(6, 9))
    np.testing.assert_allclose(iqm(data, axis=-1), [iqm(row) for row in data])
    with pytest.raises(ValueError, match="empty"):
        iqm([])


def _strata(rng, sizes, offset=0.0):
    return {seed: rng.normal(loc=offset + seed, size=size) for seed, size in enumerate(sizes)}


def test_stratified_bootstrap_contains_point_and_is_deterministic():
    data = _strata(np.random.default_rng(0), [20, 30, 25])
    first = stratified_bootstrap_ci(data, np.mean, reps=500, rng=np.random.default_rng(42))
    again = stratified_bootstrap_ci(data, np.mean, reps=500, rng=np.random.default_rng(42))
    other = stratified_bootstrap_ci(data, np.mean, reps=500, rng=np.random.default_rng(43))
    point, low, high = first
    assert first == again
    assert first != other
    assert low <= point <= high
    assert point == pytest.approx(np.mean(np.concatenate(list(data.values()))))


def test_stratified_bootstrap_keeps_every_stratum_in_each_replicate():
    # two seeds with constant values: every replicate has 3 zeros and 1 one, so the mean never moves
    point, low, high = stratified_bootstrap_ci(
        {0: [0.0, 0.0, 0.0], 1: [1.0]}, np.mean, reps=200, rng=np.random.default_rng(0)
    )
    assert (point, low, high) == (0.25, 0.25, 0.25)


def test_stratified_bootstrap_interval_shrinks_with_more_data():
    rng = np.random.default_rng(1)
    small = stratified_bootstrap_ci(_strata(rng, [10, 10, 10]), iqm, reps=400, rng=np.random.default_rng(0))
    large = stratified_bootstrap_ci(
        _strata(rng, [1000, 1000, 1000]), iqm, reps=400, rng=np.random.default_rng(0)
    )
    assert (large[2] - large[1]) < 0.3 * (small[2] - small[1])


def test_stratified_bootstrap_rejects_empty_input():
    with pytest.raises(ValueError, match="stratum"):
        stratified_bootstrap_ci({}, np.mean, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="'b' has no values"):
        stratified_bootstrap_ci({"a": [1.0], "b": []}, np.mean, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="alpha"):
        stratified_bootstrap_ci({"a": [1.0]}, np.mean, alpha=1.5, rng=np.random.default_rng(0))


def test_t_interval_over_three_runs_is_wider_than_their_range():
    # mean 2, standard error 1/sqrt(3), t(0.975, df=2) = 4.3027: a percentile bootstrap would say [1, 3]
    point, low, high = t_interval([1.0, 2.0, 3.0])
    assert point == pytest.approx(2.0)
    assert (low, high) == pytest.approx((2.0 - 2.48414, 2.0 + 2.48414), abs=1e-5)
    assert t_interval([4.0, 4.0]) == (4.0, 4.0, 4.0)
    with pytest.raises(ValueError, match="at least 2 runs, found 1"):
        t_interval([5.0])


def test_wilson_interval_stays_honest_at_the_edges():
    rate, low, high = proportion_interval(192, 192)
    assert rate == 1.0 and high == pytest.approx(1.0)
    assert low == pytest.approx(192 / (192 + 1.959964**2), abs=1e-6)  # not [1, 1]
    assert proportion_interval(5, 10)[1:] == pytest.approx((0.23659, 0.76341), abs=1e-5)
    assert all(np.isnan(proportion_interval(0, 0)))
    with pytest.raises(ValueError, match=r"successes must be in \[0, n = 3\], found 4"):
        proportion_interval(4, 3)


def test_welch_difference_over_runs():
    difference = welch_difference([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    assert difference.difference == pytest.approx(3.0)
    assert difference.p_value == pytest.approx(0.02131, abs=1e-4)  # t = 3.674 on 4 degrees of freedom
    assert (difference.low, difference.high) == pytest.approx((0.7330, 5.2670), abs=1e-3)
    undefined = welch_difference([1.0, 1.0], [0.0, 0.0])
    assert undefined.difference == -1.0 and np.isnan(undefined.p_value) and np.isnan(undefined.low)
    with pytest.raises(ValueError, match="at least 2 runs per side, found 1 and 3"):
        welch_difference([1.0], [4.0, 5.0, 6.0])


def test_mean_time_to_fall_reaches_past_the_episode_limit():
    # 2 falls in 100 s up: mean 50 s; chi-square bounds 2T / chi2(0.975, 6) and 2T / chi2(0.025, 4)
    assert mean_time_to_fall(100.0, 2) == pytest.approx((50.0, 200 / 14.4494, 200 / 0.484419), rel=1e-4)
    mean, low, high = mean_time_to_fall(100.0, 0)  # nothing fell: only a lower bound
    assert np.isinf(mean) and np.isinf(high) and low == pytest.approx(200 / 7.37776, rel=1e-4)
    with pytest.raises(ValueError, match="exposure must be > 0 s"):
        mean_time_to_fall(0.0, 1)
