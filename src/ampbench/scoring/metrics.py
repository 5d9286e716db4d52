"""Metrics of evaluation rollouts in plain numpy: survival, push robustness, velocity tracking, imitation.

Every function reads `Rollout` records only (no simulator), so one implementation scores both
backends and is tested with synthetic rollouts.

Timing convention: step t of a rollout happens at t x dt seconds after reset; an env that fell at
step f was alive for f + 1 steps (as `Rollout.episode_seconds`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.stats

from ampbench.scoring import falls
from ampbench.sim.records import Rollout, ScheduledPush
from ampbench.task.gait import foot_phase
from ampbench.task.pushes import push_delta_v
from ampbench.task.rewards import heading_velocity

_STEP_TOLERANCE = 1e-6


def kaplan_meier(durations, fell) -> tuple[np.ndarray, np.ndarray]:
    """Product-limit survival curve of episode lengths (`scipy.stats.ecdf` on right-censored data):
    episodes that did not fall are censored.

    Returns step-function knots: `times[0] = 0` with survival 1, then one knot per distinct fall time
    (survival just after it), and a last knot at the longest duration so the curve reaches the time
    limit. At a tie, falls count before censoring (a censored episode is at risk at its own time).
    """
    durations = np.asarray(durations, dtype=float).ravel()
    fell = np.asarray(fell, dtype=bool).ravel()
    if durations.shape != fell.shape or durations.size == 0:
        raise ValueError(
            f"kaplan_meier needs equal, non-empty durations and fell, found {durations.shape}, {fell.shape}"
        )
    if np.any(durations <= 0):
        raise ValueError(f"episode durations must be > 0 s, found minimum {durations.min()}")
    curve = scipy.stats.ecdf(scipy.stats.CensoredData(uncensored=durations[fell], right=durations[~fell])).sf
    at_falls = np.isin(curve.quantiles, durations[fell])
    times = np.concatenate([[0.0], curve.quantiles[at_falls]])
    survival = np.concatenate([[1.0], curve.probabilities[at_falls]])
    if durations.max() > times[-1]:
        times = np.append(times, durations.max())
        survival = np.append(survival, survival[-1])
    return times, survival


@dataclass(frozen=True)
class EpisodeLengthStats:
    """Episode lengths pooled over rollouts. Mean and median count censored episodes at the limit."""

    mean_seconds: float
    median_seconds: float
    fall_fraction: float
    km_times: np.ndarray
    km_survival: np.ndarray


def episode_length_stats(rollouts: Sequence[Rollout]) -> EpisodeLengthStats:
    """Length statistics and survival curve over all envs of `rollouts` (e.g. every evaluation seed)."""
    if not rollouts:
        raise ValueError("episode_length_stats needs at least one rollout, found none")
    seconds = np.concatenate([falls.episode_seconds_of(rollout) for rollout in rollouts])
    fell = np.concatenate([falls.fall_step_of(rollout) >= 0 for rollout in rollouts])
    times, survival = kaplan_meier(seconds, fell)
    return EpisodeLengthStats(
        mean_seconds=float(seconds.mean()),
        median_seconds=float(np.median(seconds)),
        fall_fraction=float(fell.mean()),
        km_times=times,
        km_survival=survival,
    )


@dataclass(frozen=True)
class PushOutcome:
    """Per env: `valid` is True where the env was up when its push started (it had stood and had not
    fallen; an episode still lying from a get-up reset is not); `success` is True where a valid env
    stayed up until `window_seconds` after the push ended; `counted_all` marks the envs of the
    unconditional rate: every env except one that was never pushed (its gait event did not come in
    the wait) and did not fall in the wait either."""

    success: np.ndarray
    valid: np.ndarray
    counted_all: np.ndarray

    @property
    def invalid_count(self) -> int:
        return int((~self.valid).sum())


def _scheduled_push(rollout: Rollout) -> ScheduledPush:
    push = rollout.scenario.push
    if push is None or rollout.push is None:
        raise ValueError(
            f"scenario '{rollout.scenario.name}' (seed {rollout.scenario.seed}) has no push "
            f"(scenario push: {push is not None}, push record: {rollout.push is not None})"
        )
    return push


def push_success(rollout: Rollout, window_seconds: float) -> PushOutcome:
    """Did each env survive its push: no fall before push end + `window_seconds`.

    The push ends `duration` after the env's recorded start step (the scheduled duration, even when a
    fall cut the applied force short). Raises if an env that never fell was not observed to the end of
    its window: the episode was too short for the protocol.
    """
    push = _scheduled_push(rollout)
    start = np.asarray(rollout.push.start_step, dtype=int)
    pushed = start >= 0
    fall = np.asarray(falls.fall_step_of(rollout), dtype=int)
    fell = fall >= 0
    # record t is the state after control step t, which the push starting at step t already acts on:
    # the robot must have stood by the record before it (and not fallen since: `fall >= start` below)
    up_at_push = pushed & (falls.first_up_step_of(rollout) <= np.maximum(start - 1, 0))
    window_steps = (push.duration + window_seconds) / rollout.dt
    observed_steps = np.where(fell, fall, rollout.steps) - start
    truncated = pushed & ~fell & (observed_steps < window_steps - 1 - _STEP_TOLERANCE)
    if truncated.any():
        raise ValueError(
            f"scenario '{rollout.scenario.name}' (seed {rollout.scenario.seed}): {int(truncated.sum())} envs "
            f"end before push end + window ({window_steps:.1f} steps after the push start); "
            f"episode is {rollout.steps} steps"
        )
    valid = up_at_push & (~fell | (fall >= start))
    success = valid & (~fell | (observed_steps >= window_steps - _STEP_TOLERANCE))
    last_start = (push.start_seconds + rollout.scenario.start_jitter_seconds) / rollout.dt
    fell_in_wait = fell & (fall <= last_start + _STEP_TOLERANCE)
    return PushOutcome(success=success, valid=valid, counted_all=pushed | fell_in_wait)


def applied_impulse(rollout: Rollout) -> tuple[np.ndarray, np.ndarray]:
    """(impulse (N·s), velocity change (m/s)) of each env's push as applied up to its fall: a fallen robot
    gets no more credit for the force still applied to it."""
    force = np.asarray(rollout.push.applied_force)
    fall = falls.fall_step_of(rollout)
    last_counted = np.where(fall >= 0, fall, force.shape[1])
    counted = np.arange(force.shape[1])[None, :] <= last_counted[:, None]
    impulse = np.linalg.norm((force * counted[..., None]).sum(axis=1) * rollout.dt, axis=-1)
    return impulse, np.asarray(push_delta_v(impulse, rollout.push.robot_mass))


@dataclass(frozen=True)
class PushTrial:
    """One pushed rollout reduced to what the success curve needs.

    `success` holds the valid envs only (conditional on reaching the push); `success_all` every env,
    a fall before the push counting as a failure (unconditional). `delta_v_per_impulse` (1/kg) is the
    median ratio of the recorded velocity change to the recorded impulse, i.e. the inverse robot mass
    the backend used; NaN when no env received any impulse.
    """

    body: str
    force: float
    duration: float
    azimuth_deg: float
    seed: int
    success: np.ndarray
    success_all: np.ndarray
    invalid: int
    not_pushed: int
    delta_v_per_impulse: float


def push_trial(rollout: Rollout, window_seconds: float) -> PushTrial:
    push = _scheduled_push(rollout)
    outcome = push_success(rollout, window_seconds)
    impulse, delta_v = (np.asarray(values, dtype=float) for values in applied_impulse(rollout))
    pushed = impulse > 0
    ratio = float(np.median(delta_v[pushed] / impulse[pushed])) if pushed.any() else float("nan")
    return PushTrial(
        body=push.body,
        force=push.force,
        duration=push.duration,
        azimuth_deg=push.azimuth_deg,
        seed=rollout.scenario.seed,
        success=outcome.success[outcome.valid],
        success_all=outcome.success[outcome.counted_all],
        invalid=outcome.invalid_count,
        not_pushed=int((~outcome.counted_all).sum()),
        delta_v_per_impulse=ratio,
    )


@dataclass(frozen=True)
class SuccessRow:
    """One push cell over all its trials (seeds). `impulse` = force x duration (N·s); `delta_v` the
    velocity change it gives the whole robot (m/s); `success_per_seed` keeps the valid envs (reached
    the push) and `success_all_per_seed` every env (a fall before the push fails), for intervals."""

    body: str
    force: float
    duration: float
    azimuth_deg: float
    impulse: float
    delta_v: float
    success_rate: float
    n: int
    invalid: int
    success_per_seed: dict[int, np.ndarray]
    success_all_per_seed: dict[int, np.ndarray]


def concat_by_seed(parts: Iterable[tuple[int, np.ndarray]]) -> dict[int, np.ndarray]:
    """(evaluation seed, per-env values) pairs -> each seed's values concatenated, in first-seen order."""
    per_seed: dict[int, list[np.ndarray]] = {}
    for seed, values in parts:
        per_seed.setdefault(seed, []).append(values)
    return {seed: np.concatenate(values) for seed, values in per_seed.items()}


def trials_by_seed(trials: Sequence[PushTrial], outcomes: str) -> dict[int, np.ndarray]:
    """`success` or `success_all` of trials, concatenated per evaluation seed."""
    return concat_by_seed((trial.seed, getattr(trial, outcomes)) for trial in trials)


def _cell_row(trials: list[PushTrial]) -> SuccessRow:
    first = trials[0]
    success = trials_by_seed(trials, "success")
    pooled = np.concatenate(list(success.values()))
    impulse = first.force * first.duration
    ratios = np.array([trial.delta_v_per_impulse for trial in trials])
    inverse_mass = float(np.nanmean(ratios)) if np.isfinite(ratios).any() else float("nan")
    return SuccessRow(
        body=first.body,
        force=first.force,
        duration=first.duration,
        azimuth_deg=first.azimuth_deg,
        impulse=impulse,
        delta_v=0.0 if impulse == 0 else impulse * inverse_mass,
        success_rate=float(pooled.mean()) if pooled.size else float("nan"),
        n=int(pooled.size),
        invalid=sum(trial.invalid for trial in trials),
        success_per_seed=success,
        success_all_per_seed=trials_by_seed(trials, "success_all"),
    )


def success_curve(trials: Sequence[PushTrial]) -> list[SuccessRow]:
    """Success rate per push cell (body x azimuth x duration x force), sorted in that order."""
    cells: dict[tuple[str, float, float, float], list[PushTrial]] = {}
    for trial in trials:
        cells.setdefault((trial.body, trial.azimuth_deg, trial.duration, trial.force), []).append(trial)
    return [_cell_row(cells[key]) for key in sorted(cells)]


def max_impulse_survived(
    rows: Sequence[SuccessRow], threshold: float = 0.9
) -> dict[tuple[str, float], float | None]:
    """Per direction (body, azimuth): the largest impulse up to which the success curve never drops
    below `threshold`.

    All durations of a direction share one impulse axis. Walking up from the smallest impulse, an
    impulse counts when every cell at it has success >= threshold; the walk stops at the first impulse
    that fails or has no valid episode, so a lucky cell above a failure does not count. 0.0 when the
    smallest impulse already fails; None (undefined, not zero) when it has no valid episode.
    """
    directions: dict[tuple[str, float], dict[float, list[SuccessRow]]] = {}
    for row in rows:
        by_impulse = directions.setdefault((row.body, row.azimuth_deg), {})
        by_impulse.setdefault(round(row.impulse, 9), []).append(row)
    result = {}
    for direction, by_impulse in sorted(directions.items()):
        best: float | None = 0.0
        for index, impulse in enumerate(sorted(by_impulse)):
            cells = by_impulse[impulse]
            if index == 0 and not all(row.n > 0 for row in cells):
                best = None
            if not all(row.n > 0 and row.success_rate >= threshold for row in cells):
                break
            best = impulse
        result[direction] = best
    return result


def velocity_tracking_error(rollout: Rollout, *, settle_seconds: float) -> np.ndarray:
    """Per env: mean |forward speed in the heading frame - commanded speed| (m/s) over the steps at or
    after `settle_seconds` while alive; NaN for an env that fell before settling."""
    forward = heading_velocity(
        np.asarray(rollout.root_linear_velocity, dtype=float), np.asarray(rollout.root_rotation, dtype=float)
    )[..., 0]
    error = np.abs(forward - rollout.command[..., 0])
    settled = np.arange(rollout.steps) * rollout.dt >= settle_seconds - _STEP_TOLERANCE
    counted = falls.alive_of(rollout) & settled[None, :]
    total = np.where(counted, error, 0.0).sum(axis=1)
    count = counted.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def strides(contact, horizontal_speed, counted, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Per row: mean stride period (s) and stride length (m) of one foot, from its touchdowns.

    `contact` (rows, steps) is whether the foot is on the floor, `horizontal_speed` (rows, steps) the
    root's speed in the ground plane (m/s), `counted` (rows, steps) the steps to measure (alive, settled:
    a contiguous stretch). A touchdown is a counted step in contact after one that was not; a stride runs
    from one touchdown of the foot to its next, and its length is the root's ground path over it. NaN
    where fewer than two touchdowns were counted.
    """
    contact, counted = np.asarray(contact, bool), np.asarray(counted, bool)
    speed = np.asarray(horizontal_speed, float)
    touchdown = np.zeros_like(contact)
    touchdown[:, 1:] = contact[:, 1:] & ~contact[:, :-1] & counted[:, 1:] & counted[:, :-1]
    path = np.cumsum(speed * dt, axis=1)
    period, length = np.full(len(contact), np.nan), np.full(len(contact), np.nan)
    for row, steps in enumerate(touchdown):
        down = np.flatnonzero(steps)
        if down.size >= 2:
            period[row] = (down[-1] - down[0]) * dt / (down.size - 1)
            length[row] = (path[row, down[-1]] - path[row, down[0]]) / (down.size - 1)
    return period, length


def pose_strides(
    foot_position,
    root_position,
    root_rotation,
    root_linear_velocity,
    counted,
    dt: float,
    contact_height: float,
) -> tuple[np.ndarray, np.ndarray]:
    """`strides` from poses (rows, steps, ...): the foot is on the floor while its body origin is below
    `contact_height` (the rule that times gait pushes), the ground path is the root's. One rule for a
    policy's episodes and for a clip played back."""
    contact, _ = foot_phase(
        np.asarray(foot_position, float),
        np.asarray(root_position, float),
        np.asarray(root_rotation, float),
        contact_height,
    )
    speed = np.linalg.norm(np.asarray(root_linear_velocity, float)[..., :2], axis=-1)
    return strides(contact, speed, counted, dt)


def rollout_strides(
    rollout: Rollout, foot: int, contact_height: float, *, start_seconds: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per env: `pose_strides` of body `foot` (an index into `rollout.body_names`) over the steps at or
    after `start_seconds` while alive."""
    settled = np.arange(rollout.steps) * rollout.dt >= start_seconds - _STEP_TOLERANCE
    return pose_strides(
        rollout.body_positions[:, :, foot],
        rollout.root_position,
        rollout.root_rotation,
        rollout.root_linear_velocity,
        falls.alive_of(rollout) & settled[None, :],
        rollout.dt,
        contact_height,
    )


def _as_sequence(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty (frames, features) array, found shape {array.shape}")
    return array


def _dtw(a, b, *, subsequence: bool = False) -> tuple[float, int]:
    """Accumulated Euclidean cost of the optimal warping path and the number of pairs on it.

    Fills the cost table one anti-diagonal at a time (cells with i + j = k depend only on diagonals
    k - 1 and k - 2), so the O(T x U) work runs as T + U vectorised steps. Ties prefer the diagonal move.
    `subsequence` lets the path start and end anywhere in b (all of a is matched to a part of b).
    """
    a, b = _as_sequence(a, "a"), _as_sequence(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"DTW sequences need the same feature count, found {a.shape[1]} and {b.shape[1]}")
    rows, cols = len(a), len(b)
    cost = np.full((rows + 1, cols + 1), np.inf)
    length = np.zeros((rows + 1, cols + 1), dtype=int)
    cost[0, 0] = 0.0
    if subsequence:
        cost[0, :] = 0.0
    for k in range(2, rows + cols + 1):
        i = np.arange(max(1, k - cols), min(rows, k - 1) + 1)
        j = k - i
        previous = np.stack([cost[i - 1, j - 1], cost[i - 1, j], cost[i, j - 1]])
        previous_length = np.stack([length[i - 1, j - 1], length[i - 1, j], length[i, j - 1]])
        best = np.argmin(previous, axis=0)
        columns = np.arange(i.size)
        cost[i, j] = np.linalg.norm(a[i - 1] - b[j - 1], axis=1) + previous[best, columns]
        length[i, j] = previous_length[best, columns] + 1
    end = int(np.argmin(cost[rows, 1:])) + 1 if subsequence else cols
    return float(cost[rows, end]), int(length[rows, end])


def _resample(frames: np.ndarray, dt_from: float, dt_to: float) -> np.ndarray:
    source_times = np.arange(len(frames)) * dt_from
    target_times = np.arange(0.0, source_times[-1] + _STEP_TOLERANCE, dt_to)
    return np.stack([np.interp(target_times, source_times, column) for column in frames.T], axis=1)


def imitation_error(
    rollout: Rollout, reference_dof_positions, dt_ref: float, *, start_seconds: float = 0.0
) -> np.ndarray:
    """Per env: DTW distance of joint angles to a reference clip segment, divided by the warping path
    length, i.e. the mean joint-space distance (rad) of aligned frames.

    The reference (one cycle of a periodic motion, e.g. a gait clip) is resampled to the rollout's dt
    and repeated twice; each env's joint angles from `start_seconds`, over one reference duration or
    up to its fall, are matched to the best-fitting stretch of it (subsequence DTW), so the gait phase
    the env happens to be in at `start_seconds` costs nothing. NaN where fewer than two frames remain.
    """
    reference = _as_sequence(reference_dof_positions, "reference_dof_positions")
    if reference.shape[1] != rollout.dof_positions.shape[2]:
        raise ValueError(
            f"reference has {reference.shape[1]} DOFs, rollout of '{rollout.scenario.name}' has "
            f"{rollout.dof_positions.shape[2]} ({len(rollout.dof_names)} names)"
        )
    reference = _resample(reference, dt_ref, rollout.dt)
    start = round(start_seconds / rollout.dt)
    alive_steps = falls.alive_of(rollout).sum(axis=1)
    errors = np.full(rollout.envs, np.nan)
    for env in range(rollout.envs):
        frames = min(len(reference), int(alive_steps[env]) - start)
        if frames >= 2:
            segment = rollout.dof_positions[env, start : start + frames]
            cost, path = _dtw(segment, np.concatenate([reference, reference]), subsequence=True)
            errors[env] = cost / path
    return errors
