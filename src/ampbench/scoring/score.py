"""Turn evaluation rollouts into one JSON score document per run, and file it with its provenance.

The document holds point estimates with 95% intervals over the run's evaluation episodes (continuous
metrics: bootstrap resampled within each evaluation seed; success rates: Wilson score), the push
success table (conditional on reaching the push, and unconditional), the fall rule it judged falls
by, the card's expectations checked like tests, and is written to
`results/<card>/<backend>/<run-id>/scores.json` (`ampbench.scoring.score_files`). The report is built
from these files only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ampbench.cards import Expectation, ExperimentCard
from ampbench.scoring import falls, metrics, stats
from ampbench.scoring.falls import FALL_RULE
from ampbench.scoring.imitation import ClipDistribution, imitation_summary
from ampbench.scoring.scenarios import PUSH_START_JITTER_SECONDS, kept_whole
from ampbench.sim.records import Rollout
from ampbench.task.gait import GAIT_EVENTS

SCHEMA_VERSION = 2
BOOTSTRAP_REPS = 2000
ALPHA = 0.05
KM_MAX_POINTS = 200


class ScoreError(ValueError):
    """Rollouts or a score file that cannot be used; the message names the file or scenario and key."""


def finite_or_none(value: float) -> float | None:
    """JSON has no NaN: undefined values (no valid episode) are written as null."""
    value = float(value)
    return value if math.isfinite(value) else None


def _interval(point: float, low: float, high: float) -> dict[str, float | None]:
    return {"point": finite_or_none(point), "low": finite_or_none(low), "high": finite_or_none(high)}


def _per_seed(rollouts: Sequence[Rollout], values) -> dict[int, np.ndarray]:
    """Group per-env values by evaluation seed, dropping NaN (envs where the metric is undefined)."""
    pooled = metrics.concat_by_seed(
        (rollout.scenario.seed, np.asarray(value, dtype=float))
        for rollout, value in zip(rollouts, values, strict=True)
    )
    return {seed: v[np.isfinite(v)] for seed, v in pooled.items() if np.isfinite(v).any()}


def _continuous_summary(
    per_seed: dict[int, np.ndarray], rng: np.random.Generator, *, episodes: int | None = None
) -> dict[str, Any] | None:
    """Mean and IQM with stratified intervals, the per-seed means, and n; None without any value.
    `episodes` (the envs the metric was asked of) adds `defined_fraction`: the share of episodes a
    conditional figure rests on (e.g. tracking error counts only episodes that were up after settling)."""
    if not per_seed:
        return None
    n = int(sum(v.size for v in per_seed.values()))
    return {
        **({"defined_fraction": n / episodes} if episodes else {}),
        "mean": _interval(
            *stats.stratified_bootstrap_ci(per_seed, np.mean, reps=BOOTSTRAP_REPS, alpha=ALPHA, rng=rng)
        ),
        "iqm": _interval(
            *stats.stratified_bootstrap_ci(per_seed, stats.iqm, reps=BOOTSTRAP_REPS, alpha=ALPHA, rng=rng)
        ),
        "per_seed_mean": {str(seed): float(v.mean()) for seed, v in sorted(per_seed.items())},
        "n": n,
    }


def _subsample_curve(times: np.ndarray, survival: np.ndarray) -> dict[str, list[float]]:
    """At most KM_MAX_POINTS knots, keeping the first and last: a small file and a faithful plot."""
    keep = np.unique(np.linspace(0, len(times) - 1, min(len(times), KM_MAX_POINTS)).round().astype(int))
    return {"times": times[keep].tolist(), "survival": survival[keep].tolist()}


def _episode_summary(unpushed: Sequence[Rollout], rng: np.random.Generator) -> dict[str, Any]:
    lengths = metrics.episode_length_stats(unpushed)
    seconds = [falls.episode_seconds_of(r) for r in unpushed]
    summary = _continuous_summary(_per_seed(unpushed, seconds), rng)
    started_down = np.concatenate([falls.down_of(r)[:, 0] for r in unpushed])
    stood_up = np.concatenate([falls.first_up_step_of(r) < r.steps for r in unpushed])[started_down]
    return {
        **summary,
        "median": lengths.median_seconds,
        "fall_fraction": lengths.fall_fraction,
        "started_down": int(started_down.sum()),
        "started_down_stood_up": int(stood_up.sum()),
        "km": _subsample_curve(lengths.km_times, lengths.km_survival),
    }


def _rate(per_seed: dict[int, np.ndarray]) -> tuple[dict[str, Any], int, int]:
    """Pooled 0/1 outcomes -> (Wilson interval with its counts, successes, n)."""
    successes = int(sum(int(v.sum()) for v in per_seed.values()))
    n = int(sum(v.size for v in per_seed.values()))
    interval = {**_interval(*stats.proportion_interval(successes, n, ALPHA)), "successes": successes, "n": n}
    return interval, successes, n


def _success_summary(per_seed: dict[int, np.ndarray], per_seed_all: dict[int, np.ndarray]) -> dict[str, Any]:
    """Success rates with Wilson intervals: over episodes that reached the push (`success`, `n`) and
    over every episode, a fall before the push failing (`unconditional`, `n_all`); `reached_push` is
    the share of episodes the conditional rate rests on."""
    success, successes, n = _rate(per_seed)
    unconditional, _, n_all = _rate(per_seed_all)
    return {
        "success": success,
        "successes": successes,
        "n": n,
        "per_seed": {str(seed): float(v.mean()) for seed, v in sorted(per_seed.items()) if v.size},
        "unconditional": unconditional,
        "n_all": n_all,
        "per_seed_unconditional": {
            str(seed): float(v.mean()) for seed, v in sorted(per_seed_all.items()) if v.size
        },
        "reached_push": finite_or_none(n / n_all) if n_all else None,
    }


def _cell_entry(row: metrics.SuccessRow) -> dict[str, Any]:
    return {
        "body": row.body,
        "force": row.force,
        "duration": row.duration,
        "azimuth_deg": row.azimuth_deg,
        "impulse": row.impulse,
        "delta_v": finite_or_none(row.delta_v),
        "invalid": row.invalid,
        **_success_summary(row.success_per_seed, row.success_all_per_seed),
    }


def _pooled_by_seed(group: Sequence[metrics.SuccessRow], outcomes: str) -> dict[int, np.ndarray]:
    return metrics.concat_by_seed(pair for row in group for pair in getattr(row, outcomes).items())


def _force_duration_entries(rows: Sequence[metrics.SuccessRow]) -> list[dict[str, Any]]:
    """Push success per force x duration, pooled over bodies and azimuths (the expectations' unit)."""
    groups: dict[tuple[float, float], list[metrics.SuccessRow]] = {}
    for row in rows:
        groups.setdefault((row.force, row.duration), []).append(row)
    entries = []
    for (force, duration), group in sorted(groups.items()):
        delta_v = [row.delta_v for row in group if math.isfinite(row.delta_v)]
        entries.append(
            {
                "force": force,
                "duration": duration,
                "impulse": force * duration,
                "delta_v": float(np.mean(delta_v)) if delta_v else None,
                "invalid": sum(row.invalid for row in group),
                **_success_summary(
                    _pooled_by_seed(group, "success_per_seed"), _pooled_by_seed(group, "success_all_per_seed")
                ),
            }
        )
    return entries


def _tracking_by_skill(
    card: ExperimentCard, unpushed: Sequence[Rollout], tracking: list[np.ndarray], rng: np.random.Generator
) -> dict[str, Any]:
    """Tracking error of the envs commanded each skill (the command's one-hot part, fixed in evaluation)."""
    by_skill = {}
    for index, band in enumerate(card.commands.bands):
        values = [
            np.where(np.argmax(r.command[:, 0, 1:], axis=-1) == index, error, np.nan)
            for r, error in zip(unpushed, tracking, strict=True)
        ]
        commanded = sum(int((_commanded_skill(r) == index).sum()) for r in unpushed)
        summary = _continuous_summary(_per_seed(unpushed, values), rng, episodes=commanded)
        if summary is not None:
            by_skill[band.skill] = summary
    return by_skill


def _max_impulse(rows: Sequence[metrics.SuccessRow], threshold: float) -> dict[str, Any]:
    """The grid's largest impulse survived per direction and per body (weakest direction); `capped`
    names the bodies whose value is the grid's top impulse, which was survived: a lower bound (the
    breaking-point search measures past it)."""
    per_direction = metrics.max_impulse_survived(rows, threshold)
    by_body: dict[str, float | None] = {}
    for (body, _), impulse in per_direction.items():
        weakest = by_body.get(body)
        by_body[body] = impulse if weakest is None else weakest if impulse is None else min(weakest, impulse)
    top = {body: max(r.impulse for r in rows if r.body == body) for body in by_body}
    return {
        "threshold": threshold,
        "capped": sorted(b for b, v in by_body.items() if v is not None and math.isclose(v, top[b])),
        "by_direction": [
            {"body": body, "azimuth_deg": azimuth, "impulse": impulse}
            for (body, azimuth), impulse in per_direction.items()
        ],
        "by_body": by_body,
    }


def _expectation_value(expectation: Expectation, doc: dict[str, Any]) -> float | None:
    """The metric's mean over evaluation seeds, as the card's `at_least` is defined."""
    if expectation.metric == "mean_episode_seconds":
        return float(np.mean(list(doc["episode_seconds"]["per_seed_mean"].values())))
    if expectation.force is None or expectation.duration is None:
        raise ScoreError(f"expectation {expectation.model_dump()}: push_success needs force and duration")
    for entry in doc["push_success"]:
        if math.isclose(entry["force"], expectation.force) and math.isclose(
            entry["duration"], expectation.duration
        ):
            rates = list(entry["per_seed_unconditional"].values())
            return float(np.mean(rates)) if rates else None
    cells = sorted({(e["force"], e["duration"]) for e in doc["push_success"]})
    raise ScoreError(
        f"expectation push_success at {expectation.force} N x {expectation.duration} s has no push cell "
        f"in the rollouts (force, duration present: {cells}); add it to evaluation.push_grid"
    )


def _expectations(card: ExperimentCard, doc: dict[str, Any]) -> list[dict[str, Any]]:
    results = []
    for expectation in card.evaluation.expectations:
        value = _expectation_value(expectation, doc)
        results.append(
            {
                **expectation.model_dump(mode="json"),
                "value": value,
                "passed": value is not None and value >= expectation.at_least,
            }
        )
    return results


class Reduced(NamedTuple):
    """A run's rollouts read once, in the order they come: unpushed and endurance rollouts kept whole,
    pushed ones reduced to their push outcomes as they arrive (`scenarios.kept_whole`), so scoring holds
    one pushed scenario's records at a time however large the push grid."""

    unpushed: list[Rollout]
    endurance: list[Rollout]
    grid: list[metrics.PushTrial]
    gait: dict[str, list[metrics.PushTrial]]
    blowups: dict[str, int]
    eval_seeds: list[int]
    rollouts: int


def _reduce(card: ExperimentCard, rollouts: Iterable[Rollout]) -> Reduced:
    unpushed, endurance, grid, gait = [], [], [], {}
    blowups, seeds, count = {"steps": 0, "episodes": 0, "of_episodes": 0}, set(), 0
    for rollout in rollouts:
        try:
            rollout.check()
        except ValueError as error:
            raise ScoreError(
                f"scenario '{rollout.scenario.name}' (seed {rollout.scenario.seed}): {error}"
            ) from None
        count += 1
        seeds.add(rollout.scenario.seed)
        # env steps whose physics blew up (`finite` false: each ends its episode as a fall), and the
        # episodes that had one: a sound policy on a sound card has none
        blowups["steps"] += int((~rollout.finite).sum())
        blowups["episodes"] += int((~rollout.finite).any(axis=1).sum())
        blowups["of_episodes"] += rollout.envs
        scenario = rollout.scenario
        if kept_whole(scenario):
            (endurance if scenario.random_pushes else unpushed).append(rollout)
        elif scenario.gait_event is None:
            grid.append(metrics.push_trial(rollout, card.evaluation.push_grid.window_seconds))
        else:
            trial = metrics.push_trial(rollout, card.evaluation.gait_pushes.window_seconds)
            gait.setdefault(scenario.gait_event, []).append(trial)
        del rollout  # a pushed rollout is freed before the next scenario plays
    if not unpushed:
        raise ScoreError(
            f"no unpushed rollout among {count}: episode length is the headline metric; "
            "play every scenario of `evaluation_scenarios(card)`"
        )
    return Reduced(unpushed, endurance, grid, gait, blowups, sorted(seeds), count)


def _gait_push_success(by_event: dict[str, list[metrics.PushTrial]]) -> list[dict[str, Any]]:
    """Success of the gait-timed pushes per event (pooled over azimuths), with the episodes whose
    event never came (`not_pushed`: up but never pushed, counted in neither rate)."""
    entries = []
    for event in GAIT_EVENTS:
        trials = by_event.get(event)
        if not trials:
            continue
        first = trials[0]
        by_seed = {
            outcomes: metrics.trials_by_seed(trials, outcomes) for outcomes in ("success", "success_all")
        }
        entries.append(
            {
                "event": event,
                "body": first.body,
                "force": first.force,
                "duration": first.duration,
                "not_pushed": sum(trial.not_pushed for trial in trials),
                **_success_summary(by_seed["success"], by_seed["success_all"]),
            }
        )
    return entries


def _endurance(
    card: ExperimentCard, endurance: Sequence[Rollout], rng: np.random.Generator
) -> dict[str, Any] | None:
    """Survival under the card's own training pushes, in seconds and in steps of a 100 Hz env (the
    unit the design's expected episode lengths use), beside the card's expected value: the mean of the
    episode lengths (capped at the limit) and the constant-hazard mean time to a fall (uncapped)."""
    if not endurance:
        return None
    summary = _episode_summary(endurance, rng)
    exposure = float(sum(falls.episode_seconds_of(r).sum() for r in endurance))
    fell = int(sum((falls.fall_step_of(r) >= 0).sum() for r in endurance))
    mean, low, high = stats.mean_time_to_fall(exposure, fell, ALPHA)
    return {
        **summary,
        "episode_limit_seconds": endurance[0].steps * endurance[0].dt,
        "mean_steps_100hz": summary["mean"]["point"] * 100.0,
        "median_steps_100hz": summary["median"] * 100.0,
        "exposure_seconds": exposure,
        "falls": fell,
        "mean_time_to_fall_seconds": _interval(mean, low, high),
        "expected_steps_100hz": card.evaluation.endurance.expected_steps_100hz,
    }


def _strides(
    card: ExperimentCard,
    unpushed: Sequence[Rollout],
    clip_strides: dict[str, dict[str, float | None]],
    settle: float,
    rng: np.random.Generator,
) -> dict[str, Any] | None:
    """Stride period and length of the card's gait foot in the unpushed episodes, beside the clips'."""
    if not unpushed:
        return None
    gait = card.evaluation.gait_pushes
    for rollout in unpushed:
        if gait.foot not in rollout.body_names:
            raise ScoreError(
                f"rollout '{rollout.scenario.name}': evaluation.gait_pushes.foot {gait.foot!r} is not among "
                f"its recorded bodies {list(rollout.body_names)}"
            )
    measured = [
        metrics.rollout_strides(r, r.body_names.index(gait.foot), gait.contact_height, start_seconds=settle)
        for r in unpushed
    ]
    episodes = sum(r.envs for r in unpushed)
    return {
        "foot": gait.foot,
        "period_s": _continuous_summary(
            _per_seed(unpushed, [m[0] for m in measured]), rng, episodes=episodes
        ),
        "length_m": _continuous_summary(
            _per_seed(unpushed, [m[1] for m in measured]), rng, episodes=episodes
        ),
        "clip": clip_strides,
    }


def _commanded_skill(rollout: Rollout) -> np.ndarray:
    """Skill index each env was commanded (the command's one-hot part, fixed in evaluation episodes)."""
    return np.argmax(rollout.command[:, 0, 1:], axis=-1)


def _imitation(
    card: ExperimentCard,
    unpushed: Sequence[Rollout],
    references: dict[str, tuple[np.ndarray, float]],
    settle: float,
    rng: np.random.Generator,
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Imitation error of each env against its commanded skill's reference clip: pooled, and by skill."""
    pooled = [np.full(r.envs, np.nan) for r in unpushed]
    by_skill = {}
    for index, band in enumerate(card.commands.bands):
        if band.skill not in references:
            continue
        positions, dt_ref = references[band.skill]
        errors = []
        for rollout, pool in zip(unpushed, pooled, strict=True):
            commanded = _commanded_skill(rollout) == index
            error = metrics.imitation_error(rollout, positions, dt_ref, start_seconds=settle)
            errors.append(np.where(commanded, error, np.nan))
            pool[commanded] = error[commanded]
        summary = _continuous_summary(_per_seed(unpushed, errors), rng)
        if summary is not None:
            by_skill[band.skill] = summary
    return _continuous_summary(_per_seed(unpushed, pooled), rng), by_skill


def score_rollouts(
    card: ExperimentCard,
    rollouts: Iterable[Rollout],
    *,
    references: dict[str, tuple[np.ndarray, float]] | None = None,
    clips: ClipDistribution | None = None,
    clip_strides: dict[str, dict[str, float | None]] | None = None,
    bootstrap_seed: int = 0,
) -> dict[str, Any]:
    """Score one run's evaluation rollouts into a JSON-ready document (see the module docstring).

    `references` = {skill: (dof positions (frames, dofs), dt)} adds the imitation error, each env
    measured against the reference of the skill it was commanded. `clips` adds the imitation distance
    (`ampbench.scoring.imitation`): the Fréchet distance of the AMP features from the clips'.
    `clip_strides` = {skill: {"period_s", "length_m"}} is written beside the policy's strides.
    Tracking, imitation errors and strides use the unpushed rollouts after `push_grid.settle_seconds`.
    `rollouts` is read once, so a generator that plays each scenario as it is asked for keeps one
    pushed scenario in memory at a time.
    """
    reduced = _reduce(card, rollouts)
    unpushed = reduced.unpushed
    grid = card.evaluation.push_grid
    rng = np.random.default_rng(bootstrap_seed)
    imitation, imitation_by_skill = _imitation(card, unpushed, references or {}, grid.settle_seconds, rng)
    tracking = [metrics.velocity_tracking_error(r, settle_seconds=grid.settle_seconds) for r in unpushed]
    settle_step = round(grid.settle_seconds / card.simulator.control_dt)

    def distance(skill: str | None = None) -> dict[str, Any] | None:
        return imitation_summary(
            unpushed, clips, start_step=settle_step, reps=BOOTSTRAP_REPS, alpha=ALPHA, rng=rng, skill=skill
        )

    rows = metrics.success_curve(reduced.grid)
    doc: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "card": card.name,
        "phase": card.phase,
        "card_hash": card.content_hash(),
        "protocol": {
            "eval_seeds": reduced.eval_seeds,
            "rollouts": reduced.rollouts,
            "settle_seconds": grid.settle_seconds,
            "window_seconds": grid.window_seconds,
            "start_jitter_seconds": PUSH_START_JITTER_SECONDS,
            "fall_rule": FALL_RULE.describe(),
            "headline_push": (
                None if card.evaluation.headline_push is None else card.evaluation.headline_push.model_dump()
            ),
            "gait_pushes": card.evaluation.gait_pushes.model_dump(mode="json"),
            "endurance": card.evaluation.endurance.model_dump(mode="json"),
            "bootstrap": {
                "reps": BOOTSTRAP_REPS,
                "alpha": ALPHA,
                "seed": bootstrap_seed,
                "strata": "eval seed",
            },
            "intervals": {
                "continuous": "percentile bootstrap over this run's evaluation episodes within eval seeds",
                "success": "Wilson score interval over this run's evaluation episodes",
            },
        },
        "physics_blowups": reduced.blowups,
        "episode_seconds": _episode_summary(unpushed, rng),
        "tracking_error": _continuous_summary(
            _per_seed(unpushed, tracking), rng, episodes=sum(r.envs for r in unpushed)
        ),
        "tracking_error_by_skill": _tracking_by_skill(card, unpushed, tracking, rng),
        "imitation_error": imitation,
        "imitation_error_by_skill": imitation_by_skill,
        "imitation_distance": None if clips is None else distance(),
        "imitation_distance_by_skill": {}
        if clips is None
        else {skill: distance(skill) for skill in clips.by_skill},
        "push_cells": [_cell_entry(row) for row in rows],
        "push_success": _force_duration_entries(rows),
        "max_impulse_survived": _max_impulse(rows, card.evaluation.breaking_point.threshold),
        "gait_push_success": _gait_push_success(reduced.gait),
        "endurance": _endurance(card, reduced.endurance, rng),
    }
    # Last, so the bootstrap draws of every figure above are those of score files written before it.
    doc["strides"] = _strides(card, unpushed, clip_strides or {}, grid.settle_seconds, rng)
    doc["expectations"] = _expectations(card, doc)
    return doc
