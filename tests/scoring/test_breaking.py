"""The breaking-point search finds a known breaking force within its resolution, reports a survived
ceiling as a lower bound and a failed start as an upper bound, and probes about log2(range) + a few
times."""

from __future__ import annotations

import numpy as np
import pytest

from ampbench.cards import BreakingPointSearch
from ampbench.scoring.breaking import breaking_points, search_breaking_force
from tests.rolloutfactory import SMALL_EVALUATION, _protocol_falls, small_card, synthetic_rollout

SEARCH = BreakingPointSearch(start_force=25.0, ceiling_force=3200.0, threshold=0.9, resolution=0.05)


def source(breaking: float, envs: int = 64, seed: int = 0):
    """Episodes survive a push below `breaking` N and fall above it, with a soft edge of +-3%."""
    rng = np.random.default_rng(seed)

    def probe(force: float) -> tuple[int, int]:
        edge = breaking * (1 + 0.03 * rng.standard_normal(envs))
        return int((force < edge).sum()), envs

    return probe


@pytest.mark.parametrize("breaking", [37.0, 180.0, 999.0, 2500.0])
def test_a_known_breaking_force_is_found_within_the_resolution(breaking):
    found = search_breaking_force(source(breaking), SEARCH)
    assert found.bound == "bracket"
    assert found.survived < breaking * 1.03 and found.failed > breaking * 0.9
    assert found.failed / found.survived <= 1 + SEARCH.resolution
    assert len(found.probes) <= 8 + 7


def test_a_survived_ceiling_is_a_lower_bound_and_a_failed_start_an_upper_one():
    strong = search_breaking_force(source(1e6), SEARCH)
    assert strong.bound == "lower" and strong.survived == 3200.0 and strong.text() == "> 3200 N"
    weak = search_breaking_force(source(5.0), SEARCH)
    assert weak.bound == "upper" and weak.failed == 25.0 and weak.text() == "< 25 N"


def test_no_episode_up_at_the_push_gives_no_verdict():
    assert search_breaking_force(lambda force: (0, 0), SEARCH) is None


def test_every_direction_of_the_grid_is_searched_through_the_simulator_seam():
    """A synthetic policy that falls when the impulse passes 8 N·s (sigmoid edge, 64 episodes a probe):
    each direction's bracket holds the impulse where success drops below 0.9."""
    card = small_card(evaluation={**SMALL_EVALUATION, "envs": 64})
    rng = np.random.default_rng(0)

    def play(scenario):
        steps = round(scenario.episode_seconds / 0.02)
        falls = _protocol_falls(scenario, steps, 0.02, 8.0, rng)
        starts = [round(scenario.push.start_seconds / 0.02)] * scenario.envs
        return synthetic_rollout(scenario, falls, push_start_steps=starts)

    found = breaking_points(card, play)
    grid = card.evaluation.push_grid
    assert len(found) == len(grid.bodies) * len(grid.azimuths) * len(grid.durations)
    for entry in found:
        assert entry["bound"] == "bracket"
        low, high = entry["survived_force"] * entry["duration"], entry["failed_force"] * entry["duration"]
        assert low <= 8.0 - np.log(9) + 1.0 and high >= 8.0 - np.log(9) - 1.0  # success 0.9 at 5.8 N·s
