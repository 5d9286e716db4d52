"""The Fréchet distance of `ampbench.task.imitation` against the textbook formula (scipy's matrix square
root), the same in JAX as in numpy, and the reference's standardisation and floor."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from scipy import linalg

from ampbench.task.imitation import frechet_distance, imitation_reference, moments


def random_gaussian(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    factor = rng.standard_normal((size, size))
    return rng.standard_normal(size), factor @ factor.T / size + 0.1 * np.eye(size)


def textbook(mean_a, cov_a, mean_b, cov_b) -> float:
    root = linalg.sqrtm(cov_a @ cov_b).real
    return float(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a + cov_b - 2 * root))


def test_frechet_distance_matches_the_textbook_formula_in_numpy_and_jax():
    rng = np.random.default_rng(0)
    a, b = random_gaussian(rng, 12), random_gaussian(rng, 12)
    expected = textbook(*a, *b)
    assert np.isclose(frechet_distance(*a, *b), expected, rtol=1e-8)
    in_jax = frechet_distance(*(jnp.asarray(x, jnp.float32) for x in (*a, *b)))
    assert np.isclose(float(in_jax), expected, rtol=1e-3)
    assert np.isclose(frechet_distance(*a, *a), 0.0, atol=1e-8)


def test_the_reference_scales_columns_by_at_least_min_std_and_leaves_out_unkept_ones():
    rng = np.random.default_rng(1)
    draw = rng.standard_normal((5000, 3)) * np.array([1.0, 0.001, 0.0]) + 4.0
    reference = imitation_reference(draw, keep=np.array([True, True, False]), min_std=0.05)
    assert np.allclose(reference.scale, [1.0, 0.05, 0.05], rtol=0.05)
    shifted = draw + np.array([0.0, 0.05, 100.0])  # one min_std on column 1; column 2 is not compared
    assert np.isclose(reference.distance(moments(shifted)), 1.0, atol=0.05)


def test_the_floor_shrinks_with_the_sample_and_a_shifted_sample_is_far_above_it():
    rng = np.random.default_rng(2)
    mean, covariance = random_gaussian(rng, 6)
    draw = rng.multivariate_normal(mean, covariance, size=20000)
    reference = imitation_reference(draw, np.ones(6, bool), min_std=1e-3)
    small = reference.floor(rng.multivariate_normal(mean, covariance, size=200))
    large = reference.floor(rng.multivariate_normal(mean, covariance, size=5000))
    assert large < small < 0.5
    shifted = reference.distance(moments(rng.multivariate_normal(mean + 1.0, covariance, size=200)))
    assert shifted > 10 * small
