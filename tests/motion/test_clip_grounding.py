"""Converted clips stand on the floor: the lower-quartile frame's lowest collision geom at z = 0, the
offset recorded in the clip (saved, also as CSV) and warned when large."""

from __future__ import annotations

import warnings

import mujoco
import numpy as np
import pytest

from ampbench.motion.clip import SourceDataWarning
from ampbench.motion.clip_files import load_clip, save_clip
from ampbench.motion.convert.csvio import clip_to_csv, csv_to_clip
from ampbench.motion.convert.isaaclab_npz import isaaclab_to_clip
from ampbench.motion.convert.retarget import (
    GROUND_QUANTILE,
    GROUND_WARN_M,
    lowest_geom_heights,
    reference_model,
)
from tests.clipfactory import isaaclab_fields, random_in_range_angles, write_isaaclab

ANGLES = 0.1 * random_in_range_angles(np.random.default_rng(5), 24)  # near the standing pose


def convert(tmp_path, lift: float):
    """The Isaac Lab fixture with every body raised by `lift` m, converted; and its warnings."""
    positions = isaaclab_fields(ANGLES)["body_positions"] + np.float32(lift) * np.array([0, 0, 1], np.float32)
    path = write_isaaclab(tmp_path / "humanoid_lifted.npz", ANGLES, body_positions=positions)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clip = isaaclab_to_clip(path)
    return clip, [str(w.message) for w in caught if issubclass(w.category, SourceDataWarning)]


def mujoco_lowest_heights(clip) -> np.ndarray:
    """Independent check: MuJoCo's own geom poses, every colliding geom's lowest point by its type."""
    model = reference_model()
    data = mujoco.MjData(model)
    heights = np.empty(clip.num_frames)
    for frame in range(clip.num_frames):
        data.qpos[:3], data.qpos[3:7] = clip.body_positions[frame, 0], clip.body_rotations[frame, 0]
        data.qpos[7:] = clip.dof_positions[frame]
        mujoco.mj_kinematics(model, data)
        lows = []
        for geom in range(1, model.ngeom):  # 0 is the floor
            size, axes = model.geom_size[geom], data.geom_xmat[geom].reshape(3, 3)
            kind, z = model.geom_type[geom], data.geom_xpos[geom, 2]
            if kind == mujoco.mjtGeom.mjGEOM_SPHERE:
                lows.append(z - size[0])
            elif kind == mujoco.mjtGeom.mjGEOM_CAPSULE:
                lows.append(z - size[0] - size[1] * abs(axes[2, 2]))
            else:
                lows.append(z - np.abs(axes[2]) @ size)
        heights[frame] = min(lows)
    return heights


def test_lowest_geom_heights_agree_with_mujoco(tmp_path):
    clip, _ = convert(tmp_path, 0.0)
    np.testing.assert_allclose(
        lowest_geom_heights(clip.body_positions, clip.body_rotations), mujoco_lowest_heights(clip), atol=1e-6
    )


def test_a_sunken_clip_is_raised_to_the_floor_and_the_offset_recorded(tmp_path):
    reference, _ = convert(tmp_path, 0.0)
    sunk, messages = convert(tmp_path, -0.05)
    heights = lowest_geom_heights(sunk.body_positions, sunk.body_rotations)
    assert abs(np.quantile(heights, GROUND_QUANTILE)) < 1e-6
    assert sunk.ground_offset == pytest.approx(reference.ground_offset + 0.05, abs=1e-6)
    np.testing.assert_allclose(sunk.body_positions, reference.body_positions, atol=1e-6)
    assert any(note.startswith("grounded: every body raised by") for note in sunk.notes)
    assert any("grounded by" in message for message in messages)


def test_a_small_offset_is_not_warned(tmp_path):
    reference, _ = convert(tmp_path, 0.0)
    clip, messages = convert(tmp_path, reference.ground_offset - GROUND_WARN_M / 2)  # then 10 mm to go
    assert clip.ground_offset == pytest.approx(GROUND_WARN_M / 2, abs=1e-6)
    assert not [message for message in messages if "grounded by" in message]


def test_the_offset_and_notes_survive_npz_and_csv(tmp_path):
    clip, _ = convert(tmp_path, -0.03)
    save_clip(clip, tmp_path / "grounded.npz")
    loaded = load_clip(tmp_path / "grounded.npz")
    assert loaded == clip and loaded.ground_offset == clip.ground_offset and loaded.notes == clip.notes
    clip_to_csv(loaded, tmp_path / "grounded.csv")
    again = csv_to_clip(tmp_path / "grounded.csv")
    assert again.ground_offset == clip.ground_offset and again.notes == clip.notes
