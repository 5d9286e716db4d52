"""IsaacGymEnvs poselib motions (`amp_humanoid_*.npy`, pickled SkeletonMotion state) -> the clip format.

The file is a NumPy object array holding an OrderedDict: `rotation` (F, N, 4) local rotations xyzw
per skeleton node, `root_translation` (F, 3), `global_velocity`, `global_angular_velocity`,
`skeleton_tree` (`node_names`, `parent_indices`, `local_translation`), `is_local`, `fps`; arrays are
stored as {"arr": ndarray, "context": {"dtype": ...}}. Nodes are the model's bodies (Z up, same
names), so a node's local rotation is the rotation of the joints on that body. The pickle is read
with an unpickler that only builds NumPy arrays, dtypes and OrderedDicts, so a file can neither
run code nor need the poselib package.
"""

from __future__ import annotations

import collections
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ampbench.motion.clip import ClipError, MotionClip, unit_quaternions
from ampbench.motion.convert.retarget import (
    clip_from_joint_angles,
    dofs_from_rotations,
    drop_repeated_frames,
    joint_groups,
)
from ampbench.robot import quat


def _reconstruct(subtype: type, shape: tuple, dtype: bytes | str) -> np.ndarray:
    """What numpy's pickled `_reconstruct(ndarray, (0,), b'b')` does: an empty array to fill by setstate."""
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError(f"refusing to build array subclass {subtype}")
    return np.ndarray.__new__(subtype, shape, dtype)


_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
}
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
_REQUIRED_KEYS = ("rotation", "root_translation", "skeleton_tree", "fps")


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Builds NumPy arrays, dtypes and OrderedDicts; any other class in the pickle is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[(module, name)]
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name}: only NumPy arrays and dicts are allowed"
        )


def read_poselib(path: str | Path) -> dict[str, Any]:
    """The file's dict with every {"arr", "context"} wrapper replaced by its array."""
    path = Path(path)
    try:
        stream = io.BytesIO(path.read_bytes())
        version = np.lib.format.read_magic(stream)
        read_header = _HEADER_READERS.get(version)
        if read_header is None:
            raise ValueError(f"unsupported .npy format version {version}")
        shape, _, dtype = read_header(stream)
        if dtype != np.dtype(object) or shape != ():
            raise ValueError(f"expected one pickled object (shape (), dtype object), found {shape} {dtype}")
        wrapper = _ArraysOnlyUnpickler(stream).load()  # np.save pickles the 0-d object array itself
        state = wrapper.item() if isinstance(wrapper, np.ndarray) and wrapper.shape == () else wrapper
    except (OSError, ValueError, pickle.UnpicklingError, EOFError) as error:
        raise ClipError(f"{path}: not a poselib motion file ({error})") from error
    if not isinstance(state, dict):
        raise ClipError(f"{path}: expected a pickled dict, found {type(state).__name__}")
    missing = [key for key in _REQUIRED_KEYS if key not in state]
    if missing:
        raise ClipError(f"{path}: keys {missing} missing (expected {list(_REQUIRED_KEYS)})")
    return _unwrap(state)


def _unwrap(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"arr", "context"}:
            return np.asarray(value["arr"])
        return {key: _unwrap(item) for key, item in value.items()}
    return value


def poselib_to_clip(path: str | Path, *, keep_repeated_frames: bool = False) -> MotionClip:
    """One poselib `.npy` motion -> a clip; loop is False (the files carry no flag). Poses stored twice
    are dropped (at half the file's fps) unless keep_repeated_frames (`drop_repeated_frames`)."""
    state = read_poselib(path)
    names = list(state["skeleton_tree"]["node_names"])
    rotation = np.asarray(state["rotation"], dtype=np.float64)
    root = np.asarray(state["root_translation"], dtype=np.float64)
    _check_layout(path, state, names, rotation, root)
    fps = float(state["fps"])
    local = unit_quaternions(quat.xyzw_to_wxyz(rotation), "rotation", str(path), names)
    poses, fps, notes = drop_repeated_frames(
        {"rotation": local, "root_translation": root}, fps, str(path), keep=keep_repeated_frames
    )
    local = poses["rotation"]
    rotations = {group.body: local[:, names.index(group.body)] for group in joint_groups()}
    return clip_from_joint_angles(
        fps,
        poses["root_translation"],
        local[:, names.index("pelvis")],
        *dofs_from_rotations(rotations, fps),
        loop=False,
        source=f"{path} (poselib)",
        notes=notes,
    )


def _check_layout(path, state: dict, names: list, rotation: np.ndarray, root: np.ndarray) -> None:
    if not state.get("is_local", True):
        raise ClipError(f"{path}: 'is_local' expected True (local node rotations), found False")
    needed = ["pelvis", *(group.body for group in joint_groups())]
    absent = [name for name in needed if name not in names]
    if absent:
        raise ClipError(f"{path}: 'skeleton_tree.node_names' lacks model bodies {absent}, found {names}")
    if rotation.ndim != 3 or rotation.shape[1:] != (len(names), 4) or rotation.shape[0] < 2:
        raise ClipError(
            f"{path}: 'rotation' expected shape (F >= 2, {len(names)}, 4), found {rotation.shape}"
        )
    if root.shape != (rotation.shape[0], 3):
        raise ClipError(
            f"{path}: 'root_translation' expected shape ({rotation.shape[0]}, 3), found {root.shape}"
        )
    fps = np.asarray(state["fps"])
    if fps.ndim != 0 or not np.isfinite(fps) or fps <= 0:
        raise ClipError(f"{path}: 'fps' expected a positive number, found {state['fps']!r}")
