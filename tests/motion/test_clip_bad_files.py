"""Bad source and clip files end in one ClipError naming file, key and what was expected, also through
the CLI (exit 2, one line), never in a raw IndexError, BadZipFile, EOFError or TypeError."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from ampbench import cli
from ampbench.motion.clip import ClipError, SourceDataWarning
from ampbench.motion.clip_files import load_clip, save_clip
from ampbench.motion.convert.deepmimic import DEEPMIMIC_JOINTS, read_deepmimic
from ampbench.motion.convert.isaaclab_npz import isaaclab_to_clip
from ampbench.motion.loader import MotionLibrary
from tests.clipfactory import isaaclab_fields, random_in_range_angles, synthetic_clip, write_isaaclab

FRAMES = 20


def angles() -> np.ndarray:
    return random_in_range_angles(np.random.default_rng(3), FRAMES)


def with_value(key: str, index: tuple, value: float) -> np.ndarray:
    array = isaaclab_fields(angles())[key].copy()
    array[index] = value
    return array


def cut(path: Path, keep) -> Path:
    """The file's bytes passed through keep(bytes) -> bytes."""
    path.write_bytes(keep(path.read_bytes()))
    return path


def zeroed_middle(data: bytes) -> bytes:
    middle = len(data) // 3
    return data[:middle] + bytes(200) + data[middle + 200 :]


ISAACLAB_BAD = {
    "27 DOF columns": (dict(dof_positions=np.zeros((FRAMES, 27))), "'dof_positions' expected shape (F, D)"),
    "14 bodies": (
        dict(body_positions=np.zeros((FRAMES, 14, 3))),
        "'body_positions' expected shape (F, B, 3)",
    ),
    "1-D DOFs": (dict(dof_positions=np.zeros(FRAMES)), "found (20,)"),
    "fps as an array": (dict(fps=np.array([60])), "'fps' expected a positive scalar number"),
    "one frame": (
        {key: value[:1] for key, value in isaaclab_fields(angles()).items() if value.ndim >= 2},
        "'dof_positions' expected at least 2 frames, found 1",
    ),
    "NaN at frame 10": (
        dict(dof_positions=with_value("dof_positions", (10, 3), np.nan)),
        "'dof_positions' expected finite values, found NaN/inf in 1 frame(s), first at frame 10",
    ),
    "zero quaternion": (
        dict(body_rotations=with_value("body_rotations", (7,), 0.0)),
        "'body_rotations' expected unit quaternions (w, x, y, z), found 15 of norm < 1e-06, first at frame 7",
    ),
}


@pytest.mark.parametrize("changes, detail", ISAACLAB_BAD.values(), ids=ISAACLAB_BAD.keys())
def test_bad_isaaclab_file_names_file_key_and_shape(tmp_path, changes, detail):
    path = write_isaaclab(tmp_path / "humanoid_bad.npz", angles(), **changes)
    with pytest.raises(ClipError, match=r"humanoid_bad\.npz") as error:
        isaaclab_to_clip(path)
    assert detail in str(error.value)


BROKEN_BYTES = {
    "truncated": (lambda data: data[: len(data) // 2], "zipfile.BadZipFile"),
    "tail cut": (lambda data: data[:-10], "zipfile.BadZipFile"),
    "corrupted": (zeroed_middle, "(zipfile.BadZipFile|zlib.error)"),
    "empty": (lambda data: b"", "zipfile.BadZipFile"),
}


@pytest.mark.parametrize("keep, detail", BROKEN_BYTES.values(), ids=BROKEN_BYTES.keys())
def test_broken_npz_bytes_are_a_clip_error_in_every_reader(tmp_path, keep, detail):
    source = cut(write_isaaclab(tmp_path / "humanoid_broken.npz", angles()), keep)
    save_clip(synthetic_clip(), tmp_path / "clip_broken.npz")
    clip = cut(tmp_path / "clip_broken.npz", keep)
    for read, path in ((isaaclab_to_clip, source), (load_clip, clip)):
        with pytest.raises(ClipError, match=rf"{path.name}: not a plain-array NPZ clip file \({detail}"):
            read(path)


def test_bad_files_through_the_cli_exit_2_with_one_line(tmp_path, capsys):
    bad = write_isaaclab(tmp_path / "humanoid_wide.npz", angles(), dof_positions=np.zeros((FRAMES, 27)))
    assert cli.main(["data", "convert", "isaaclab", str(bad), str(tmp_path / "out.npz")]) == 2
    assert "humanoid_wide.npz: 'dof_positions' expected shape" in capsys.readouterr().err
    save_clip(synthetic_clip(), tmp_path / "clip.npz")
    cut(tmp_path / "clip.npz", lambda data: data[:-10])
    assert cli.main(["data", "convert", "npz2csv", str(tmp_path / "clip.npz"), str(tmp_path / "c.csv")]) == 2
    assert "clip.npz: not a plain-array NPZ clip file (zipfile.BadZipFile" in capsys.readouterr().err


def write_clip_with_loop(path: Path, loop) -> Path:
    save_clip(synthetic_clip(), path)
    fields = dict(np.load(path))
    np.savez(path, **(fields | {"loop": np.array(loop)}))
    return path


@pytest.mark.parametrize(
    ("stored", "expected"),
    [("false", False), ("0", False), ("no", False), ("True", True), ("yes", True), (0, False), (1, True)],
)
def test_loop_flag_stored_as_text_or_number_is_parsed(tmp_path, stored, expected):
    assert load_clip(write_clip_with_loop(tmp_path / "loop.npz", stored)).loop is expected


@pytest.mark.parametrize("stored", ["maybe", 2, [True, False]])
def test_loop_flag_that_is_not_a_boolean_is_refused(tmp_path, stored):
    with pytest.raises(ClipError, match=r"loop\.npz: 'loop' expected a boolean"):
        load_clip(write_clip_with_loop(tmp_path / "loop.npz", stored))


def test_non_unit_source_quaternions_are_renormalised_with_a_count(tmp_path):
    rotations = isaaclab_fields(angles())["body_rotations"].copy()
    rotations[4:7, 2] *= 1.05  # 3 frames of one body
    path = write_isaaclab(tmp_path / "humanoid_long.npz", angles(), body_rotations=rotations)
    with pytest.warns(SourceDataWarning, match=r"renormalised 3 of 300 quaternions .*norms 1 to 1\.05"):
        clip = isaaclab_to_clip(path)
    np.testing.assert_allclose(np.linalg.norm(clip.body_rotations, axis=-1), 1.0, atol=1e-6)


def test_unit_source_quaternions_pass_without_a_warning(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        isaaclab_to_clip(write_isaaclab(tmp_path / "humanoid_ok.npz", angles()))
    assert not [str(w.message) for w in caught if "renormalised" in str(w.message)]


def deepmimic_frames(root_rotation: list[float]) -> list[list[float]]:
    identity = [1.0, 0.0, 0.0, 0.0]
    joints = [value for _, _, width in DEEPMIMIC_JOINTS for value in (identity if width == 4 else [0.0])]
    return [[0.1, 0.0, 0.9, 0.0, *root_rotation, *joints], [0.0, 0.0, 0.9, 0.0, *identity, *joints]]


def test_deepmimic_zero_quaternion_is_refused_and_a_long_one_warned(tmp_path):
    path = tmp_path / "m.txt"
    path.write_text(json.dumps({"Loop": "none", "Frames": deepmimic_frames([0.0, 0.0, 0.0, 0.0])}))
    with pytest.raises(ClipError, match=r"m\.txt: 'Frames' expected unit quaternions .* frame 0 \(root\)"):
        read_deepmimic(path)
    path.write_text(json.dumps({"Loop": "none", "Frames": deepmimic_frames([2.0, 0.0, 0.0, 0.0])}))
    with pytest.warns(SourceDataWarning, match=r"'Frames': renormalised 1 of 18 .*; root 1\)"):
        motion = read_deepmimic(path)
    np.testing.assert_allclose(motion.root_rotations[0], [1.0, 0.0, 0.0, 0.0])


def test_state_at_refuses_a_nan_time_and_a_clip_index_outside_the_library():
    library = MotionLibrary([synthetic_clip(), synthetic_clip(seed=1)])
    with pytest.raises(ClipError, match=r"time expected finite seconds, found nan \(1 of 2 not finite\)"):
        library.state_at(np.array([0, 1]), np.array([0.1, np.nan]))
    with pytest.raises(ClipError, match=r"clip index expected 0 to 1, found 2"):
        library.state_at(np.array([2]), np.array([0.1]))
    with pytest.raises(ClipError, match=r"clip index expected 0 to 1, found -1"):
        library.state_at(-1, 0.1)


def test_an_npz_header_declaring_a_huge_array_is_refused_before_allocating(tmp_path):
    import io
    import zipfile

    from ampbench.motion.clip_files import read_npz

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("dof_positions.npy", b"\x93NUMPY\x01\x00" + header.getvalue()[8:] + b"\0" * 64)
    with pytest.raises(ClipError, match=r"bomb.npz.*dof_positions declares shape \(1000000000000,\)"):
        read_npz(path)
