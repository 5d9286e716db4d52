"""CSV <-> NPZ conversion of motion clips, one file or a folder, for data recorded or edited as tables.

CSV layout (UTF-8, comma separated, one row per frame, numbers written with full float precision):

    # dof_convention: hinge_xyz          metadata lines start with '#' and come first
    # loop: false                         optional, default false (also 0/1, no/yes)
    # filled_fields: dof_velocities       optional, comma separated; fields filled earlier
    # ground_offset: 0.031                optional, m the converter raised the clip by
    # notes: resampled ... | grounded ... optional, the converter's notes separated by ' | '
    time,dof_pos:abdomen_x,...,body_rot:pelvis:w,...
    0.0,0.012,...

Columns (any order; DOF and body order is that of first appearance):
    time                               seconds; uniform steps (within 0.1 % of a step), fps = 1 / step
    dof_pos:<dof>  dof_vel:<dof>       rad, rad/s (`dof_convention` hinge_xyz, see ampbench.motion.clip)
    torque:<dof>                       N·m, optional as a whole (absent = plain motion clip)
    body_pos:<body>:x|y|z              world position, m
    body_rot:<body>:w|x|y|z            world rotation, unit quaternion wxyz
    body_lin_vel:<body>:x|y|z          world linear velocity, m/s
    body_ang_vel:<body>:x|y|z          world angular velocity, rad/s

A field whose columns are all absent is an error unless `fill_missing` (then filled, recorded in
`filled_fields` and warned, by the rules of `ampbench.motion.clip_files`). A field with only some of its
columns is always an error listing the missing columns: it points to a broken file, not an absent field.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from ampbench.motion.clip import DOF_CONVENTION, ClipError, MotionClip
from ampbench.motion.clip_files import clip_from_fields, load_clip, save_clip

TIME_COLUMN = "time"
DOF_PREFIXES = {"dof_positions": "dof_pos", "dof_velocities": "dof_vel", "joint_torques": "torque"}
BODY_PREFIXES = {
    "body_positions": ("body_pos", "xyz"),
    "body_rotations": ("body_rot", "wxyz"),
    "body_linear_velocities": ("body_lin_vel", "xyz"),
    "body_angular_velocities": ("body_ang_vel", "xyz"),
}
STEP_TOLERANCE = 1e-3  # relative to the mean time step
NOTE_SEPARATOR = " | "


def field_columns(key: str, dof_names: Sequence[str], body_names: Sequence[str]) -> list[str]:
    """Column names of one clip array key, in array order."""
    if key in DOF_PREFIXES:
        return [f"{DOF_PREFIXES[key]}:{dof}" for dof in dof_names]
    prefix, axes = BODY_PREFIXES[key]
    return [f"{prefix}:{body}:{axis}" for body in body_names for axis in axes]


# ---------------------------------------------------------------- writing


def clip_to_csv(clip: MotionClip, path: str | Path) -> None:
    """Write a clip as CSV in the layout of the module docstring."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = [key for key in (*DOF_PREFIXES, *BODY_PREFIXES) if getattr(clip, key) is not None]
    header = [TIME_COLUMN] + [c for key in keys for c in field_columns(key, clip.dof_names, clip.body_names)]
    table = np.column_stack(
        [np.arange(clip.num_frames) / clip.fps]
        + [getattr(clip, key).reshape(clip.num_frames, -1) for key in keys]
    )
    metadata = [f"# dof_convention: {DOF_CONVENTION}", f"# loop: {str(clip.loop).lower()}"]
    if clip.filled_fields:
        metadata.append(f"# filled_fields: {','.join(clip.filled_fields)}")
    if clip.ground_offset:
        metadata.append(f"# ground_offset: {clip.ground_offset!r}")
    if clip.notes:
        metadata.append(f"# notes: {NOTE_SEPARATOR.join(clip.notes)}")
    lines = [*metadata, ",".join(header)] + [",".join(repr(float(v)) for v in row) for row in table]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- reading


def csv_to_clip(path: str | Path, *, fill_missing: bool = False) -> MotionClip:
    """Read and validate a CSV clip (see the module docstring for columns and fill rules)."""
    path = Path(path)
    if not path.is_file():
        raise ClipError(f"{path}: file not found")
    metadata, header, table = _read_table(path)
    fields: dict[str, object] = {
        key: value for key, value in metadata.items() if key not in ("filled_fields", "notes")
    }
    if "filled_fields" in metadata:
        fields["filled_fields"] = [name for name in metadata["filled_fields"].split(",") if name]
    if "notes" in metadata:
        fields["notes"] = [note.strip() for note in metadata["notes"].split(NOTE_SEPARATOR.strip())]
    columns = {name: index for index, name in enumerate(header)}
    fields["fps"] = _fps_from_time(table, columns, path)
    dof_names, body_names = _names_from_columns(header, path)
    fields["dof_names"], fields["body_names"] = np.array(dof_names), np.array(body_names)
    arrays = _field_arrays(table, columns, dof_names, body_names, path)
    if not fill_missing:
        _check_absent_fields(arrays, dof_names, body_names, path)
    fields.update(arrays)
    return clip_from_fields(fields, source=str(path), fill_missing=fill_missing)


def _read_table(path: Path) -> tuple[dict[str, str], list[str], np.ndarray]:
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    metadata: dict[str, str] = {}
    while lines and lines[0].startswith("#"):
        key, _, value = lines.pop(0).lstrip("#").partition(":")
        metadata[key.strip()] = value.strip()
    if not lines:
        raise ClipError(f"{path}: expected a header row and frame rows, found none")
    header = [name.strip() for name in lines[0].split(",")]
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise ClipError(f"{path}: header expected unique column names, found duplicates {duplicates}")
    try:
        table = np.loadtxt(lines[1:], delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as error:
        raise ClipError(f"{path}: rows expected {len(header)} numbers each ({error})") from error
    if table.shape[1] != len(header):
        raise ClipError(
            f"{path}: rows expected {len(header)} values (one per header column), found {table.shape[1]}"
        )
    return metadata, header, table


def _fps_from_time(table: np.ndarray, columns: dict[str, int], path: Path) -> float:
    if TIME_COLUMN not in columns:
        raise ClipError(f"{path}: column '{TIME_COLUMN}' is missing (expected seconds per frame)")
    time = table[:, columns[TIME_COLUMN]]
    if time.size < 2:
        raise ClipError(f"{path}: '{TIME_COLUMN}' expected at least 2 frames, found {time.size}")
    steps = np.diff(time)
    mean_step = (time[-1] - time[0]) / (time.size - 1)
    worst = int(np.argmax(np.abs(steps - mean_step)))
    if not mean_step > 0 or abs(steps[worst] - mean_step) > STEP_TOLERANCE * mean_step:
        raise ClipError(
            f"{path}: '{TIME_COLUMN}' expected uniform increasing steps (mean {mean_step:.6g} s), "
            f"found a step of {steps[worst]:.6g} s after row {worst}"
        )
    return float(1.0 / mean_step)


def _names_from_columns(header: Sequence[str], path: Path) -> tuple[list[str], list[str]]:
    dof_prefixes = set(DOF_PREFIXES.values())
    body_prefixes = {prefix for prefix, _ in BODY_PREFIXES.values()}
    dofs: dict[str, None] = {}
    bodies: dict[str, None] = {}
    unknown = []
    for name in header:
        parts = name.split(":")
        if len(parts) == 2 and parts[0] in dof_prefixes:
            dofs[parts[1]] = None
        elif len(parts) == 3 and parts[0] in body_prefixes:
            bodies[parts[1]] = None
        elif name != TIME_COLUMN:
            unknown.append(name)
    if unknown:
        raise ClipError(
            f"{path}: unknown columns {unknown}; expected the layout in ampbench.motion.convert.csvio"
        )
    if not dofs or not bodies:
        raise ClipError(
            f"{path}: expected dof_*:<dof> and body_*:<body>:<axis> columns, found "
            f"{len(dofs)} DOF and {len(bodies)} body names"
        )
    return list(dofs), list(bodies)


def _field_arrays(
    table: np.ndarray, columns: dict[str, int], dof_names: list[str], body_names: list[str], path: Path
) -> dict[str, np.ndarray]:
    """Arrays of the fields whose columns are all present; a partly present field is an error."""
    arrays = {}
    for key in (*DOF_PREFIXES, *BODY_PREFIXES):
        wanted = field_columns(key, dof_names, body_names)
        missing = [name for name in wanted if name not in columns]
        if len(missing) == len(wanted):
            continue
        if missing:
            raise ClipError(f"{path}: '{key}' is missing columns {missing}")
        values = table[:, [columns[name] for name in wanted]]
        arrays[key] = values.reshape(table.shape[0], len(body_names), -1) if key in BODY_PREFIXES else values
    return arrays


def _check_absent_fields(
    arrays: dict[str, np.ndarray], dof_names: list[str], body_names: list[str], path: Path
) -> None:
    """Without fill_missing, absent kinematic fields are an error that lists their columns."""
    absent = [key for key in (*DOF_PREFIXES, *BODY_PREFIXES) if key not in arrays and key != "joint_torques"]
    if absent:
        columns = [name for key in absent for name in field_columns(key, dof_names, body_names)]
        shown = columns if len(columns) <= 12 else [*columns[:12], f"... {len(columns) - 12} more"]
        raise ClipError(
            f"{path}: {absent} absent, missing columns {shown}; pass fill_missing=True "
            "(CLI: --fill-missing) to fill them, which degrades training"
        )


# ---------------------------------------------------------------- folders


def convert_folder(
    src_dir: str | Path, dst_dir: str | Path, to: Literal["csv", "npz"], fill_missing: bool = False
) -> list[Path]:
    """Convert every clip under src_dir (recursive) into dst_dir at the same relative paths; returns them."""
    src_dir, dst_dir = Path(src_dir), Path(dst_dir)
    if to not in ("csv", "npz"):
        raise ValueError(f"convert_folder: 'to' expected 'csv' or 'npz', found {to!r}")
    source_suffix = ".npz" if to == "csv" else ".csv"
    sources = sorted(src_dir.rglob(f"*{source_suffix}"))
    if not sources:
        raise ClipError(f"{src_dir}: expected {source_suffix} files to convert, found none")
    outputs = []
    for source in sources:
        target = dst_dir / source.relative_to(src_dir).with_suffix(f".{to}")
        if to == "csv":
            clip_to_csv(load_clip(source, fill_missing=fill_missing), target)
        else:
            save_clip(csv_to_clip(source, fill_missing=fill_missing), target)
        outputs.append(target)
    return outputs
