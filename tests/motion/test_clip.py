"""The clip format refuses bad files with a message naming file and key, and fills only when asked."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from ampbench.motion.clip import ARRAY_KEYS, DOF_CONVENTION, ClipError, FilledFieldsWarning, validate_clip
from ampbench.motion.clip_files import load_clip, save_clip
from tests.clipfactory import ROOT_VELOCITY, synthetic_clip, synthetic_parameters

FRAMES = 31
DELETE = object()


def npz_fields(clip) -> dict:
    """The keys save_clip writes, as a plain dict to corrupt."""
    fields = {key: getattr(clip, key) for key in ARRAY_KEYS}
    fields.update(
        fps=np.float64(clip.fps),
        dof_names=np.array(clip.dof_names),
        loop=np.array(clip.loop),
        body_names=np.array(clip.body_names),
        dof_convention=np.array(DOF_CONVENTION),
        filled_fields=np.array(clip.filled_fields, dtype=str),
    )
    return fields


def write_fields(path: Path, **changes) -> Path:
    """A synthetic clip file with some keys replaced (or removed with DELETE)."""
    fields = npz_fields(synthetic_clip(num_frames=FRAMES))
    for key, value in changes.items():
        if value is DELETE:
            del fields[key]
        else:
            fields[key] = value
    np.savez(path, **fields)
    return path


def corrupted(key: str, edit) -> np.ndarray:
    array = np.array(getattr(synthetic_clip(num_frames=FRAMES), key))
    edit(array)
    return array


def test_save_then_load_gives_the_same_clip(tmp_path):
    for clip in (
        synthetic_clip(),
        synthetic_clip(loop=True, torques=False, seed=3),
        dataclasses.replace(synthetic_clip(), filled_fields=("dof_velocities",)),
    ):
        save_clip(clip, tmp_path / "clip.npz")
        loaded = load_clip(tmp_path / "clip.npz")
        assert loaded == clip
        assert (loaded.loop, loaded.filled_fields, loaded.joint_torques is None) == (
            clip.loop,
            clip.filled_fields,
            clip.joint_torques is None,
        )
        assert loaded.source == str(tmp_path / "clip.npz")


def test_clip_equality_compares_content_not_source():
    clip = synthetic_clip()
    assert clip == dataclasses.replace(clip, source="elsewhere")
    assert clip != synthetic_clip(seed=1)
    assert clip != dataclasses.replace(clip, joint_torques=None)


def test_clip_arrays_are_read_only_copies():
    positions = np.zeros((2, 28))
    clip = dataclasses.replace(synthetic_clip(num_frames=2), dof_positions=positions)
    positions[0, 0] = 1.0
    assert clip.dof_positions[0, 0] == 0.0
    with pytest.raises(ValueError, match="read-only"):
        clip.dof_positions[0, 0] = 1.0


def test_duration_counts_intervals_between_frames():
    clip = synthetic_clip(num_frames=61, fps=30.0)
    assert (clip.num_frames, clip.duration) == (61, 2.0)


BAD_FILES = {
    "missing key": (dict(dof_positions=DELETE), "dof_positions", "missing"),
    "missing body names": (dict(body_names=DELETE), "body_names", "missing"),
    "rotations of 14 bodies": (
        dict(body_rotations=np.ones((FRAMES, 14, 4)) * 0.5),
        "body_rotations",
        "(F, B, 4) with B",
    ),
    "positions as 3 columns": (dict(dof_positions=np.zeros((FRAMES, 28, 1))), "dof_positions", "(31, 28, 1)"),
    "frame counts disagree": (dict(dof_velocities=np.zeros((FRAMES - 1, 28))), "dof_velocities", "30"),
    "torques for 27 DOF": (dict(joint_torques=np.zeros((FRAMES, 27))), "joint_torques", "(31, 27)"),
    "velocities for 29 DOF": (dict(dof_velocities=np.zeros((FRAMES, 29))), "dof_velocities", "D = len"),
    "NaN in positions": (
        dict(body_positions=corrupted("body_positions", lambda a: a.__setitem__((7, 3, 1), np.nan))),
        "body_positions",
        "first at frame 7",
    ),
    "inf in torques": (
        dict(joint_torques=corrupted("joint_torques", lambda a: a.__setitem__((12, 0), np.inf))),
        "joint_torques",
        "frame 12",
    ),
    "non-unit quaternion": (
        dict(body_rotations=corrupted("body_rotations", lambda a: a.__setitem__((4, 2), a[4, 2] * 1.01))),
        "body_rotations",
        "0.01 at frame 4, body 'head'",
    ),
    "fps zero": (dict(fps=np.float64(0.0)), "fps", "found 0.0"),
    "fps negative": (dict(fps=np.float64(-30.0)), "fps", "> 0"),
    "fps not a scalar": (dict(fps=np.array([30.0, 30.0])), "fps", "shape (2,)"),
    "fps a string": (dict(fps=np.array("thirty")), "fps", "scalar number"),
    "no convention": (dict(dof_convention=DELETE), "dof_convention", "ampbench data convert isaaclab"),
    "exponential-map convention": (dict(dof_convention=np.array("expmap")), "dof_convention", "'expmap'"),
    "single frame": (
        {key: np.zeros((1, 28)) for key in ("dof_positions", "dof_velocities", "joint_torques")},
        "dof_positions",
        "at least 2 frames",
    ),
    "names not strings": (dict(dof_names=np.arange(28)), "dof_names", "strings"),
    "duplicate body names": (dict(body_names=np.array(["pelvis"] * 15)), "body_names", "unique"),
    "text positions": (dict(dof_positions=np.full((FRAMES, 28), "x")), "dof_positions", "numeric"),
}


@pytest.mark.parametrize("changes, key, detail", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_file_is_refused_naming_file_key_and_detail(tmp_path, changes, key, detail):
    path = write_fields(tmp_path / "broken_clip.npz", **changes)
    with pytest.raises(ClipError) as error:
        load_clip(path)
    message = str(error.value)
    assert "broken_clip.npz" in message
    assert f"'{key}'" in message
    assert detail in message


def test_missing_file_is_a_clip_error(tmp_path):
    with pytest.raises(ClipError, match=r"nowhere\.npz: file not found"):
        load_clip(tmp_path / "nowhere.npz")


def test_pickled_object_arrays_are_refused_not_unpickled(tmp_path):
    path = write_fields(
        tmp_path / "pickled.npz", dof_names=np.array(list(synthetic_clip().dof_names), dtype=object)
    )
    with pytest.raises(ClipError, match=r"pickled\.npz: not a plain-array NPZ clip"):
        load_clip(path)


def test_validate_clip_names_the_source_of_an_in_memory_clip():
    clip = dataclasses.replace(synthetic_clip(), fps=-1.0, source="made-by-test")
    with pytest.raises(ClipError, match="made-by-test: 'fps'"):
        validate_clip(clip)


def test_save_refuses_an_invalid_clip(tmp_path):
    clip = dataclasses.replace(synthetic_clip(), joint_torques=np.zeros((FRAMES, 3)))
    with pytest.raises(ClipError, match="joint_torques"):
        save_clip(clip, tmp_path / "bad.npz")
    assert not (tmp_path / "bad.npz").exists()


VELOCITIES = {"dof_velocities": DELETE, "body_linear_velocities": DELETE, "body_angular_velocities": DELETE}


def test_missing_velocities_are_an_error_without_fill_missing(tmp_path):
    path = write_fields(tmp_path / "no_velocities.npz", **VELOCITIES)
    with pytest.raises(ClipError, match=r"no_velocities.npz: \['dof_velocities', .*fill_missing=True"):
        load_clip(path)


def test_fill_missing_derives_velocities_records_and_warns(tmp_path):
    path = write_fields(tmp_path / "no_velocities.npz", **VELOCITIES)
    with pytest.warns(FilledFieldsWarning, match=r"no_velocities.npz: filled .*degrades training"):
        clip = load_clip(path, fill_missing=True)
    assert clip.filled_fields == ("dof_velocities", "body_linear_velocities", "body_angular_velocities")
    exact = synthetic_clip(num_frames=FRAMES)
    np.testing.assert_allclose(clip.body_linear_velocities, exact.body_linear_velocities, atol=1e-9)
    np.testing.assert_allclose(clip.body_angular_velocities, exact.body_angular_velocities, atol=1e-9)
    # central differences of a sin(w t): error a w^3 dt^2 / 6 < 0.01 inside the clip
    np.testing.assert_allclose(clip.dof_velocities[1:-1], exact.dof_velocities[1:-1], atol=0.01)


def test_filled_fields_survive_a_save_and_load(tmp_path):
    path = write_fields(tmp_path / "partial.npz", dof_velocities=DELETE)
    with pytest.warns(FilledFieldsWarning):
        clip = load_clip(path, fill_missing=True)
    save_clip(clip, tmp_path / "saved.npz")
    assert load_clip(tmp_path / "saved.npz").filled_fields == ("dof_velocities",)


def test_fill_missing_poses_are_zeros_and_identity_and_say_so(tmp_path):
    path = write_fields(
        tmp_path / "no_bodies.npz",
        body_positions=DELETE,
        body_rotations=DELETE,
        body_linear_velocities=DELETE,
        body_angular_velocities=DELETE,
    )
    with pytest.warns(FilledFieldsWarning, match=r"body_positions <- zeros.*body_rotations <- identity"):
        clip = load_clip(path, fill_missing=True)
    assert np.all(clip.body_positions == 0.0) and np.all(clip.body_angular_velocities == 0.0)
    np.testing.assert_array_equal(clip.body_rotations[..., 0], 1.0)
    np.testing.assert_array_equal(clip.dof_positions, synthetic_clip(num_frames=FRAMES).dof_positions)


def test_fill_missing_still_checks_the_shape_of_what_is_present(tmp_path):
    path = write_fields(
        tmp_path / "odd.npz", body_rotations=np.ones((FRAMES, 15, 3)), body_angular_velocities=DELETE
    )
    with pytest.raises(ClipError, match=r"odd\.npz: 'body_rotations' expected shape \(F, B, 4\)"):
        load_clip(path, fill_missing=True)


def test_synthetic_clip_moves_as_documented():
    clip = synthetic_clip(num_frames=11, fps=10.0)
    params = synthetic_parameters(28, 15, seed=0)
    np.testing.assert_allclose(
        clip.body_positions[10] - clip.body_positions[0], np.broadcast_to(ROOT_VELOCITY, (15, 3)), atol=1e-12
    )
    np.testing.assert_allclose(clip.dof_positions[0], params["amplitude"] * np.sin(params["phase"]))
