"""The humanoid and its floor as USD, converted from the project's MJCF when first asked for and kept in
the user's cache under the MJCF's hash (nothing is committed or fetched).

mujoco-usd-converter writes MuJoCo's own attributes (joint armature and damping, geom friction, solref,
solimp, densities) next to the USD physics schemas, and Newton's MuJoCo solver reads them back. The robot
and the floor are converted apart: the robot without the floor (Isaac Lab clones it per env) and without
its torque motors (Isaac Lab's actuator config drives the hinges, with the model's effort limits), the
floor alone, from the same MJCF, so its friction and contact softness are the model's own.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from importlib.metadata import version
from pathlib import Path

import mujoco

from ampbench.model import CONTACT_POINT_GROUP, model_path
from ampbench.motion.fetch import cache_dir

FLOOR_GEOM = "floor"
CONVERTER = "mujoco-usd-converter"


class AssetError(RuntimeError):
    """The MJCF could not be converted to USD; the message names the file and what was missing."""


def usd_folder(model: str) -> Path:
    """Where the USD of `model` is cached: <cache>/isaaclab/usd/<model>-<hash of MJCF and converter>."""
    xml = model_path(model)
    recipe = f"{version(CONVERTER)} without contact points".encode()  # what _robot_only leaves out
    digest = hashlib.sha256(xml.read_bytes() + recipe).hexdigest()[:16]
    return cache_dir() / "isaaclab" / "usd" / f"{model}-{digest}"


def humanoid_usd(model: str) -> tuple[Path, Path]:
    """(robot USD, floor USD) of `model`, converted on first use."""
    folder = usd_folder(model)
    if not folder.is_dir():
        _convert(model_path(model), folder)
    return _one_usd(folder / "robot", model), _one_usd(folder / "floor", model)


def _one_usd(folder: Path, model: str) -> Path:
    found = sorted(folder.glob("*.usd*"))
    if len(found) != 1:
        raise AssetError(
            f"{folder}: expected the one USD file {CONVERTER} writes from {model_path(model)}, found "
            f"{[p.name for p in found]}; delete the folder to convert again"
        )
    return found[0]


def _convert(xml: Path, folder: Path) -> None:
    """Convert into a temporary folder, then move it in place, so a half-written cache never exists."""
    from mujoco_usd_converter import Converter

    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as scratch:
        scratch = Path(scratch)
        robot_xml, floor_xml = scratch / f"{xml.stem}.xml", scratch / f"{xml.stem}_floor.xml"
        robot_xml.write_text(_robot_only(xml).to_xml())
        floor_xml.write_text(_floor_only(xml).to_xml())
        converter = Converter(layer_structure=False, scene=False)
        converter.convert(str(robot_xml), str(scratch / "out" / "robot"))
        converter.convert(str(floor_xml), str(scratch / "out" / "floor"))
        try:
            os.replace(scratch / "out", folder)
        except OSError:
            if not folder.is_dir():  # another process won the race: its copy is the same
                raise


def _floor(spec: mujoco.MjSpec, xml: Path) -> mujoco.MjsGeom:
    floor = spec.geom(FLOOR_GEOM)
    if floor is None or floor.type != mujoco.mjtGeom.mjGEOM_PLANE:
        raise AssetError(f"{xml}: expected a plane geom named '{FLOOR_GEOM}' in the worldbody")
    return floor


def _robot_only(xml: Path) -> mujoco.MjSpec:
    """The robot without floor and motors, and without the massless contact points of the `sparse`
    contact set: the contact sets Isaac Lab takes (`floor`, `all`) leave them out on MuJoCo too, and the
    converter would give them mass."""
    spec = mujoco.MjSpec.from_file(str(xml))
    spec.delete(_floor(spec, xml))
    for actuator in list(spec.actuators):
        spec.delete(actuator)
    for geom in [geom for geom in spec.geoms if geom.group == CONTACT_POINT_GROUP]:
        spec.delete(geom)
    spec.compile()
    return spec


def _floor_only(xml: Path) -> mujoco.MjSpec:
    """The worldbody's floor and nothing else (bodies, motors and their gains removed)."""
    spec = mujoco.MjSpec.from_file(str(xml))
    _floor(spec, xml)
    for actuator in list(spec.actuators):
        spec.delete(actuator)
    for body in list(spec.worldbody.bodies):
        spec.delete(body)
    spec.compile()
    return spec
