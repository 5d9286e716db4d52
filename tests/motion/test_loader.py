"""Interpolation, time handling and sampling of the motion library, checked against analytic motion."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from ampbench import cards
from ampbench.motion.clip import ARRAY_KEYS, ClipError, equivalent_xyz_triples, hinge_xyz_triples
from ampbench.motion.clip_files import save_clip
from ampbench.motion.loader import DATA_DIR_ENV, MotionLibrary, MotionState, clip_path, load_library
from ampbench.robot import quat
from tests.clipfactory import synthetic_clip, synthetic_parameters, synthetic_state


def rotation_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.norm(quat.to_rotvec(quat.multiply(b, quat.conjugate(a))), axis=-1)


def test_linear_motion_is_exact_at_any_time():
    clip = synthetic_clip(num_frames=31, fps=30.0)
    times = np.random.default_rng(1).uniform(0.0, clip.duration, 200)
    state = MotionLibrary([clip]).state_at(np.zeros(200, dtype=int), times)
    exact = synthetic_state(synthetic_parameters(28, 15, seed=0), times)
    np.testing.assert_allclose(state.body_positions, exact["body_positions"], atol=1e-12)
    np.testing.assert_allclose(state.body_linear_velocities, exact["body_linear_velocities"], atol=1e-12)


def test_constant_angular_velocity_is_exact_at_any_time():
    """Slerp between frames of exp(omega t) q0 lands on exp(omega t) q0 itself."""
    clip = synthetic_clip(num_frames=31, fps=30.0)
    times = np.random.default_rng(2).uniform(0.0, clip.duration, 200)
    state = MotionLibrary([clip]).state_at(np.zeros(200, dtype=int), times)
    exact = synthetic_state(synthetic_parameters(28, 15, seed=0), times)
    assert rotation_angle(state.body_rotations, exact["body_rotations"]).max() < 1e-9


def test_slerp_halfway_between_two_known_frames():
    clip = synthetic_clip(num_frames=2, fps=10.0)
    rotations = np.zeros((2, 15, 4))
    rotations[0, :, 0] = 1.0  # identity, then a quarter turn about z
    rotations[1, :] = (np.cos(np.pi / 4), 0.0, 0.0, np.sin(np.pi / 4))
    library = MotionLibrary([dataclasses.replace(clip, body_rotations=rotations)])
    state = library.state_at(np.array([0]), np.array([0.05]))
    np.testing.assert_allclose(
        state.body_rotations[0],
        np.broadcast_to((np.cos(np.pi / 8), 0.0, 0.0, np.sin(np.pi / 8)), (15, 4)),
        atol=1e-15,
    )


def test_stored_frames_come_back_exactly_at_their_times():
    clip = synthetic_clip(num_frames=31, fps=30.0)
    frames = np.arange(clip.num_frames)
    state = MotionLibrary([clip]).state_at(np.zeros_like(frames), frames / clip.fps)
    for key in ARRAY_KEYS:
        np.testing.assert_allclose(getattr(state, key), getattr(clip, key), rtol=0, atol=1e-15, err_msg=key)


def test_blend_stays_between_the_neighbouring_frames():
    """Blend weights in [0, 1] (floor, not round): each linearly blended value (all but the 3-DOF
    joints' angles, which blend on SO(3)) lies between its two frames' values."""
    clip = synthetic_clip(num_frames=31, fps=30.0)
    times = np.random.default_rng(3).uniform(-0.5, clip.duration + 0.5, 500)
    state = MotionLibrary([clip]).state_at(np.zeros(500, dtype=int), times)
    frame0 = np.clip(np.floor(times * clip.fps).astype(int), 0, clip.num_frames - 1)
    frame1 = np.minimum(frame0 + 1, clip.num_frames - 1)
    for key in ("dof_positions", "dof_velocities", "body_positions"):
        value, stored = getattr(state, key), getattr(clip, key)
        if key == "dof_positions":
            single = np.setdiff1d(np.arange(len(clip.dof_names)), hinge_xyz_triples(clip.dof_names))
            value, stored = value[:, single], stored[:, single]
        low, high = np.minimum(stored[frame0], stored[frame1]), np.maximum(stored[frame0], stored[frame1])
        assert np.all(value >= low - 1e-12) and np.all(value <= high + 1e-12), key


def test_three_dof_joints_blend_on_so3_across_a_switch_of_triple():
    """Frame 1 stores the other x-y-z triple of a rotation close to frame 0's: halfway, the joint is
    at the slerp of the two rotations, not at the mean of angles 180 degrees apart."""
    clip = synthetic_clip(num_frames=2, fps=10.0)
    triple = list(hinge_xyz_triples(clip.dof_names)[0])
    near, turn = np.array([0.2, 0.3, -0.1]), np.array([0.1, 0.0, 0.0])
    dofs = np.array(clip.dof_positions)
    dofs[0, triple] = near
    dofs[1, triple] = equivalent_xyz_triples(quat.from_intrinsic_xyz(near + turn))[1]
    library = MotionLibrary([dataclasses.replace(clip, dof_positions=dofs)])
    angles = library.state_at(np.array([0, 0]), np.array([0.04, 0.06])).dof_positions[:, triple]
    # frame 1 turns 0.1 rad further about the joint's first (x) axis: slerp adds 0.04 and 0.06 to x,
    # given as frame 0's triple at 0.04 and as frame 1's (the other triple) at 0.06
    np.testing.assert_allclose(angles[0], near + 0.4 * turn, atol=1e-12)
    other = equivalent_xyz_triples(quat.from_intrinsic_xyz(near + 0.6 * turn))[1]
    np.testing.assert_allclose(angles[1], other, atol=1e-12)


def test_non_loop_clip_clamps_to_its_first_and_last_frame():
    clip = synthetic_clip(num_frames=31, fps=30.0)
    state = MotionLibrary([clip]).state_at(np.zeros(3, dtype=int), np.array([-1.0, clip.duration, 7.0]))
    for key in ARRAY_KEYS:
        expected = getattr(clip, key)[[0, -1, -1]]
        np.testing.assert_allclose(getattr(state, key), expected, rtol=0, atol=1e-15, err_msg=key)


def test_loop_clip_wraps_time_modulo_its_duration():
    clip = synthetic_clip(num_frames=31, fps=30.0, loop=True)
    library = MotionLibrary([clip])
    times = np.random.default_rng(4).uniform(0.0, clip.duration, 50)
    inside = library.state_at(np.zeros(50, dtype=int), times)
    for shift in (clip.duration, -clip.duration, 3 * clip.duration):
        wrapped = library.state_at(np.zeros(50, dtype=int), times + shift)
        np.testing.assert_allclose(wrapped.dof_positions, inside.dof_positions, atol=1e-9)
        np.testing.assert_allclose(wrapped.body_positions, inside.body_positions, atol=1e-9)
    at_end = library.state_at(np.array([0]), np.array([clip.duration]))
    np.testing.assert_array_equal(at_end.dof_positions[0], clip.dof_positions[0])


def test_state_at_keeps_any_leading_shape():
    library = MotionLibrary([synthetic_clip(), synthetic_clip(seed=1)])
    state = library.state_at(np.array([[0], [1]]), np.full((2, 5), 0.3))
    assert state.body_rotations.shape == (2, 5, 15, 4)
    assert state.joint_torques.shape == (2, 5, 28)


def test_a_draw_of_some_bodies_is_those_bodies_of_a_draw_of_all():
    library = MotionLibrary([synthetic_clip(loop=True), synthetic_clip(seed=1)])
    clip_index, time = np.array([0, 1, 0, 1]), np.array([0.11, 0.52, 0.9, 1.3])
    every = library.state_at(clip_index, time)
    bodies = np.array([7, 0, 3])
    some = library.state_at(clip_index, time, bodies)
    for field in dataclasses.fields(MotionState):
        picked = getattr(every, field.name)
        if field.name.startswith("body_"):
            picked = picked[:, bodies]
        np.testing.assert_array_equal(getattr(some, field.name), picked, err_msg=field.name)


def test_clips_of_different_fps_interpolate_each_in_its_own_time():
    slow, fast = synthetic_clip(num_frames=11, fps=10.0), synthetic_clip(num_frames=61, fps=60.0, seed=1)
    state = MotionLibrary([slow, fast]).state_at(np.array([0, 1]), np.array([0.5, 0.5]))
    np.testing.assert_array_equal(
        state.dof_positions, np.stack([slow.dof_positions[5], fast.dof_positions[30]])
    )


def test_sampling_is_deterministic_for_a_seed_and_follows_weights():
    library = MotionLibrary(
        [synthetic_clip(num_frames=31), synthetic_clip(num_frames=61, seed=1)], [1.0, 3.0]
    )
    clip_a, time_a = library.sample_times(np.random.default_rng(7), 20_000)
    clip_b, time_b = library.sample_times(np.random.default_rng(7), 20_000)
    np.testing.assert_array_equal(clip_a, clip_b)
    np.testing.assert_array_equal(time_a, time_b)
    np.testing.assert_allclose(library.weights, [0.25, 0.75])
    assert np.mean(clip_a == 1) == pytest.approx(0.75, abs=0.02)
    durations = np.array([clip.duration for clip in library.clips])[clip_a]
    assert np.all(time_a >= 0.0) and np.all(time_a <= durations)
    assert time_a[clip_a == 1].max() > library.clips[0].duration  # the long clip's times use its own length


def test_sample_returns_n_states():
    state = MotionLibrary([synthetic_clip()]).sample(np.random.default_rng(0), 64)
    assert state.dof_positions.shape == (64, 28)
    assert state.body_positions.shape == (64, 15, 3)
    assert state.joint_torques.shape == (64, 28)


def test_sample_with_torques_names_the_clip_without_torques():
    library = MotionLibrary(
        [synthetic_clip(), dataclasses.replace(synthetic_clip(torques=False), source="walk.npz")]
    )
    assert library.sample(np.random.default_rng(0), 4).joint_torques is None
    with pytest.raises(ClipError, match=r"walk\.npz: 'joint_torques' is missing"):
        library.sample_with_torques(np.random.default_rng(0), 4)


def test_sample_with_torques_returns_torques():
    state = MotionLibrary([synthetic_clip()]).sample_with_torques(np.random.default_rng(0), 8)
    assert state.joint_torques.shape == (8, 28)


def test_sample_with_torques_as_the_torque_loader_api():
    """The public call of docs/motion-api.md: a MotionState of (n, ...) float arrays in the library's DOF
    and body order, torques included, the same draw as `sample` and reproducible from the generator."""
    library = MotionLibrary([synthetic_clip(seed=0), synthetic_clip(seed=1)], weights=[1.0, 3.0])
    state = library.sample_with_torques(np.random.default_rng(7), 16)
    assert isinstance(state, MotionState)
    shapes = {field.name: getattr(state, field.name).shape for field in dataclasses.fields(state)}
    assert shapes == {
        "dof_positions": (16, 28),
        "dof_velocities": (16, 28),
        "body_positions": (16, 15, 3),
        "body_rotations": (16, 15, 4),
        "body_linear_velocities": (16, 15, 3),
        "body_angular_velocities": (16, 15, 3),
        "joint_torques": (16, 28),
    }
    assert (len(library.dof_names), len(library.body_names)) == (28, 15)
    for field in dataclasses.fields(state):
        assert np.all(np.isfinite(getattr(state, field.name))), field.name
    np.testing.assert_allclose(np.linalg.norm(state.body_rotations, axis=-1), 1.0, atol=1e-9)
    again = library.sample_with_torques(np.random.default_rng(7), 16)
    plain = library.sample(np.random.default_rng(7), 16)
    for field in dataclasses.fields(state):
        np.testing.assert_array_equal(getattr(again, field.name), getattr(state, field.name))
        np.testing.assert_array_equal(getattr(plain, field.name), getattr(state, field.name))


def test_history_frames_are_dt_apart_oldest_first_and_inside_a_non_loop_clip():
    """No frame of a history clamps at time 0 (zero displacement beside a non-zero velocity)."""
    clip = synthetic_clip(num_frames=301, fps=30.0)
    assert not clip.loop
    library, dt, k = MotionLibrary([clip]), 0.02, 4
    history = library.sample_history(np.random.default_rng(5), 2000, k, dt)
    clip_index, end_time = library.sample_times(np.random.default_rng(5), 2000, earliest=(k - 1) * dt)
    assert end_time.min() >= (k - 1) * dt
    assert history.body_positions.shape == (2000, k, 15, 3)
    for j in range(k):
        expected = library.state_at(clip_index, end_time - (k - 1 - j) * dt)
        np.testing.assert_array_equal(history.body_positions[:, j], expected.body_positions)
    steps = np.diff(history.body_positions[:, :, 0], axis=1)
    np.testing.assert_allclose(
        steps, np.broadcast_to(clip.body_linear_velocities[0, 0] * dt, steps.shape), atol=1e-12
    )


def test_times_before_the_start_clamp_or_wrap():
    plain, looped = synthetic_clip(num_frames=31), synthetic_clip(num_frames=31, loop=True)
    for clip, oldest_time in ((plain, 0.0), (looped, plain.duration - 0.2)):
        library = MotionLibrary([clip])
        history = library.state_at(np.array([0]), np.array([[0.1 - 0.1 * j for j in range(3, -1, -1)]]))
        oldest = library.state_at(np.array([0]), np.array([oldest_time]))
        np.testing.assert_allclose(history.dof_positions[0, 0], oldest.dof_positions[0], atol=1e-12)


def test_library_refuses_clips_with_different_names_and_bad_weights():
    clip = synthetic_clip()
    renamed = dataclasses.replace(clip, dof_names=(*clip.dof_names[:-1], "tail"), source="odd.npz")
    with pytest.raises(ClipError, match=r"odd\.npz: 'dof_names' expected the same names"):
        MotionLibrary([clip, renamed])
    with pytest.raises(ClipError, match="'weights' expected 2 finite values > 0"):
        MotionLibrary([clip, clip], [1.0, 0.0])
    with pytest.raises(ClipError, match="at least one clip"):
        MotionLibrary([])


def test_clip_path_uses_argument_then_environment_then_default(tmp_path, monkeypatch):
    assert clip_path("deepmimic/walk", tmp_path) == tmp_path / "deepmimic" / "walk.npz"
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "env"))
    assert clip_path("deepmimic/walk") == tmp_path / "env" / "deepmimic" / "walk.npz"
    monkeypatch.delenv(DATA_DIR_ENV)
    assert clip_path("isaaclab/humanoid_run") == Path("data/clips/isaaclab/humanoid_run.npz")
    for bad in ("../walk", "/abs/walk", ""):
        with pytest.raises(ClipError, match="relative name"):
            clip_path(bad)


def test_load_library_reads_the_cards_clips_and_weights(tmp_path):
    save_clip(synthetic_clip(), tmp_path / "deepmimic" / "walk.npz")
    save_clip(synthetic_clip(seed=1), tmp_path / "deepmimic" / "run.npz")
    mocap = cards.MocapConfig(
        clips=(
            cards.ClipRef(name="deepmimic/walk", skill="walk", weight=1.0),
            cards.ClipRef(name="deepmimic/run", skill="run", weight=4.0),
        )
    )
    library = load_library(mocap, tmp_path)
    np.testing.assert_allclose(library.weights, [0.2, 0.8])
    assert library.clips[1] == synthetic_clip(seed=1)


def test_a_clip_folder_is_its_episodes_sharing_the_reference_weight(tmp_path):
    """`ampbench collect` writes a recording of several episodes as a folder of clips."""
    for seed in range(3):
        save_clip(synthetic_clip(seed=seed), tmp_path / "recorded" / "walk" / f"env{seed:03d}.npz")
    save_clip(synthetic_clip(seed=7), tmp_path / "deepmimic" / "run.npz")
    mocap = cards.MocapConfig(
        clips=(
            cards.ClipRef(name="recorded/walk", skill="walk", weight=3.0),
            cards.ClipRef(name="deepmimic/run", skill="run", weight=1.0),
        )
    )
    library = load_library(mocap, tmp_path)
    assert library.skills == ("walk", "walk", "walk", "run")
    np.testing.assert_allclose(library.weights, [0.25, 0.25, 0.25, 0.25])
    assert library.clips[2] == synthetic_clip(seed=2)


def test_load_library_tells_how_to_get_missing_clips(tmp_path):
    mocap = cards.MocapConfig(clips=(cards.ClipRef(name="deepmimic/jog", skill="run"),))
    with pytest.raises(ClipError, match=r"jog\.npz.*run `ampbench data fetch`"):
        load_library(mocap, tmp_path)


def test_clips_at_the_control_rate_are_sampled_on_their_frames():
    """A recording at the control rate is never blended between frames (that would shrink its noise)."""
    clip = synthetic_clip(num_frames=101, fps=50.0)
    library = MotionLibrary([clip])
    history = library.sample_history(np.random.default_rng(0), 500, 2, 0.02)
    frames = {tuple(row) for row in clip.joint_torques}
    assert all(tuple(row) in frames for row in history.joint_torques.reshape(-1, clip.joint_torques.shape[1]))
    blended = MotionLibrary([synthetic_clip(num_frames=101, fps=30.0)]).sample_history(
        np.random.default_rng(0), 50, 2, 0.02
    )
    assert not np.isin(
        blended.joint_torques[:, 0, 0], synthetic_clip(num_frames=101, fps=30.0).joint_torques[:, 0]
    ).all()
