"""Where Isaac Lab's conventions meet the project's: names and quaternions, mapped here and nowhere else.

- DOF names: Newton merges the three hinges `J_x`, `J_y`, `J_z` of a ball-like joint into one joint
  whose DOFs are `J_x:0`, `J_x:1`, `J_x:2` (axes x, y, z, in that order); mujoco-usd-converter may
  suffix a renamed joint with `_1` (`right_knee_1`). Body names are the MJCF's.
- DOF and body order: Isaac Lab orders them depth-first from its own traversal, not in MJCF order.
- Quaternions: Isaac Lab 3 is scalar-last (xyzw); the project, MuJoCo and the clip format are
  scalar-first (wxyz).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

_MERGED_AXIS = re.compile(r"^(?P<joint>.+)_x:(?P<axis>[012])$")
_RENAMED = re.compile(r"^(?P<name>.+)_1$")
_AXES = "xyz"


def dof_name(isaac_name: str, known: Sequence[str]) -> str:
    """The MJCF hinge name of one Isaac Lab DOF name (`left_hip_x:1` -> `left_hip_y`)."""
    merged = _MERGED_AXIS.match(isaac_name)
    if merged:
        name = f"{merged['joint']}_{_AXES[int(merged['axis'])]}"
    elif isaac_name in known:
        name = isaac_name
    else:
        renamed = _RENAMED.match(isaac_name)
        name = renamed["name"] if renamed else isaac_name
    if name not in known:
        raise ValueError(f"Isaac Lab DOF '{isaac_name}' maps to '{name}', which is not a hinge of the model")
    return name


def dof_names(isaac_names: Sequence[str], known: Sequence[str]) -> tuple[str, ...]:
    names = tuple(dof_name(n, known) for n in isaac_names)
    _check_one_to_one(names, known, "DOF")
    return names


def order(isaac_names: Sequence[str], known: Sequence[str]) -> np.ndarray:
    """Indices `i` such that `isaac_array[..., i]` is in the order of `known` (model order)."""
    _check_one_to_one(tuple(isaac_names), known, "body")
    return np.asarray([list(isaac_names).index(name) for name in known], dtype=np.int64)


def dof_order(isaac_names: Sequence[str], known: Sequence[str]) -> np.ndarray:
    """Indices that put Isaac Lab's DOF arrays in model (MJCF hinge) order."""
    return order(dof_names(isaac_names, known), known)


def _check_one_to_one(names: tuple[str, ...], known: Sequence[str], what: str) -> None:
    if sorted(names) != sorted(known):
        missing, extra = sorted(set(known) - set(names)), sorted(set(names) - set(known))
        raise ValueError(
            f"Isaac Lab {what} names do not match the model's one to one: missing {missing}, extra {extra}"
        )


def wxyz_to_xyzw(q):
    """Scalar-first -> scalar-last, for numpy arrays and torch tensors alike (..., 4)."""
    return q[..., [1, 2, 3, 0]]


def xyzw_to_wxyz(q):
    """Scalar-last -> scalar-first (..., 4)."""
    return q[..., [3, 0, 1, 2]]
