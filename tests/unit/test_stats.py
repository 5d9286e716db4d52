"""IQM and bootstrap intervals: known values, determinism, and intervals that behave like intervals."""

import numpy as np
import pytest

from ampbench.scoring.stats import iqm, seed_level_ci, stratified_bootstrap_ci

pytestmark = pytest.mark.unit


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


def test_seed_level_ci_over_seeds():
    point, low, high = seed_level_ci([1.0, 2.0, 3.0, 4.0], rng=np.random.default_rng(0), reps=1000)
    assert point == pytest.approx(2.5)
    assert 1.0 <= low < point < high <= 4.0
    assert seed_level_ci([5.0], rng=np.random.default_rng(0)) == (5.0, 5.0, 5.0)
    assert seed_level_ci([1.0, 2.0, 3.0], rng=np.random.default_rng(7)) == seed_level_ci(
        [1.0, 2.0, 3.0], rng=np.random.default_rng(7)
    )
