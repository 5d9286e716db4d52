"""Which OpenGL MuJoCo's offscreen renderer uses. MuJoCo reads `MUJOCO_GL` once, when first imported, so
the choice is made in `ampbench/__init__.py` before anything imports it: the user's own setting, else EGL
where an NVIDIA GPU is visible, else Mesa's OSMesa where its library is installed (Debian: libosmesa6),
else MuJoCo's default (GLFW, which needs a display)."""

from __future__ import annotations

import ctypes.util
import importlib.util
import os
from pathlib import Path


def default_gl() -> str | None:
    """The `MUJOCO_GL` to use on this machine, or None to leave MuJoCo's default (also where PyOpenGL,
    which MuJoCo's EGL and OSMesa contexts import, is missing)."""
    if importlib.util.find_spec("OpenGL") is None:
        return None
    if Path("/dev/nvidia0").exists() and ctypes.util.find_library("EGL"):
        return "egl"
    if ctypes.util.find_library("OSMesa"):
        return "osmesa"
    return None


def choose_gl() -> None:
    """Set `MUJOCO_GL` (and PyOpenGL's platform to match) unless the user has."""
    if "MUJOCO_GL" in os.environ:
        return
    choice = default_gl()
    if choice is not None:
        os.environ["MUJOCO_GL"] = choice
        os.environ.setdefault("PYOPENGL_PLATFORM", choice)
