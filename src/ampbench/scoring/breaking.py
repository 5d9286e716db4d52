"""The breaking point of a push direction: the largest force a policy survives, found by search.

A probe plays one push force and counts the episodes that were up at the push and stayed up (`successes`
of `n`). The search doubles the force from the start until the success rate drops below the threshold
(or the ceiling is survived: the result is then a lower bound, reported as "> ceiling"), then bisects in
log force between the last force survived and the first failed until they are within the resolution.
The first force failing gives an upper bound ("< start"). Pure: the probe is passed in, so it is tested
without a simulator and every backend is searched the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ampbench.cards import BreakingPointSearch, ExperimentCard
from ampbench.scoring.metrics import push_success
from ampbench.scoring.scenarios import push_scenario
from ampbench.sim.records import EvalScenario, Rollout, ScheduledPush

Probe = Callable[[float], tuple[int, int]]
"""force (N) -> (successes, episodes up at the push)."""


@dataclass
class BreakingPoint:
    """`survived` (N, 0 when even the start failed) and `failed` (N, None when the ceiling was survived)
    bracket the breaking force; `bound` says how to read it."""

    survived: float
    failed: float | None
    probes: list[dict[str, float]] = field(default_factory=list)

    @property
    def bound(self) -> str:
        if self.failed is None:
            return "lower"  # > survived: the ceiling held
        if self.survived == 0.0:
            return "upper"  # < failed: the first probe failed
        return "bracket"

    def text(self) -> str:
        return bracket_text(self.survived, self.failed)


def bracket_text(survived: float, failed: float | None) -> str:
    """ "> 3200 N" (the ceiling held), "< 25 N" (the first probe failed) or "400-436 N"."""
    if failed is None:
        return f"> {survived:.0f} N"
    if survived == 0.0:
        return f"< {failed:.0f} N"
    return f"{survived:.0f}-{failed:.0f} N"


def search_breaking_force(probe: Probe, search: BreakingPointSearch) -> BreakingPoint | None:
    """The bracket around the force where success drops below `search.threshold`; None where a probe
    had no episode up at the push (nothing to judge)."""
    result = BreakingPoint(survived=0.0, failed=None)

    def survives(force: float) -> bool | None:
        successes, n = probe(force)
        result.probes.append({"force": force, "successes": successes, "n": n})
        return None if n == 0 else successes / n >= search.threshold

    force = search.start_force
    while True:
        verdict = survives(force)
        if verdict is None:
            return None
        if not verdict:
            result.failed = force
            break
        result.survived = force
        if force >= search.ceiling_force:
            return result
        force = min(2.0 * force, search.ceiling_force)
    while result.survived > 0 and result.failed / result.survived > 1.0 + search.resolution:
        middle = math.sqrt(result.survived * result.failed)
        verdict = survives(middle)
        if verdict is None:
            return None
        if verdict:
            result.survived = middle
        else:
            result.failed = middle
    return result


def breaking_points(
    card: ExperimentCard, play: Callable[[EvalScenario], Rollout], *, smoke: bool = False
) -> list[dict[str, Any]]:
    """The search of every body x azimuth x duration of the push grid (`smoke`: the first azimuth), each
    probe one push scenario of `evaluation.envs` episodes on the first evaluation seed, played by `play`
    (a simulator with the policy)."""
    search, grid = card.evaluation.breaking_point, card.evaluation.push_grid
    if not search.enabled:
        return []
    found = []
    for body in grid.bodies:
        for azimuth in grid.azimuths[:1] if smoke else grid.azimuths:
            for duration in grid.durations:

                def probe(force: float, body=body, azimuth=azimuth, duration=duration) -> tuple[int, int]:
                    push = ScheduledPush(body, force, duration, azimuth, start_seconds=grid.settle_seconds)
                    scenario = push_scenario(push, card.evaluation.seeds[0], card.evaluation.envs, grid)
                    outcome = push_success(play(scenario), grid.window_seconds)
                    return int(outcome.success[outcome.valid].sum()), int(outcome.valid.sum())

                point = search_breaking_force(probe, search)
                entry = {"body": body, "azimuth_deg": azimuth, "duration": duration}
                if point is None:
                    found.append({**entry, "bound": None, "text": "undefined (no episode up at the push)"})
                    continue
                found.append(
                    {
                        **entry,
                        "survived_force": point.survived,
                        "failed_force": point.failed,
                        "survived_impulse": point.survived * duration,
                        "bound": point.bound,
                        "text": point.text(),
                        "probes": point.probes,
                    }
                )
    return found
