"""Building motion clips from raw fields (NPZ keys, also the CSV reader's) and their NPZ files.

Missing kinematic fields are an error unless the caller asks for `fill_missing`; filled fields are then
recorded in the clip (`filled_fields`, saved with it) and announced with a `FilledFieldsWarning`, because
filled data degrades training. Fill rules (`fill_absent_fields`):

- `dof_velocities`, `body_linear_velocities`: finite differences of the positions (central inside,
  one-sided at the two ends, also for loop clips);
- `body_angular_velocities`: the same from `body_rotations` (rotation vector of q[i+1] q[i-1]^-1 / 2dt);
- `dof_positions`, `body_positions`: zeros, and `body_rotations`: identity, because nothing can be derived;
  velocities derived from such filled poses are zero too.
`joint_torques` is optional (absent = plain motion clip) and never filled.
"""

from __future__ import annotations

import warnings
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ampbench.core.files import check_npz_sizes
from ampbench.motion.clip import (
    ARRAY_KEYS,
    DOF_CONVENTION,
    KINEMATIC_ARRAYS,
    MIN_FRAMES,
    ClipError,
    FilledFieldsWarning,
    MotionClip,
    _where,
    angular_velocities,
    check_array_shape,
    check_fps,
    validate_clip,
)

LOOP_TEXT = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
"""Spellings of the `loop` flag a file may store as text (case-insensitive); anything else is refused."""
_CONVERTER_HINT = (
    "clips whose 3-DOF joints are exponential maps (Isaac Lab's humanoid_amp motions) must be converted "
    "with `ampbench data convert isaaclab`; other sources need their own `ampbench data convert` command"
)


# ---------------------------------------------------------------- building clips from raw fields


def clip_from_fields(fields: Mapping[str, Any], *, source: str, fill_missing: bool = False) -> MotionClip:
    """Build and validate a clip from NPZ-style keys (also used by the CSV reader)."""
    where = _where(source)
    _check_convention(fields, where)
    for key in ("fps", "dof_names", "body_names"):
        if key not in fields:
            raise ClipError(f"{where}: '{key}' is missing (required, never filled)")
    check_fps(fields["fps"], where)
    arrays = {key: numeric_array(fields[key], key, where) for key in ARRAY_KEYS if key in fields}
    filled = tuple(str(name) for name in np.atleast_1d(fields.get("filled_fields", ())))
    absent = [key for key in KINEMATIC_ARRAYS if key not in arrays]
    if absent and not fill_missing:
        raise ClipError(
            f"{where}: {absent} missing (expected arrays); pass fill_missing=True "
            "(CLI: --fill-missing) to fill them, which degrades training"
        )
    dof_names = read_names(fields["dof_names"], "dof_names", where)
    body_names = read_names(fields["body_names"], "body_names", where)
    if absent:
        sizes = (len(dof_names), len(body_names))
        for key, array in arrays.items():
            check_array_shape(key, array, sizes, where)
        arrays, newly_filled = fill_absent_fields(arrays, float(fields["fps"]), sizes, source=where)
        filled += tuple(name for name in newly_filled if name not in filled)
    clip = MotionClip(
        fps=float(fields["fps"]),
        dof_names=dof_names,
        body_names=body_names,
        **{key: arrays.get(key) for key in ARRAY_KEYS},
        filled_fields=filled,
        loop=parse_loop(fields.get("loop", False), where),
        action_noise=str(np.asarray(fields.get("action_noise", ""))),
        ground_offset=_scalar(fields.get("ground_offset", 0.0), "ground_offset", where),
        notes=tuple(str(note) for note in np.atleast_1d(fields.get("notes", ()))),
        source=source,
    )
    validate_clip(clip)
    return clip


def _check_convention(fields: Mapping[str, Any], where: str) -> None:
    if "dof_convention" not in fields:
        raise ClipError(
            f"{where}: 'dof_convention' is missing, expected '{DOF_CONVENTION}' (three hinge "
            f"angles per 3-DOF joint, intrinsic x, y, z); {_CONVERTER_HINT}"
        )
    found = str(np.asarray(fields["dof_convention"]))
    if found != DOF_CONVENTION:
        raise ClipError(
            f"{where}: 'dof_convention' expected '{DOF_CONVENTION}', found '{found}'; {_CONVERTER_HINT}"
        )


def parse_loop(value: Any, where: str) -> bool:
    """The `loop` flag from a bool, 0/1 or the text in LOOP_TEXT: bool("false") would be True."""
    array = np.asarray(value)
    if array.ndim == 0 and array.dtype.kind == "b":
        return bool(array)
    if array.ndim == 0 and array.dtype.kind in "iu" and int(array) in (0, 1):
        return bool(array)
    if array.ndim == 0 and array.dtype.kind in "US" and str(array).strip().lower() in LOOP_TEXT:
        return LOOP_TEXT[str(array).strip().lower()]
    raise ClipError(
        f"{where}: 'loop' expected a boolean (True/False, 0/1 or one of {list(LOOP_TEXT)}), found "
        f"{array.dtype} {array.tolist()!r}"
    )


def _scalar(value: Any, key: str, where: str) -> float:
    """One number, also written as text (CSV metadata)."""
    array = np.asarray(value)
    if array.ndim == 0:
        try:
            return float(array.item())
        except ValueError:
            pass
    raise ClipError(f"{where}: '{key}' expected one number, found {array.tolist()!r}")


def numeric_array(value: Any, key: str, where: str) -> np.ndarray:
    """A float64 copy of a numeric array; ClipError for text or object arrays."""
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise ClipError(f"{where}: '{key}' expected a numeric array, found dtype {array.dtype}")
    return array.astype(np.float64)


def read_names(value: Any, key: str, where: str) -> tuple[str, ...]:
    """A 1-D string array as a tuple of names."""
    array = np.asarray(value)
    if array.ndim != 1 or array.dtype.kind not in "US":
        raise ClipError(
            f"{where}: '{key}' expected a 1-D array of strings, found dtype {array.dtype} shape {array.shape}"
        )
    return tuple(str(name) for name in array)


def fill_absent_fields(
    arrays: Mapping[str, np.ndarray], fps: float, sizes: tuple[int, int], *, source: str
) -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
    """Fill absent kinematic arrays by the module's rules; returns (all arrays, names filled) and warns."""
    num_frames = _frame_count(arrays, source)
    num_dofs, num_bodies = sizes
    out = dict(arrays)
    how: dict[str, str] = {}
    poses = {
        "dof_positions": np.zeros((num_frames, num_dofs)),
        "body_positions": np.zeros((num_frames, num_bodies, 3)),
        "body_rotations": np.broadcast_to(np.array([1.0, 0.0, 0.0, 0.0]), (num_frames, num_bodies, 4)).copy(),
    }
    for key, default in poses.items():
        if key not in out:
            out[key], how[key] = default, ("identity" if key == "body_rotations" else "zeros")
    dt = 1.0 / fps
    derived = {
        "dof_velocities": ("dof_positions", lambda: np.gradient(out["dof_positions"], dt, axis=0)),
        "body_linear_velocities": ("body_positions", lambda: np.gradient(out["body_positions"], dt, axis=0)),
        "body_angular_velocities": ("body_rotations", lambda: angular_velocities(out["body_rotations"], dt)),
    }
    for key, (origin, derive) in derived.items():
        if key not in out:
            out[key] = derive()
            how[key] = f"finite differences of {origin}" + (" (itself filled)" if origin in how else "")
    _warn_filled(how, source)
    return out, tuple(how)


def _frame_count(arrays: Mapping[str, np.ndarray], source: str) -> int:
    if not arrays:
        raise ClipError(f"{source}: no per-frame array present ({ARRAY_KEYS}); nothing to fill from")
    key, array = next(iter(arrays.items()))
    if array.ndim == 0 or array.shape[0] < MIN_FRAMES:
        raise ClipError(
            f"{source}: '{key}' expected at least {MIN_FRAMES} frames to fill missing fields, "
            f"found shape {array.shape}"
        )
    return int(array.shape[0])


def _warn_filled(how: Mapping[str, str], source: str) -> None:
    if how:
        listing = "; ".join(f"{key} <- {rule}" for key, rule in how.items())
        warnings.warn(
            f"{source}: filled missing fields ({listing}); filled data degrades training",
            FilledFieldsWarning,
            stacklevel=3,
        )


# ---------------------------------------------------------------- NPZ files


def load_clip(path: str | Path, *, fill_missing: bool = False) -> MotionClip:
    """Read and validate an NPZ clip; absent kinematic fields are an error unless fill_missing."""
    path = Path(path)
    return clip_from_fields(read_npz(path), source=str(path), fill_missing=fill_missing)


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an NPZ file; ClipError for a missing, empty, truncated or corrupted file, and for
    object arrays (they need pickle: data files are never unpickled)."""
    if not path.is_file():
        raise ClipError(f"{path}: file not found")
    try:
        check_npz_sizes(path)
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("a single .npy array, not an archive of named arrays")
        with loaded as npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error) as error:
        kind = type(error).__name__
        kind = kind if type(error).__module__ == "builtins" else f"{type(error).__module__}.{kind}"
        detail = f"{kind}: {error}" if str(error) else kind
        raise ClipError(
            f"{path}: not a plain-array NPZ clip file ({detail}); expected a zip of .npy arrays "
            "as numpy.savez writes it"
        ) from error


def save_clip(clip: MotionClip, path: str | Path) -> None:
    """Validate, then write every key (plus `dof_convention`, `filled_fields`, `loop`, `action_noise`,
    `ground_offset`, `notes`) to an NPZ file."""
    validate_clip(clip)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {key: getattr(clip, key) for key in ARRAY_KEYS if getattr(clip, key) is not None}
    with path.open("wb") as handle:
        np.savez_compressed(
            handle,
            fps=np.float64(clip.fps),
            dof_names=np.array(clip.dof_names, dtype=str),
            body_names=np.array(clip.body_names, dtype=str),
            dof_convention=np.array(DOF_CONVENTION),
            filled_fields=np.array(clip.filled_fields, dtype=str),
            loop=np.array(clip.loop),
            action_noise=np.array(clip.action_noise),
            ground_offset=np.float64(clip.ground_offset),
            notes=np.array(clip.notes, dtype=str),
            **arrays,
        )
