"""Imitation measured without the discriminator: how far the distribution of the policy's AMP features is
from the clips'. The discriminator's own verdict saturates and says nothing about convergence; this
number does not depend on it.

The distance is the Fréchet distance between Gaussians fitted to the two feature sets (LocoMuJoCo reports
the same kind of number), on features standardised by the clips' own mean and standard deviation, so
every column counts in units of how much the clips move it (at least `evaluation.imitation.min_feature_std`,
so a column the clips hardly move does not outweigh the rest). Columns the clips never move are left out
(`HumanoidTask.constant_amp_columns`). A finite sample of the clips against another sample of the clips
is not at 0: `ImitationReference.floor` gives that level for a sample of a given size, the floor a
policy cannot beat.

`frechet_distance` is written against the array API, so the trainer's per-update estimate (numpy on the
host, from moments the compiled update returns) and the score file's use the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from array_api_compat import array_namespace

if TYPE_CHECKING:
    from ampbench.cards import ImitationConfig
    from ampbench.task.humanoid import HumanoidTask


@dataclass(frozen=True)
class FeatureMoments:
    """Mean (A,) and covariance (A, A) of N feature rows."""

    mean: np.ndarray
    covariance: np.ndarray
    count: int


def moments(rows) -> FeatureMoments:
    """Moments of feature rows (N, A), N >= 2 (numpy or JAX arrays; numpy out)."""
    rows = np.asarray(rows, np.float64)
    if rows.ndim != 2 or rows.shape[0] < 2:
        raise ValueError(f"imitation moments need rows of shape (N >= 2, A), found {rows.shape}")
    return FeatureMoments(rows.mean(axis=0), np.cov(rows, rowvar=False), rows.shape[0])


def frechet_distance(mean_a, covariance_a, mean_b, covariance_b):
    """||mu_a - mu_b||^2 + tr(C_a + C_b - 2 (C_a^1/2 C_b C_a^1/2)^1/2): the Fréchet (2-Wasserstein)
    distance between two Gaussians, by two symmetric eigendecompositions (no general matrix square root,
    so it runs in JAX too)."""
    xp = array_namespace(mean_a)
    values, vectors = xp.linalg.eigh(covariance_a)
    root_a = (vectors * xp.sqrt(xp.clip(values, 0.0, None))) @ xp.matrix_transpose(vectors)
    middle = xp.linalg.eigvalsh(root_a @ covariance_b @ root_a)
    cross = xp.sum(xp.sqrt(xp.clip(middle, 0.0, None)))
    return (
        xp.sum((mean_a - mean_b) ** 2)
        + xp.linalg.trace(covariance_a)
        + xp.linalg.trace(covariance_b)
        - 2.0 * cross
    )


@dataclass(frozen=True)
class ImitationReference:
    """The clips' feature statistics a policy is compared with: the standardisation (mean, scale of the
    kept columns) and the clips' own moments in those units."""

    mean: np.ndarray
    scale: np.ndarray
    keep: np.ndarray
    standardized: FeatureMoments

    def distance(self, policy: FeatureMoments) -> float:
        """Fréchet distance of raw-feature moments from the clips', in clip-std units."""
        scale = self.scale[self.keep]
        mean = (policy.mean[self.keep] - self.mean[self.keep]) / scale
        covariance = policy.covariance[np.ix_(self.keep, self.keep)] / np.outer(scale, scale)
        return float(frechet_distance(mean, covariance, self.standardized.mean, self.standardized.covariance))

    def floor(self, clip_rows: np.ndarray) -> float:
        """The distance of a second, independent clip draw (M, A): the level a policy sample of M rows
        cannot beat, since a finite sample of the clips themselves is not at 0."""
        return self.distance(moments(clip_rows))


def imitation_reference(draw: np.ndarray, keep: np.ndarray, min_std: float) -> ImitationReference:
    """The reference fitted to a large clip draw (N, A); `keep` (A,) the columns compared, each scaled by
    max(its std, `min_std` > 0)."""
    draw = np.asarray(draw, np.float64)
    keep = np.asarray(keep, bool)
    mean, scale = draw.mean(axis=0), np.maximum(draw.std(axis=0), min_std)
    return ImitationReference(mean, scale, keep, moments((draw[:, keep] - mean[keep]) / scale[keep]))


def clip_reference(
    task: HumanoidTask, settings: ImitationConfig, rng: np.random.Generator, skill: str | None = None
) -> ImitationReference:
    """The task's reference: `settings.reference_rows` clip draws (of `skill`'s clips, when given), its
    constant columns left out. The trainer and the score file both build theirs here."""
    draw = task.reference_amp_observations(rng, settings.reference_rows, skill=skill)
    return imitation_reference(draw, ~task.constant_amp_mask, settings.min_feature_std)
