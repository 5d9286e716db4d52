"""Source files that store every pose twice (IsaacGymEnvs' and Isaac Lab's AMP motions: 30 fps content
labelled 60) are converted at their true rate, with a note, and every velocity comes from the poses."""

from __future__ import annotations

import numpy as np
import pytest

from ampbench import cli
from ampbench.motion.clip import SourceDataWarning, angular_velocities
from ampbench.motion.clip_files import load_clip
from ampbench.motion.convert.isaaclab_npz import isaaclab_to_clip
from ampbench.motion.convert.retarget import time_derivative
from ampbench.motion.fetch import convert_source
from ampbench.motion.loader import MotionLibrary
from tests.clipfactory import isaaclab_fields, random_in_range_angles, write_isaaclab

ANGLES = random_in_range_angles(np.random.default_rng(7), 16)
CONTROL_DT = 0.02


def doubled(fields: dict) -> dict:
    """Every per-frame array with each frame stored twice, and velocities that are not the poses'."""
    out = {key: np.repeat(value, 2, axis=0) if value.ndim >= 2 else value for key, value in fields.items()}
    for key in ("dof_velocities", "body_linear_velocities", "body_angular_velocities"):
        out[key] = np.random.default_rng(0).normal(size=out[key].shape).astype(np.float32)
    return out


@pytest.fixture
def stored_twice(tmp_path):
    return write_isaaclab(tmp_path / "humanoid_twice.npz", ANGLES, **doubled(isaaclab_fields(ANGLES)))


def test_poses_stored_twice_are_converted_at_the_true_rate(stored_twice):
    with pytest.warns(SourceDataWarning, match=r"16 of 31 steps repeat .* every pose stored 2 times"):
        clip = isaaclab_to_clip(stored_twice)
    assert (clip.fps, clip.num_frames) == (30.0, 16)
    np.testing.assert_allclose(clip.dof_positions, ANGLES, atol=1e-5)
    assert any("content is 30 fps, not the 60 the file says" in note for note in clip.notes)


def test_every_velocity_is_recomputed_from_the_poses(stored_twice):
    with pytest.warns(SourceDataWarning):
        clip = isaaclab_to_clip(stored_twice)
    dt = 1.0 / clip.fps
    np.testing.assert_allclose(clip.body_linear_velocities, time_derivative(clip.body_positions, dt))
    np.testing.assert_allclose(clip.body_angular_velocities, angular_velocities(clip.body_rotations, dt))
    np.testing.assert_allclose(clip.dof_velocities, np.gradient(ANGLES, dt, axis=0), atol=1e-3)


def test_the_pelvis_moves_evenly_between_frames_not_in_a_staircase(stored_twice, tmp_path):
    """The fixture's root moves at constant speed; sampled every 20 ms, each step covers the same way."""

    def step_ratios(clip) -> np.ndarray:
        times = np.arange(0.0, clip.duration, CONTROL_DT)
        pelvis = MotionLibrary([clip]).state_at(np.zeros(len(times), dtype=int), times).body_positions[:, 0]
        steps = np.linalg.norm(np.diff(pelvis, axis=0), axis=-1)
        return steps / steps.mean()

    with pytest.warns(SourceDataWarning):
        kept = load_clip(
            convert_source("isaaclab", stored_twice, tmp_path / "kept.npz", keep_repeated_frames=True)[0]
        )
        fixed = isaaclab_to_clip(stored_twice)
    assert kept.fps == 60 and any("kept as asked" in note for note in kept.notes)
    assert step_ratios(kept).min() < 0.5 and step_ratios(kept).max() > 1.5  # the staircase
    np.testing.assert_allclose(step_ratios(fixed), 1.0, atol=1e-4)


def test_irregular_repeats_are_kept_and_warned(tmp_path):
    fields = isaaclab_fields(ANGLES)
    fields = {
        key: np.insert(value, 5, value[5], axis=0) if value.ndim >= 2 else value
        for key, value in fields.items()
    }
    with pytest.warns(SourceDataWarning, match=r"1 of 16 steps .* \(first at frame 5\); not in equal runs"):
        clip = isaaclab_to_clip(write_isaaclab(tmp_path / "humanoid_once.npz", ANGLES, **fields))
    assert (clip.fps, clip.num_frames) == (60.0, 17)


def test_keep_repeated_frames_is_refused_for_other_sources(tmp_path, capsys):
    argv = [
        "data",
        "convert",
        "deepmimic",
        str(tmp_path / "m.txt"),
        str(tmp_path / "m.npz"),
        "--keep-repeated-frames",
    ]
    assert cli.main(argv) == 2
    assert (
        "keep_repeated_frames applies to ['poselib', 'isaaclab'], not 'deepmimic'" in capsys.readouterr().err
    )
