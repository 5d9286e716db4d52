"""The humanoid and its floor as USD, converted from the project's MJCF when first asked for and kept in
the user's cache under the MJCF's hash and the card's contact set (nothing is committed or fetched).

mujoco-usd-converter writes MuJoCo's own attributes (joint armature and damping, geom friction, solref,
solimp, densities) next to the USD physics schemas, and Newton's MuJoCo solver reads them back. The robot
and the floor are converted apart: the robot without the floor (Isaac Lab clones it per env) and without
its torque motors (Isaac Lab's actuator config drives the hinges, with the model's effort limits), the
floor alone, from the same MJCF, so its friction and contact softness are the model's own.

Two things the converter leaves to us, written into the robot USD after conversion:
- each body's mass, centre of mass and inertia: MuJoCo's compiled values, authored on the body, so
  Newton takes them as they are. The converter writes no density for the massless contact-point spheres
  (density 0), which Newton would then fill with its default density of 1000 kg/m³;
- the contact set: shapes outside it keep their geometry but have collision off. One USD per set
  (conversion takes about a second), because Newton fixes which shapes may collide when it builds its
  model, and MuJoCo-Warp sizes its collision work from that.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path

import mujoco

from ampbench.motion.fetch import cache_dir
from ampbench.robot.model import model_path

FLOOR_GEOM = "floor"
CONVERTER = "mujoco-usd-converter"
RECIPE = "MuJoCo inertia on every body"  # what _author_inertia_and_contacts adds, part of the cache key


class AssetError(RuntimeError):
    """The MJCF could not be converted to USD; the message names the file and what was missing."""


def usd_folder(model: str, colliding: Sequence[str]) -> Path:
    """Where the USD of `model` with collision on for the geoms `colliding` only is cached:
    <cache>/isaaclab/usd/<model>-<hash of MJCF, converter and contact set>."""
    xml = model_path(model)
    recipe = f"{version(CONVERTER)} {RECIPE} colliding: {' '.join(sorted(colliding))}".encode()
    digest = hashlib.sha256(xml.read_bytes() + recipe).hexdigest()[:16]
    return cache_dir() / "isaaclab" / "usd" / f"{model}-{digest}"


def humanoid_usd(model: str, colliding: Sequence[str]) -> tuple[Path, Path]:
    """(robot USD, floor USD) of `model`, converted on first use; of the robot's geoms only `colliding`
    (`model.floor_contact_geoms` of the card's set) have collision on."""
    folder = usd_folder(model, colliding)
    if not folder.is_dir():
        _convert(model_path(model), folder, set(colliding))
    return _one_usd(folder / "robot", model), _one_usd(folder / "floor", model)


def _one_usd(folder: Path, model: str) -> Path:
    found = sorted(folder.glob("*.usd*"))
    if len(found) != 1:
        raise AssetError(
            f"{folder}: expected the one USD file {CONVERTER} writes from {model_path(model)}, found "
            f"{[p.name for p in found]}; delete the folder to convert again"
        )
    return found[0]


def _convert(xml: Path, folder: Path, colliding: set[str]) -> None:
    """Convert into a temporary folder, then move it in place, so a half-written cache never exists."""
    from mujoco_usd_converter import Converter

    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as scratch:
        scratch = Path(scratch)
        robot_xml, floor_xml = scratch / f"{xml.stem}.xml", scratch / f"{xml.stem}_floor.xml"
        robot = _robot_only(xml)
        robot_xml.write_text(robot.to_xml())
        floor_xml.write_text(_floor_only(xml).to_xml())
        converter = Converter(layer_structure=False, scene=False)
        converter.convert(str(robot_xml), str(scratch / "out" / "robot"))
        converter.convert(str(floor_xml), str(scratch / "out" / "floor"))
        robot_usd = _one_usd(scratch / "out" / "robot", xml.stem)
        _author_inertia_and_contacts(robot_usd, robot.compile(), colliding)
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
    """The robot without floor and motors."""
    spec = mujoco.MjSpec.from_file(str(xml))
    spec.delete(_floor(spec, xml))
    for actuator in list(spec.actuators):
        spec.delete(actuator)
    spec.compile()
    return spec


def _author_inertia_and_contacts(usd: Path, model: mujoco.MjModel, colliding: set[str]) -> None:
    """Every body's mass, centre of mass, principal inertia and its axes from `model` (MuJoCo's compiled
    values) on its rigid body, and collision on for the shapes in `colliding` only."""
    from pxr import Gf, Usd, UsdPhysics

    stage = Usd.Stage.Open(str(usd))
    bodies, shapes = {}, {}
    for prim in stage.Traverse():
        if prim.HasAPI(UsdPhysics.RigidBodyAPI):
            bodies[prim.GetName()] = prim
        elif prim.HasAPI(UsdPhysics.CollisionAPI):
            shapes[prim.GetName()] = prim
    body_names = {model.body(b).name for b in range(1, model.nbody)}
    geom_names = {model.geom(g).name for g in range(model.ngeom)}
    if set(bodies) != body_names or set(shapes) != geom_names or not colliding <= geom_names:
        raise AssetError(
            f"{usd}: expected rigid bodies {sorted(body_names)} and collision shapes {sorted(geom_names)} "
            f"named as in the MJCF (colliding: {sorted(colliding)}), found bodies {sorted(bodies)} and "
            f"shapes {sorted(shapes)}"
        )
    for b in range(1, model.nbody):
        mass = UsdPhysics.MassAPI.Apply(bodies[model.body(b).name])
        mass.CreateMassAttr(float(model.body_mass[b]))
        mass.CreateCenterOfMassAttr(Gf.Vec3f(*model.body_ipos[b].tolist()))
        mass.CreateDiagonalInertiaAttr(Gf.Vec3f(*model.body_inertia[b].tolist()))
        w, x, y, z = model.body_iquat[b].tolist()
        mass.CreatePrincipalAxesAttr(Gf.Quatf(w, x, y, z))
    for name, prim in shapes.items():
        UsdPhysics.CollisionAPI(prim).CreateCollisionEnabledAttr(name in colliding)
    stage.Save()


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
