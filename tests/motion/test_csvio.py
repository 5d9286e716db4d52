"""CSV <-> NPZ conversion: exact round trips, and missing columns named or (when asked) filled."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from ampbench.motion.clip import ARRAY_KEYS, ClipError, FilledFieldsWarning
from ampbench.motion.clip_files import load_clip, save_clip
from ampbench.motion.convert.csvio import clip_to_csv, convert_folder, csv_to_clip
from tests.clipfactory import synthetic_clip


def assert_same_clip(found, expected, tolerance=1e-9):
    assert found.fps == pytest.approx(expected.fps, rel=tolerance)
    assert (found.dof_names, found.body_names) == (expected.dof_names, expected.body_names)
    assert (found.loop, found.filled_fields) == (expected.loop, expected.filled_fields)
    for key in ARRAY_KEYS:
        if getattr(expected, key) is None:
            assert getattr(found, key) is None, key
        else:
            np.testing.assert_allclose(
                getattr(found, key), getattr(expected, key), rtol=0, atol=tolerance, err_msg=key
            )


def rewrite_csv(path: Path, drop=lambda name: False, edit_metadata=lambda lines: lines) -> Path:
    """Drop the columns whose name matches `drop`, and pass the '#' lines through `edit_metadata`."""
    lines = path.read_text().splitlines()
    metadata = [line for line in lines if line.startswith("#")]
    rows = [line.split(",") for line in lines if not line.startswith("#")]
    keep = [i for i, name in enumerate(rows[0]) if not drop(name)]
    table = [",".join(row[i] for i in keep) for row in rows]
    path.write_text("\n".join([*edit_metadata(metadata), *table]) + "\n")
    return path


@pytest.mark.parametrize(
    "clip",
    [
        synthetic_clip(fps=60.0),
        synthetic_clip(num_frames=7, fps=29.97, loop=True, torques=False, seed=2),
        dataclasses.replace(synthetic_clip(), filled_fields=("dof_velocities", "body_angular_velocities")),
    ],
    ids=["torques", "plain-loop", "filled"],
)
def test_file_round_trip_is_exact(tmp_path, clip):
    clip_to_csv(clip, tmp_path / "clip.csv")
    assert_same_clip(csv_to_clip(tmp_path / "clip.csv"), clip)


def test_folder_round_trip_keeps_names_and_values(tmp_path):
    clips = {
        "deepmimic/walk": synthetic_clip(),
        "deepmimic/run": synthetic_clip(seed=1, torques=False),
        "top": synthetic_clip(seed=2, loop=True),
    }
    for name, clip in clips.items():
        save_clip(clip, tmp_path / "npz" / f"{name}.npz")
    as_csv = convert_folder(tmp_path / "npz", tmp_path / "csv", to="csv")
    back = convert_folder(tmp_path / "csv", tmp_path / "npz2", to="npz")
    assert sorted(as_csv) == sorted(tmp_path / "csv" / f"{name}.csv" for name in clips)
    assert sorted(back) == sorted(tmp_path / "npz2" / f"{name}.npz" for name in clips)
    for name, clip in clips.items():
        assert_same_clip(load_clip(tmp_path / "npz2" / f"{name}.npz"), clip)


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(ClipError, match=r"expected \.csv files to convert, found none"):
        convert_folder(tmp_path, tmp_path / "out", to="npz")


def test_partly_missing_field_lists_its_missing_columns_even_with_fill(tmp_path):
    clip_to_csv(synthetic_clip(), tmp_path / "clip.csv")
    gone = {"dof_vel:left_knee", "body_rot:head:w"}
    path = rewrite_csv(tmp_path / "clip.csv", drop=lambda name: name in gone)
    with pytest.raises(
        ClipError, match=r"clip\.csv: 'dof_velocities' is missing columns \['dof_vel:left_knee'\]"
    ):
        csv_to_clip(path, fill_missing=True)


def test_torques_for_fewer_dofs_are_an_error(tmp_path):
    clip_to_csv(synthetic_clip(), tmp_path / "clip.csv")
    path = rewrite_csv(tmp_path / "clip.csv", drop=lambda name: name == "torque:neck_y")
    with pytest.raises(ClipError, match=r"'joint_torques' is missing columns \['torque:neck_y'\]"):
        csv_to_clip(path)


def test_absent_field_is_an_error_listing_its_columns(tmp_path):
    clip_to_csv(synthetic_clip(), tmp_path / "clip.csv")
    path = rewrite_csv(tmp_path / "clip.csv", drop=lambda name: name.startswith("body_ang_vel:"))
    with pytest.raises(
        ClipError,
        match=r"\['body_angular_velocities'\] absent, missing columns "
        r"\['body_ang_vel:pelvis:x', .*fill_missing=True",
    ):
        csv_to_clip(path)


def test_fill_missing_fills_absent_fields_records_and_warns(tmp_path):
    clip = synthetic_clip()
    clip_to_csv(clip, tmp_path / "clip.csv")
    path = rewrite_csv(
        tmp_path / "clip.csv", drop=lambda name: name.startswith(("body_ang_vel:", "dof_vel:"))
    )
    with pytest.warns(FilledFieldsWarning, match=r"clip\.csv: filled missing fields"):
        filled = csv_to_clip(path, fill_missing=True)
    assert filled.filled_fields == ("dof_velocities", "body_angular_velocities")
    np.testing.assert_allclose(filled.body_angular_velocities, clip.body_angular_velocities, atol=1e-9)


def test_csv_without_torque_columns_is_a_plain_motion_clip(tmp_path):
    clip_to_csv(synthetic_clip(), tmp_path / "clip.csv")
    path = rewrite_csv(tmp_path / "clip.csv", drop=lambda name: name.startswith("torque:"))
    assert csv_to_clip(path).joint_torques is None


BAD_CSV = {
    "no time": (dict(drop=lambda name: name == "time"), "column 'time' is missing"),
    "no convention": (
        dict(edit_metadata=lambda lines: [line for line in lines if "dof_convention" not in line]),
        "'dof_convention' is missing",
    ),
    "other convention": (
        dict(edit_metadata=lambda lines: ["# dof_convention: expmap", *lines[1:]]),
        "found 'expmap'",
    ),
    "loop not boolean": (
        dict(edit_metadata=lambda lines: [lines[0], "# loop: maybe"]),
        "'loop' expected a boolean",
    ),
    "no body columns": (dict(drop=lambda name: name.startswith("body_")), "0 body names"),
}


@pytest.mark.parametrize("edit, detail", BAD_CSV.values(), ids=BAD_CSV.keys())
def test_bad_csv_is_refused_naming_the_file(tmp_path, edit, detail):
    clip_to_csv(synthetic_clip(), tmp_path / "bad.csv")
    path = rewrite_csv(tmp_path / "bad.csv", **edit)
    with pytest.raises(ClipError, match=r"bad\.csv") as error:
        csv_to_clip(path)
    assert detail in str(error.value)


def test_uneven_time_steps_are_refused(tmp_path):
    clip_to_csv(synthetic_clip(), tmp_path / "gap.csv")
    lines = (tmp_path / "gap.csv").read_text().splitlines()
    del lines[10]  # a dropped frame: one step twice as long
    (tmp_path / "gap.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(ClipError, match=r"gap\.csv: 'time' expected uniform increasing steps"):
        csv_to_clip(tmp_path / "gap.csv")


def test_unknown_column_and_ragged_rows_are_refused(tmp_path):
    clip_to_csv(synthetic_clip(), tmp_path / "odd.csv")
    text = (tmp_path / "odd.csv").read_text().replace("time,", "time,speed:x,", 1)
    (tmp_path / "odd.csv").write_text(text)
    with pytest.raises(ClipError, match=r"odd\.csv: rows expected"):
        csv_to_clip(tmp_path / "odd.csv")
    lines = text.splitlines()
    lines[3:] = [line.replace(",", ",0.0,", 1) for line in lines[3:]]
    (tmp_path / "odd.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(ClipError, match=r"odd\.csv: unknown columns \['speed:x'\]"):
        csv_to_clip(tmp_path / "odd.csv")
