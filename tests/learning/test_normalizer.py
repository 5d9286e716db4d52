"""The running observation normaliser: exact merging of batches, identity before data, clipping."""

import jax.numpy as jnp
import numpy as np
import pytest

from ampbench.learning import normalizer


def test_two_batches_give_the_statistics_of_their_union():
    stats = normalizer.update(normalizer.init_stats(1), jnp.array([[1.0], [3.0]]))
    stats = normalizer.update(stats, jnp.array([[5.0]]))
    # values 1, 3, 5: mean 3, population variance (4 + 0 + 4) / 3
    assert float(stats.count) == 3.0
    np.testing.assert_allclose(stats.mean, [3.0])
    np.testing.assert_allclose(normalizer.variance(stats), [8.0 / 3.0], rtol=1e-6)


def test_batched_leading_axes_match_numpy():
    data = np.random.default_rng(0).normal(2.0, 3.0, size=(4, 5, 3)).astype(np.float32)
    stats = normalizer.update(normalizer.init_stats(3), jnp.asarray(data[:2]))
    stats = normalizer.update(stats, jnp.asarray(data[2:]))
    flat = data.reshape(-1, 3)
    np.testing.assert_allclose(stats.mean, flat.mean(0), rtol=1e-5)
    np.testing.assert_allclose(normalizer.variance(stats), flat.var(0), rtol=1e-4)


def test_empty_normaliser_only_clips():
    out = normalizer.normalize(normalizer.init_stats(3), jnp.array([1.0, -2.0, 10.0]), 5.0)
    np.testing.assert_allclose(out, [1.0, -2.0, 5.0], rtol=1e-6)


def test_normalised_values_are_standardised_and_clipped():
    stats = normalizer.update(normalizer.init_stats(1), jnp.array([[-1.0], [1.0]]))  # mean 0, std 1
    out = normalizer.normalize(stats, jnp.array([[0.5], [100.0], [-100.0]]), 3.0)
    np.testing.assert_allclose(out[:, 0], [0.5, 3.0, -3.0], rtol=1e-6)


def test_value_targets_round_trip_unclipped():
    stats = normalizer.update(normalizer.init_stats(1), jnp.array([[10.0], [30.0]]))  # mean 20, std 10
    z = normalizer.normalize(stats, jnp.array([[100.0]]), None)
    np.testing.assert_allclose(z, [[8.0]], rtol=1e-5)
    np.testing.assert_allclose(normalizer.denormalize(stats, z), [[100.0]], rtol=1e-5)


def test_wrong_width_names_expected_and_found_shape():
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\), found \(2, 4\)"):
        normalizer.update(normalizer.init_stats(3), jnp.zeros((2, 4)))
