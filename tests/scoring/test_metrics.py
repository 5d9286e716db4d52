"""Survival, push success, success curves, tracking and DTW on hand-computed and synthetic rollouts."""

import dataclasses

import numpy as np
import pytest

from ampbench.scoring.metrics import (
    SuccessRow,
    episode_length_stats,
    imitation_error,
    kaplan_meier,
    max_impulse_survived,
    push_success,
    push_trial,
    success_curve,
    velocity_tracking_error,
)
from ampbench.sim.records import EvalScenario, ScheduledPush
from tests.rolloutfactory import synthetic_rollout

DT = 0.02


def test_kaplan_meier_hand_computed_with_censoring():
    # falls at 1, 2, 3; censored at 2, 4, 5. At risk: 6, 5, 3 -> S = 5/6, 5/6*4/5, 2/3*2/3
    times, survival = kaplan_meier([1, 2, 2, 3, 4, 5], [True, True, False, True, False, False])
    np.testing.assert_allclose(times, [0, 1, 2, 3, 5])
    np.testing.assert_allclose(survival, [1, 5 / 6, 2 / 3, 4 / 9, 4 / 9])


def test_kaplan_meier_without_falls_and_bad_input():
    times, survival = kaplan_meier([4.0, 4.0], [False, False])
    np.testing.assert_allclose(times, [0, 4])
    np.testing.assert_allclose(survival, [1, 1])
    with pytest.raises(ValueError, match="equal, non-empty"):
        kaplan_meier([1.0, 2.0], [True])
    with pytest.raises(ValueError, match="> 0 s"):
        kaplan_meier([0.0], [True])


def unpushed(envs, seed=100, seconds=2.0):
    return EvalScenario(name="unpushed", seed=seed, envs=envs, episode_seconds=seconds)


def test_episode_length_stats_pools_rollouts():
    rollouts = [
        synthetic_rollout(unpushed(2, 100), [49, -1], dt=DT),
        synthetic_rollout(unpushed(2, 101), [-1, -1], dt=DT),
    ]
    stats = episode_length_stats(rollouts)
    assert stats.mean_seconds == pytest.approx((1.0 + 2.0 * 3) / 4)
    assert stats.fall_fraction == pytest.approx(0.25)
    np.testing.assert_allclose(stats.km_times, [0.0, 1.0, 2.0])
    np.testing.assert_allclose(stats.km_survival, [1.0, 0.75, 0.75])


def pushed(envs, force=100.0, duration=0.1, azimuth=0.0, body="pelvis", seed=100, seconds=3.0):
    push = ScheduledPush(body=body, force=force, duration=duration, azimuth_deg=azimuth, start_seconds=1.0)
    name = f"push/{body}/f{force:g}"
    return EvalScenario(name=name, seed=seed, envs=envs, episode_seconds=seconds, push=push)


def test_push_success_before_inside_and_after_the_window():
    # push starts at step 50 and lasts 5 steps; window 1.0 s -> a fall counts up to step 50 + 55
    falls = [-1, 30, 50, 52, 80, 104, 105, 120]
    rollout = synthetic_rollout(pushed(len(falls)), falls, dt=DT, push_start_steps=[50] * len(falls))
    outcome = push_success(rollout, window_seconds=1.0)
    np.testing.assert_array_equal(outcome.valid, [True, False, True, True, True, True, True, True])
    np.testing.assert_array_equal(outcome.success, [True, False, False, False, False, False, True, True])
    assert outcome.invalid_count == 1


def test_a_robot_still_lying_when_its_push_starts_is_no_trial_but_fails_the_unconditional_rate():
    rollout = synthetic_rollout(pushed(3), [-1, -1, -1], dt=DT, push_start_steps=[50] * 3)
    positions = rollout.body_positions.copy()
    positions[1, :55, :, 2] = 0.05  # a get-up reset: stands 5 steps after its push started
    positions[2, :45, :, 2] = 0.05  # stood 5 steps before its push
    outcome = push_success(dataclasses.replace(rollout, body_positions=positions), window_seconds=1.0)
    np.testing.assert_array_equal(outcome.valid, [True, False, True])
    np.testing.assert_array_equal(outcome.success, [True, False, True])
    np.testing.assert_array_equal(outcome.counted_all, [True, True, True])


def test_a_gait_push_that_never_came_counts_only_if_the_robot_fell_in_the_wait():
    scenario = dataclasses.replace(pushed(3), start_jitter_seconds=1.0)  # push at 1.0 s + up to 1.0 s wait
    rollout = synthetic_rollout(scenario, [80, 110, -1], dt=DT, push_start_steps=[-1, -1, -1])
    outcome = push_success(rollout, window_seconds=1.0)
    np.testing.assert_array_equal(outcome.valid, [False, False, False])
    np.testing.assert_array_equal(outcome.counted_all, [True, False, False])  # the wait ends at step 100


def test_push_success_refuses_a_too_short_episode_and_unpushed_rollouts():
    rollout = synthetic_rollout(pushed(1, seconds=1.5), [-1], dt=DT, push_start_steps=[50])
    with pytest.raises(ValueError, match="end before push end"):
        push_success(rollout, window_seconds=1.0)
    with pytest.raises(ValueError, match="has no push"):
        push_success(synthetic_rollout(unpushed(1), [-1], dt=DT), window_seconds=1.0)


def test_success_curve_groups_cells_over_seeds_with_impulse_and_delta_v():
    trials = [
        push_trial(
            synthetic_rollout(pushed(4, seed=seed), falls, dt=DT, push_start_steps=[50] * 4, mass=50.0), 1.0
        )
        for seed, falls in ((100, [-1, -1, 60, 10]), (101, [-1, -1, -1, -1]))
    ]
    trials.append(
        push_trial(synthetic_rollout(pushed(2, force=0.0), [-1, -1], dt=DT, push_start_steps=[50, 50]), 1.0)
    )
    rows = success_curve(trials)
    assert [(r.force, r.n) for r in rows] == [(0.0, 2), (100.0, 7)]
    row = rows[1]
    assert row.success_rate == pytest.approx(6 / 7)
    assert row.invalid == 1
    assert row.impulse == pytest.approx(10.0)
    assert row.delta_v == pytest.approx(10.0 / 50.0)
    assert sorted(row.success_per_seed) == [100, 101]
    assert rows[0].delta_v == 0.0


def row(impulse, rate, n=10, body="pelvis", azimuth=0.0, duration=0.1):
    return SuccessRow(body, impulse / duration, duration, azimuth, impulse, 0.0, rate, n, 0, {}, {})


def test_max_impulse_survived_stops_at_the_first_failure():
    rows = [row(0, 1.0), row(5, 0.95), row(10, 0.92), row(20, 0.5), row(30, 0.95)]
    rows += [row(0, 0.5, azimuth=90.0), row(5, 1.0, azimuth=90.0)]
    rows += [row(0, 1.0, azimuth=180.0), row(5, float("nan"), n=0, azimuth=180.0)]
    rows += [row(0, float("nan"), n=0, azimuth=270.0), row(5, 1.0, azimuth=270.0)]
    assert max_impulse_survived(rows, threshold=0.9) == {
        ("pelvis", 0.0): 10.0,
        ("pelvis", 90.0): 0.0,
        ("pelvis", 180.0): 0.0,
        ("pelvis", 270.0): None,  # no valid episode at the smallest impulse: undefined, not 0
    }


def test_max_impulse_survived_needs_every_duration_at_an_impulse():
    rows = [row(5, 1.0), row(10, 1.0, duration=0.1), row(10, 0.8, duration=0.2), row(20, 1.0)]
    assert max_impulse_survived(rows, threshold=0.9) == {("pelvis", 0.0): 5.0}


def test_velocity_tracking_in_heading_frame_over_alive_settled_steps():
    rollout = synthetic_rollout(
        unpushed(3), [-1, 74, 10], dt=DT, speed=1.2, command_speed=1.0, heading_deg=120.0
    )
    velocity = rollout.root_linear_velocity.copy()
    velocity[1, 75:] = 0.0  # after the fall: must not count
    rollout = dataclasses.replace(rollout, root_linear_velocity=velocity)
    error = velocity_tracking_error(rollout, settle_seconds=0.5)
    np.testing.assert_allclose(error[:2], [0.2, 0.2], atol=1e-9)
    assert np.isnan(error[2])


def test_velocity_tracking_ignores_sideways_motion():
    rollout = synthetic_rollout(unpushed(1), [-1], dt=DT, speed=0.0, command_speed=0.0, heading_deg=90.0)
    velocity = rollout.root_linear_velocity.copy()
    velocity[..., 0] = 0.7  # world x is sideways for a robot heading along world y
    error = velocity_tracking_error(
        dataclasses.replace(rollout, root_linear_velocity=velocity), settle_seconds=0.0
    )
    np.testing.assert_allclose(error, [0.0], atol=1e-9)


def gait_cycle(phase, dt_ref=1 / 30):
    times = np.arange(0, 1.0 + 1e-9, dt_ref) + phase
    return np.stack([np.sin(2 * np.pi * times), np.cos(2 * np.pi * times)], axis=1)


def test_imitation_error_small_for_the_same_motion_at_any_phase():
    rollout = synthetic_rollout(unpushed(2), [-1, 20], dt=DT)
    for phase in (0.0, 0.3, 0.5):
        errors = imitation_error(rollout, gait_cycle(phase), 1 / 30, start_seconds=0.5)
        assert errors[0] < 0.02, phase
        assert np.isnan(errors[1])  # fell at step 20, before the 0.5 s start


def test_imitation_error_large_for_another_motion_and_checks_dofs():
    rollout = synthetic_rollout(unpushed(1), [-1], dt=DT)
    # a gait of 0.3x the amplitude: every frame is 0.7 rad from the nearest reference frame
    assert imitation_error(rollout, 0.3 * gait_cycle(0.0), 1 / 30)[0] == pytest.approx(0.7, rel=0.02)
    with pytest.raises(ValueError, match="reference has 3 DOFs"):
        imitation_error(rollout, np.zeros((10, 3)), 1 / 30)
