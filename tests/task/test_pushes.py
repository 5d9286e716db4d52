"""Pushes: impulse and delta-v by hand, force x duration applied exactly, sampling independence, schedule."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ampbench.task import pushes

DT = 0.04
SETTINGS = {
    "control_dt": DT,
    "probability": 0.5,
    "force_range": (50.0, 50.0),
    "duration_range": (0.15, 0.15),
    "num_bodies": 2,
    "direction": "horizontal",
    "total_mass": 45.0,
}


def step(state, uniforms, **overrides):
    return pushes.push_step(state, uniforms, **{**SETTINGS, **overrides})


def uniforms_row(start: float, slot=0.0, magnitude=0.0, duration=0.0, azimuth=0.0, envs: int = 1):
    return np.tile(np.array([start, slot, magnitude, duration, azimuth]), (envs, 1))


def run(state, uniforms_per_step, **overrides):
    """Apply push_step for each uniforms array; return the states and the (E, 3) forces of every step."""
    states, forces = [], []
    for uniforms in uniforms_per_step:
        state = step(state, uniforms, **overrides)
        force, _ = pushes.applied_force(state)
        states.append(state)
        forces.append(force)
    return states, np.stack(forces)


def test_impulse_and_delta_v_by_hand():
    # 50 N held for 0.2 s = 10 N·s; on a 45 kg robot the centre of mass gains 10 / 45 = 0.2222 m/s.
    impulse = pushes.push_impulse(50.0, 0.2)
    assert impulse == pytest.approx(10.0)
    assert pushes.push_delta_v(impulse, 45.0) == pytest.approx(0.22222, abs=1e-5)
    # The note's "50 N for one control step" at 1/60 s: 0.833 N·s, 1.9 cm/s. Nearly nothing.
    assert pushes.push_delta_v(pushes.push_impulse(50.0, 1 / 60), 45.0) == pytest.approx(0.018519, abs=1e-6)


def test_push_direction_axes_and_unit_length():
    np.testing.assert_allclose(pushes.push_direction(np.array(0.0), np.array(0.0)), [1, 0, 0], atol=1e-15)
    np.testing.assert_allclose(
        pushes.push_direction(np.array(np.pi / 2), np.array(0.0)), [0, 1, 0], atol=1e-15
    )
    np.testing.assert_allclose(
        pushes.push_direction(np.array(1.0), np.array(np.pi / 2)), [0, 0, 1], atol=1e-15
    )
    rng = np.random.default_rng(0)
    vectors = pushes.push_direction(rng.uniform(-4, 4, 50), rng.uniform(-1.5, 1.5, 50))
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=-1), 1.0)


def test_heading_frame_push_vectors():
    yaw = np.array([0.0, 0.0, np.pi / 2, np.pi / 2])
    azimuth = np.array([0.0, 90.0, 90.0, 0.0])
    vectors = pushes.heading_push_vector(100.0, azimuth, yaw)
    # forward, left, left of a robot facing +y (= -x), forward of a robot facing +y (= +y)
    np.testing.assert_allclose(vectors, [[100, 0, 0], [0, 100, 0], [-100, 0, 0], [0, 100, 0]], atol=1e-12)


@pytest.mark.parametrize(("duration", "fractions"), [(0.12, [1, 1, 1]), (0.15, [1, 1, 1, 0.75])])
def test_push_held_for_its_duration_then_released(duration, fractions):
    """0.15 s at 0.04 s steps: three full steps and a last step at 75 % force; impulse exactly F x T."""
    state = pushes.push_init(np, 1, dtype=np.float64)
    starts = [uniforms_row(0.0, azimuth=0.25)] + [uniforms_row(0.99, azimuth=0.75)] * 7
    states, forces = run(state, starts, duration_range=(duration, duration))
    expected_fractions = np.zeros(8)
    expected_fractions[: len(fractions)] = fractions
    np.testing.assert_allclose(forces[:, 0], expected_fractions[:, None] * [0.0, 50.0, 0.0], atol=1e-12)
    assert np.sum(np.linalg.norm(forces[:, 0], axis=-1) * DT) == pytest.approx(50.0 * duration, rel=1e-12)
    last = states[-1]
    assert last.impulse[0] == pytest.approx(50.0 * duration, rel=1e-12)
    assert last.delta_v[0] == pytest.approx(50.0 * duration / 45.0, rel=1e-12)
    assert last.elapsed[0] == pytest.approx(duration, rel=1e-12)
    assert last.count[0] == 1 and last.remaining[0] == 0.0


def test_float32_countdown_applies_force_times_duration():
    state = pushes.push_init(np, 1)
    starts = [uniforms_row(0.0)] + [uniforms_row(0.99)] * 12
    _, forces = run(state, starts, control_dt=1 / 30, duration_range=(0.2, 0.2))
    steps_with_force = int(np.count_nonzero(np.linalg.norm(forces[:, 0], axis=-1)))
    assert steps_with_force == 6
    assert np.sum(np.linalg.norm(forces[:, 0], axis=-1)) / 30 == pytest.approx(10.0, rel=1e-5)


def test_probability_zero_never_pushes():
    rng = np.random.default_rng(1)
    state = pushes.push_init(np, 64)
    states, forces = run(state, [rng.uniform(size=(64, 5)) for _ in range(200)], probability=0.0)
    assert np.all(forces == 0.0) and np.all(states[-1].count == 0)


def test_probability_one_always_starts_when_idle():
    """Two-step pushes back to back: every env is pushed on every step, a new push every second step."""
    rng = np.random.default_rng(2)
    state = pushes.push_init(np, 32, dtype=np.float64)
    states, forces = run(
        state,
        [rng.uniform(size=(32, 5)) for _ in range(10)],
        probability=1.0,
        duration_range=(2 * DT, 2 * DT),
    )
    assert np.all(np.linalg.norm(forces, axis=-1) == pytest.approx(50.0))
    np.testing.assert_array_equal(states[-1].count, 5)


def test_no_new_push_while_one_is_active():
    rng = np.random.default_rng(3)
    state = pushes.push_init(np, 16, dtype=np.float64)
    states, forces = run(
        state, [rng.uniform(size=(16, 5)) for _ in range(5)], probability=1.0, duration_range=(0.2, 0.2)
    )
    np.testing.assert_allclose(forces, np.broadcast_to(forces[0], forces.shape))
    assert all(np.all(s.count == 1) for s in states)


def test_sampled_ranges_and_body_slots():
    rng = np.random.default_rng(4)
    state = pushes.push_init(np, 4000, dtype=np.float64)
    state = step(
        state,
        rng.uniform(size=(4000, 5)),
        probability=1.0,
        num_bodies=3,
        force_range=(20.0, 80.0),
        duration_range=(0.1, 0.3),
    )
    magnitude = np.linalg.norm(state.force_world, axis=-1)
    duration = state.remaining
    assert magnitude.min() >= 20.0 and magnitude.max() <= 80.0 and magnitude.std() > 10.0
    assert duration.min() >= 0.1 and duration.max() <= 0.3
    np.testing.assert_allclose(state.impulse, magnitude * duration)
    assert set(np.unique(state.body_slot)) == {0, 1, 2}
    assert np.bincount(state.body_slot) / 4000 == pytest.approx([1 / 3] * 3, abs=0.03)
    edge = step(pushes.push_init(np, 1), uniforms_row(0.0, slot=np.nextafter(1.0, 0.0)), num_bodies=3)
    assert edge.body_slot[0] == 2


def test_directions_differ_between_envs_and_follow_their_own_uniforms():
    uniforms = np.array(
        [
            [0.1, 0.0, 0.0, 0.0, 0.10],
            [0.3, 0.0, 0.0, 0.0, 0.10],  # another start draw, same direction draw -> same force
            [0.1, 0.0, 0.0, 0.0, 0.60],  # another direction draw -> another force
        ]
    )
    state = step(pushes.push_init(np, 3, dtype=np.float64), uniforms)
    np.testing.assert_allclose(state.force_world[0], state.force_world[1])
    assert not np.allclose(state.force_world[0], state.force_world[2])
    angle = 2 * math.pi * 0.1
    np.testing.assert_allclose(state.force_world[0], [50 * math.cos(angle), 50 * math.sin(angle), 0.0])


def test_horizontal_directions_are_flat_and_3d_directions_fill_the_sphere():
    rng = np.random.default_rng(5)
    uniforms = rng.uniform(size=(4000, 5))
    flat = step(pushes.push_init(np, 4000), uniforms, probability=1.0)
    assert np.all(flat.force_world[:, 2] == 0.0)
    spatial = step(pushes.push_init(np, 4000, dtype=np.float64), uniforms, probability=0.5, direction="3d")
    pushed = spatial.count == 1
    z = spatial.force_world[pushed, 2] / 50.0
    np.testing.assert_allclose(np.linalg.norm(spatial.force_world[pushed], axis=-1), 50.0)
    assert z.mean() == pytest.approx(0.0, abs=0.05) and z.std() == pytest.approx(1 / math.sqrt(3), abs=0.03)


def test_reset_clears_only_reset_envs():
    state = step(pushes.push_init(np, 3), uniforms_row(0.0, envs=3), duration_range=(0.2, 0.2))
    cleared = pushes.push_on_reset(state, np.array([True, False, True]))
    force, _ = pushes.applied_force(cleared)
    assert np.all(force[[0, 2]] == 0.0) and np.all(cleared.count[[0, 2]] == 0)
    np.testing.assert_array_equal(force[1], pushes.applied_force(state)[0][1])
    assert cleared.remaining[1] == state.remaining[1] and cleared.count[1] == 1


def test_bad_settings_are_named():
    state = pushes.push_init(np, 2)
    with pytest.raises(ValueError, match=r"uniforms must have shape \(2, 5\), found \(2, 4\)"):
        step(state, np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"direction must be one of \['horizontal', '3d'\], found 'up'"):
        step(state, np.zeros((2, 5)), direction="up")
    with pytest.raises(ValueError, match=r"duration must be .* 0 < low"):
        step(state, np.zeros((2, 5)), duration_range=(0.0, 0.1))


@pytest.mark.parametrize(("start", "duration"), [(1.0, 0.12), (1.0, 0.15), (1.013, 0.15)])
def test_scheduled_push_applies_force_times_duration(start, duration):
    times = np.arange(60) * DT
    vector = np.array([30.0, -40.0, 0.0])
    force = pushes.scheduled_push_force(times, start, duration, vector, DT)
    active = np.flatnonzero(np.linalg.norm(force, axis=-1))
    assert times[active[0]] <= start < times[active[0]] + DT
    assert times[active[-1]] < start + duration <= times[active[-1]] + DT
    np.testing.assert_allclose(np.sum(force, axis=0) * DT, vector * duration, rtol=1e-12)
    assert np.all(force[active[1:-1]] == vector)


def test_push_step_same_in_numpy_and_jax_and_jit():
    rng = np.random.default_rng(6)
    uniforms = [rng.uniform(size=(8, 5)).astype(np.float32) for _ in range(12)]
    settings = {**SETTINGS, "probability": 0.4, "force_range": (10.0, 90.0), "direction": "3d"}
    jitted = jax.jit(lambda s, u: pushes.push_step(s, u, **settings))
    np_state, jax_state = pushes.push_init(np, 8), pushes.push_init(jnp, 8)
    for u in uniforms:
        np_state = pushes.push_step(np_state, u, **settings)
        jax_state = jitted(jax_state, jnp.asarray(u))
        for expected, got in zip(np_state, jax_state, strict=True):
            np.testing.assert_allclose(np.asarray(got), expected, atol=1e-5, rtol=1e-6)
    assert np_state.count.sum() > 0


def test_scheduled_force_and_heading_vector_same_in_jax():
    times = np.arange(10, dtype=np.float32) * np.float32(DT)
    vector = pushes.heading_push_vector(80.0, 135.0, np.float32(0.4))
    jax_vector = pushes.heading_push_vector(80.0, 135.0, jnp.float32(0.4))
    np.testing.assert_allclose(np.asarray(jax_vector), vector, atol=1e-5)
    expected = pushes.scheduled_push_force(times, np.float32(0.1), np.float32(0.15), vector, DT)
    got = jax.jit(pushes.scheduled_push_force, static_argnums=4)(
        jnp.asarray(times), 0.1, 0.15, jax_vector, DT
    )
    np.testing.assert_allclose(np.asarray(got), expected, atol=1e-4)
