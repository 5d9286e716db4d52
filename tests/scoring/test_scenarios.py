"""The evaluation protocol: grid sizes, stable names and push timing, from a minimal card."""

import pytest

from ampbench.cards import card_from_dict
from ampbench.scoring.scenarios import (
    PUSH_START_JITTER_SECONDS,
    UNPUSHED,
    evaluation_scenarios,
    push_scenario_name,
)


def minimal_card(**evaluation):
    data = {
        "name": "mini",
        "phase": "phase2",
        "description": "test card",
        "mocap": {"clips": [{"name": "deepmimic/walk", "skill": "walk"}]},
        "commands": {"bands": [{"skill": "walk", "speed": [0.5, 1.0]}]},
        "evaluation": {
            "seeds": [100, 101],
            "envs": 8,
            "episode_seconds": 10.0,
            "push_grid": {
                "forces": [0.0, 50.0, 100.0],
                "durations": [0.1, 0.2],
                "bodies": ["pelvis", "torso"],
                "azimuths": [0.0, 90.0, 180.0],
                "settle_seconds": 2.0,
                "window_seconds": 3.0,
            },
            **evaluation,
        },
    }
    return card_from_dict(data)


def test_grid_size_per_seed_and_unpushed_first():
    scenarios = evaluation_scenarios(minimal_card())
    per_seed = 1 + 3 * 2 * 2 * 3 + 4 + 1  # unpushed, the grid, 4 gait events x 1 azimuth, endurance
    assert len(scenarios) == 2 * per_seed
    assert [s.seed for s in scenarios] == [100] * per_seed + [101] * per_seed
    unpushed = [s for s in scenarios if s.push is None and not s.random_pushes]
    assert [(s.name, s.seed, s.episode_seconds, s.envs) for s in unpushed] == [
        (UNPUSHED, 100, 10.0, 8),
        (UNPUSHED, 101, 10.0, 8),
    ]


def test_names_are_stable_and_unique_per_seed():
    scenarios = [s for s in evaluation_scenarios(minimal_card()) if s.seed == 100]
    names = [s.name for s in scenarios]
    assert len(set(names)) == len(names)
    assert "push/pelvis/f50/d0.10/az090" in names
    assert "push/torso/f0/d0.20/az180" in names
    assert push_scenario_name("pelvis", 12.5, 0.125, 45.5) == "push/pelvis/f12.5/d0.125/az45.5"


def test_push_timing_and_episode_length():
    scenario = next(
        s for s in evaluation_scenarios(minimal_card()) if s.name == "push/torso/f100/d0.20/az000"
    )
    push = scenario.push
    assert (push.body, push.force, push.duration, push.azimuth_deg) == ("torso", 100.0, 0.2, 0.0)
    assert push.start_seconds == 2.0
    assert scenario.start_jitter_seconds == PUSH_START_JITTER_SECONDS
    assert scenario.episode_seconds == pytest.approx(2.0 + PUSH_START_JITTER_SECONDS + 0.2 + 3.0)


def test_force_zero_cell_is_a_scenario():
    zero = [s for s in evaluation_scenarios(minimal_card()) if s.push is not None and s.push.force == 0.0]
    assert len(zero) == 2 * 2 * 2 * 3


def test_smoke_keeps_first_seed_and_first_azimuth():
    scenarios = evaluation_scenarios(minimal_card(), smoke=True)
    assert {s.seed for s in scenarios} == {100}
    assert len(scenarios) == 1 + 3 * 2 * 2 + 4 + 1
    assert {s.push.azimuth_deg for s in scenarios if s.push and not s.gait_event} == {0.0}


def test_gait_pushes_wait_for_their_event_after_the_warm_up():
    gait = [s for s in evaluation_scenarios(minimal_card()) if s.gait_event and s.seed == 100]
    assert [s.name for s in gait] == [
        "gait/touchdown/pelvis/f50/d0.10/az090",
        "gait/mid_stance/pelvis/f50/d0.10/az090",
        "gait/liftoff/pelvis/f50/d0.10/az090",
        "gait/mid_swing/pelvis/f50/d0.10/az090",
    ]
    first = gait[0]
    assert (first.push.start_seconds, first.start_jitter_seconds) == (2.0, 2.0)  # warm-up, then the wait
    assert first.episode_seconds == pytest.approx(2.0 + 2.0 + 0.1 + 3.0)
    assert not [s for s in evaluation_scenarios(minimal_card(gait_pushes={"enabled": False})) if s.gait_event]


def test_endurance_plays_long_episodes_with_the_cards_training_pushes():
    endurance = [s for s in evaluation_scenarios(minimal_card()) if s.random_pushes]
    assert [(s.name, s.seed, s.envs, s.episode_seconds, s.push) for s in endurance] == [
        ("endurance", 100, 32, 60.0, None),
        ("endurance", 101, 32, 60.0, None),
    ]
    assert not [
        s for s in evaluation_scenarios(minimal_card(endurance={"enabled": False})) if s.random_pushes
    ]
    with pytest.raises(ValueError, match="seconds"):
        minimal_card(endurance={"seconds": 30.0})


def test_repeated_grid_values_are_refused():
    card = minimal_card(push_grid={"forces": [50.0, 50.0], "bodies": ["pelvis"]})
    with pytest.raises(ValueError, match=r"repeated cells .*push/pelvis/f50"):
        evaluation_scenarios(card)


def test_is_a_pure_function_of_the_card():
    card = minimal_card()
    assert evaluation_scenarios(card) == evaluation_scenarios(card)
