"""The imitation distance of a scored policy: its AMP features over the unpushed evaluation episodes (from
the settle time to the fall) against the clips' (`ampbench.task.imitation`), with a 95% interval from a
bootstrap over the episodes, the per-seed values, and the floor a sample of the clips of the same size
reaches.

The features come from the recorded poses through the task's own `amp_frame`, so a policy is measured
the way its discriminator saw it, on whichever simulator played it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np
from scipy import stats

from ampbench.scoring.falls import alive_of
from ampbench.sim.records import Rollout
from ampbench.task.humanoid import HumanoidTask
from ampbench.task.imitation import FeatureMoments, ImitationReference


class ClipDistribution(NamedTuple):
    """What a policy's features are compared with: the task that computes them, the clips' reference,
    and one reference per skill (the clips of that skill) where the card has more than one."""

    task: HumanoidTask
    reference: ImitationReference
    by_skill: Mapping[str, ImitationReference] = MappingProxyType({})


def episode_feature_rows(rollout: Rollout, task: HumanoidTask, start_step: int) -> list[np.ndarray]:
    """Per env, the AMP observations (n, A) of its steps from `start_step` while up (the fall rule's
    alive steps), each step with its `amp.history` frames."""
    parts = {
        "root_position": rollout.root_position,
        "root_rotation": rollout.root_rotation,
        "root_linear_velocity": rollout.root_linear_velocity,
        "root_angular_velocity": rollout.body_angular_velocities[:, :, 0],
        "dof_positions": rollout.dof_positions,
        "dof_velocities": rollout.dof_velocities,
        "key_body_positions": rollout.body_positions[:, :, task.key_body_ids - 1],
        "joint_torques": rollout.joint_torques,
    }
    frames = np.asarray(task.amp_frame(parts), np.float64)  # (envs, steps, F)
    history = task.card.amp.history
    steps = frames.shape[1] - history + 1
    windows = np.concatenate([frames[:, k : k + steps] for k in range(history)], axis=-1)
    alive = alive_of(rollout)[:, history - 1 :]
    alive[:, : max(0, start_step - (history - 1))] = False
    return [windows[env][alive[env]] for env in range(rollout.envs)]


def _pooled(sums: np.ndarray, outer: np.ndarray, counts: np.ndarray) -> FeatureMoments:
    """Moments of the union of episodes from their row sums, outer-product sums and row counts."""
    n = counts.sum()
    mean = sums.sum(axis=0) / n
    covariance = (outer.sum(axis=0) - n * np.outer(mean, mean)) / (n - 1)
    return FeatureMoments(mean, covariance, int(n))


def imitation_summary(
    unpushed: Sequence[Rollout],
    clips: ClipDistribution,
    *,
    start_step: int,
    reps: int,
    alpha: float,
    rng: np.random.Generator,
    skill: str | None = None,
) -> dict[str, Any] | None:
    """Distance of the pooled episodes with its bootstrap interval over episodes, per eval seed, and the
    floor; `skill`: the episodes commanded that skill against its own clips. None where fewer than two
    episodes were up after the settle time; a seed whose episodes hold one row has None."""
    task = clips.task
    reference = clips.reference if skill is None else clips.by_skill[skill]
    seeds, sums, outer, counts = [], [], [], []
    for rollout in unpushed:
        commanded = np.argmax(rollout.command[:, 0, 1:], axis=-1)
        for env, rows in enumerate(episode_feature_rows(rollout, task, start_step)):
            if skill is not None and task.skill_names[commanded[env]] != skill:
                continue
            if len(rows):
                seeds.append(rollout.scenario.seed)
                sums.append(rows.sum(axis=0))
                outer.append(rows.T @ rows)
                counts.append(len(rows))
    if len(counts) < 2:  # an interval over episodes needs two
        return None
    sums, outer, counts, seeds = np.asarray(sums), np.asarray(outer), np.asarray(counts), np.asarray(seeds)

    def distance(episodes: np.ndarray) -> float:
        chosen = np.asarray(episodes, int)
        if counts[chosen].sum() < 2:
            return np.nan
        return reference.distance(_pooled(sums[chosen], outer[chosen], counts[chosen]))

    everything = np.arange(len(counts))
    boot = stats.bootstrap(
        (everything,),
        distance,
        n_resamples=reps,
        confidence_level=1 - alpha,
        method="percentile",
        vectorized=False,
        rng=rng,
    ).confidence_interval  # every resample holds >= 2 rows: each episode has one or more
    rows = int(counts.sum())
    per_seed = {int(seed): distance(everything[seeds == seed]) for seed in np.unique(seeds)}
    return {
        "point": distance(everything),
        "low": float(boot.low),
        "high": float(boot.high),
        "per_seed": {seed: value if np.isfinite(value) else None for seed, value in per_seed.items()},
        "floor": reference.floor(task.reference_amp_observations(rng, rows, skill=skill)),
        "rows": rows,
        "episodes": len(counts),
    }
