"""The humanoid model: one place that reads the MJCF and builds the MuJoCo model the card asks for.

Other modules never parse the XML: they ask `humanoid_spec` for names, limits and gains, and
`build_mj_model` for a model with the card's solver options and contact set applied.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from ampbench import cards

ROOT_BODY = "pelvis"
FREE_QPOS = 7  # root position (3) + root quaternion wxyz (4) ahead of the hinge angles

# Contact bits: a pair collides when (contype_a & conaffinity_b) or (contype_b & conaffinity_a).
# Floor: (1, 0); a body geom with (0, 1) touches the floor only; (2, 3) also touches other body geoms.
# Named contact sets (`simulator.contacts`): the geoms that touch the floor. `floor` and `all` take every
# body geom but the massless contact points (geom group 3); `all` adds self-collision.
CONTACT_POINT_GROUP = 3
CONTACT_SETS: dict[str, tuple[str, ...] | None] = {
    "sparse": (
        "pelvis",
        "torso",
        "head",
        "right_hand",
        "left_hand",
        "right_shoulder_contact",
        "left_shoulder_contact",
        "right_elbow_contact",
        "left_elbow_contact",
        "right_hip_contact",
        "left_hip_contact",
        "right_knee_contact",
        "left_knee_contact",
        "right_foot",
        "left_foot",
    ),
    "feet": ("right_foot", "left_foot"),
    "floor": None,
    "all": None,
}
_FLOOR_BITS = (1, 0)
_TOUCH_FLOOR_BITS = (0, 1)
_SELF_BITS = (2, 3)
_NO_CONTACT_BITS = (0, 0)
# A stiff weld: MuJoCo's default (solref 0.02, solimp 0.9/0.95) lets a limp humanoid sag ~7 cm and 4 deg.
# MuJoCo raises the time constant to 2 x timestep by itself when the card's timestep is larger.
_WELD_SOLREF = (0.01, 1.0)
_WELD_SOLIMP = (0.99, 0.999, 0.001, 0.5, 2.0)
_SOLVERS = {"newton": mujoco.mjtSolver.mjSOL_NEWTON, "cg": mujoco.mjtSolver.mjSOL_CG}
_INTEGRATORS = {
    "euler": mujoco.mjtIntegrator.mjINT_EULER,
    "implicitfast": mujoco.mjtIntegrator.mjINT_IMPLICITFAST,
}
_CONES = {"pyramidal": mujoco.mjtCone.mjCONE_PYRAMIDAL, "elliptic": mujoco.mjtCone.mjCONE_ELLIPTIC}


def model_path(name: str = "amp_humanoid") -> Path:
    """mjcf/<name>.xml in a checkout, or ampbench/_mjcf/<name>.xml in an installed wheel."""
    package = Path(__file__).resolve().parent
    candidates = (package.parents[2] / "mjcf" / f"{name}.xml", package.parent / "_mjcf" / f"{name}.xml")
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"humanoid model '{name}' not found; looked for {[str(p) for p in candidates]}")


@dataclass(frozen=True)
class HumanoidSpec:
    """Names, limits and gains of a humanoid MJCF, in MJCF order, as plain read-only numpy arrays."""

    name: str
    xml_path: Path
    dof_names: tuple[str, ...]
    body_names: tuple[str, ...]
    effort_limits: np.ndarray
    pd_stiffness: np.ndarray
    pd_damping: np.ndarray
    joint_ranges: np.ndarray
    dof_bodies: tuple[str, ...]
    """The body each hinge moves: three hinges of one body make a ball joint."""
    total_mass: float

    def body_index(self, names: Sequence[str]) -> np.ndarray:
        return _indices(names, self.body_names, f"{self.xml_path} body")


def _indices(names: Sequence[str], known: tuple[str, ...], what: str) -> np.ndarray:
    if isinstance(names, str):
        raise TypeError(f"expected a sequence of {what} names, got the single string {names!r}")
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown {what} names {unknown}; known: {list(known)}")
    return np.array([known.index(name) for name in names], dtype=np.int64)


@functools.cache
def humanoid_spec(name: str = "amp_humanoid") -> HumanoidSpec:
    """Read once per name; later calls return the same frozen object."""
    path = model_path(name)
    model = mujoco.MjModel.from_xml_path(str(path))
    dof_names = _hinge_names(model, path)
    return HumanoidSpec(
        name=name,
        xml_path=path,
        dof_names=dof_names,
        body_names=tuple(model.body(i).name for i in range(1, model.nbody)),
        effort_limits=_read_only(_effort_limits(model, dof_names, path)),
        pd_stiffness=_read_only(_gains(model, "kp", dof_names, path)),
        pd_damping=_read_only(_gains(model, "kd", dof_names, path)),
        joint_ranges=_read_only(model.jnt_range[1:].copy()),
        dof_bodies=tuple(model.body(int(b)).name for b in model.jnt_bodyid[1:]),
        total_mass=float(model.body_mass.sum()),
    )


@dataclass(frozen=True)
class PdTargets:
    """PD target = center + action x scale for actions in [-1, 1], clamped to [low, high] (per hinge)."""

    center: np.ndarray
    scale: np.ndarray
    low: np.ndarray
    high: np.ndarray


def pd_targets(spec: HumanoidSpec, humanoid: cards.HumanoidConfig) -> PdTargets:
    """The card's action-to-target mapping (`humanoid.pd_target_mapping`), one for every backend."""
    low, high = spec.joint_ranges[:, 0], spec.joint_ranges[:, 1]
    if humanoid.pd_target_mapping == "scaled_range":
        center = (low + high) / 2 if humanoid.pd_target_center == "range_middle" else np.zeros_like(low)
        scale = humanoid.pd_target_scale * (high - low) / 2
        return PdTargets(center, scale, low.copy(), high.copy())
    bodies = np.asarray(spec.dof_bodies)
    center, scale = np.empty_like(low), np.empty_like(low)
    for body in dict.fromkeys(spec.dof_bodies):
        hinges = bodies == body
        if hinges.sum() == 3:  # a ball joint: symmetric about 0, as wide as its widest limit
            center[hinges] = 0.0
            scale[hinges] = min(1.2 * np.abs(spec.joint_ranges[hinges]).max(), np.pi)
        else:
            center[hinges] = (low[hinges] + high[hinges]) / 2
            scale[hinges] = 0.7 * (high[hinges] - low[hinges])
    return PdTargets(center, scale, center - scale, center + scale)


def _read_only(array: np.ndarray) -> np.ndarray:
    array = np.array(array, dtype=np.float64)
    array.setflags(write=False)
    return array


def _hinge_names(model: mujoco.MjModel, path: Path) -> tuple[str, ...]:
    """Hinge names in qpos order; the model must be one free root joint followed by hinges."""
    types = [mujoco.mjtJoint(t) for t in model.jnt_type]
    if not types or types[0] != mujoco.mjtJoint.mjJNT_FREE or model.jnt_bodyid[0] != 1:
        raise ValueError(f"{path}: joint 0 must be a free joint on the first body, found {types[:1]}")
    others = sorted({t.name for t in types[1:] if t != mujoco.mjtJoint.mjJNT_HINGE})
    if others:
        raise ValueError(f"{path}: every joint after the root must be a hinge, found {others}")
    return tuple(model.joint(i).name for i in range(1, model.njnt))


def _effort_limits(model: mujoco.MjModel, dof_names: tuple[str, ...], path: Path) -> np.ndarray:
    """Torque bound per hinge from its gear-1 motor: ctrl is N·m, so the bound is the ctrl range."""
    limits = np.full(len(dof_names), np.nan)
    for i in range(model.nu):
        joint = model.actuator_trnid[i, 0]
        low, high = model.actuator_ctrlrange[i]
        if model.actuator_gear[i, 0] != 1 or low != -high or high <= 0:
            raise ValueError(
                f"{path}: motor '{model.actuator(i).name}' must have gear 1 and a symmetric positive "
                f"ctrlrange, found gear {model.actuator_gear[i, 0]} ctrlrange [{low}, {high}]"
            )
        if joint != i + 1:
            raise ValueError(
                f"{path}: motor {i} ({model.actuator(i).name!r}) drives joint {joint}; motors must follow "
                "the hinge order (motor i drives hinge i), because ctrl is written in DOF order"
            )
        limits[joint - 1] = high
    missing = [name for name, value in zip(dof_names, limits, strict=True) if np.isnan(value)]
    if missing:
        raise ValueError(f"{path}: hinges without a motor: {missing}")
    return limits


def _gains(model: mujoco.MjModel, prefix: str, dof_names: tuple[str, ...], path: Path) -> np.ndarray:
    """PD gains stored as <custom><numeric name="<prefix>_<hinge>" data="value"/>."""
    values = []
    for dof in dof_names:
        key = f"{prefix}_{dof}"
        index = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_NUMERIC, key)
        if index < 0 or model.numeric_size[index] != 1:
            found = "missing" if index < 0 else f"size {model.numeric_size[index]}"
            raise ValueError(f"{path}: custom numeric '{key}' must hold one value, found {found}")
        values.append(model.numeric_data[model.numeric_adr[index]])
    return np.array(values)


SENSOR_SETS = ("actuator_force", "body_frames")


def build_mj_model(
    simulator: cards.SimulatorConfig,
    humanoid: cards.HumanoidConfig,
    *,
    weld_root: bool = False,
    sensors: tuple[str, ...] = (),
) -> mujoco.MjModel:
    """The card's model: solver options and contact set applied, optionally the pelvis welded in place.

    The weld holds the pelvis at its pose in the model's reference configuration (qpos0); the free
    joint stays, so qpos/qvel layouts are the same with and without it. `sensors` adds read-outs for
    batched MuJoCo C rollouts, in this order: "actuator_force" (nu values), "body_frames" (for every
    body but the world, in body order: position (3B), wxyz rotation (4B), linear velocity of the body
    origin (3B) and angular velocity (3B), world frame).
    """
    spec = mujoco.MjSpec.from_file(str(model_path(humanoid.model)))
    if weld_root:
        _add_root_weld(spec)
    unknown = set(sensors) - set(SENSOR_SETS)
    if unknown:
        raise ValueError(
            f"build_mj_model: sensors must be among {list(SENSOR_SETS)}, found {sorted(unknown)}"
        )
    if "actuator_force" in sensors:
        for actuator in spec.actuators:
            spec.add_sensor(
                type=mujoco.mjtSensor.mjSENS_ACTUATORFRC,
                objtype=mujoco.mjtObj.mjOBJ_ACTUATOR,
                objname=actuator.name,
            )
    if "body_frames" in sensors:
        _add_body_frame_sensors(spec)
    model = spec.compile()
    _apply_solver(model, simulator)
    _apply_contact_set(model, simulator.contacts)
    if humanoid.action_mode == "pd":
        _use_position_actuators(
            model, humanoid_spec(humanoid.model), pd_targets(humanoid_spec(humanoid.model), humanoid)
        )
    return model


def _use_position_actuators(model: mujoco.MjModel, spec: HumanoidSpec, targets: PdTargets) -> None:
    """Turn each gear-1 motor into a position servo: force = kp (ctrl - q) - kv q̇, clamped at the effort
    limit, ctrl = the target angle within the card's target range (`pd_targets`).

    MuJoCo computes the servo force itself, so `implicitfast` integrates its kv term implicitly: explicit
    damping kd dt / I is 4-9 for the light joints (ankles, shoulder_z, hip_z) at a 5 ms step, where
    explicit integration needs it below 2.
    """
    kp, kv = spec.pd_stiffness, spec.pd_damping
    model.actuator_gaintype[:] = mujoco.mjtGain.mjGAIN_FIXED
    model.actuator_biastype[:] = mujoco.mjtBias.mjBIAS_AFFINE
    model.actuator_gainprm[:] = 0.0
    model.actuator_biasprm[:] = 0.0
    model.actuator_gainprm[:, 0] = kp
    model.actuator_biasprm[:, 1] = -kp
    model.actuator_biasprm[:, 2] = -kv
    model.actuator_ctrlrange[:] = np.stack([targets.low, targets.high], axis=1)
    model.actuator_forcerange[:, 0] = -spec.effort_limits
    model.actuator_forcerange[:, 1] = spec.effort_limits
    model.actuator_forcelimited[:] = 1
    model.actuator_ctrllimited[:] = 1


def _add_body_frame_sensors(spec: mujoco.MjSpec) -> None:
    bodies = [body.name for body in spec.bodies[1:]]
    for kind in (
        mujoco.mjtSensor.mjSENS_FRAMEPOS,
        mujoco.mjtSensor.mjSENS_FRAMEQUAT,
        mujoco.mjtSensor.mjSENS_FRAMELINVEL,
        mujoco.mjtSensor.mjSENS_FRAMEANGVEL,
    ):
        for name in bodies:
            spec.add_sensor(type=kind, objtype=mujoco.mjtObj.mjOBJ_XBODY, objname=name)


def _add_root_weld(spec: mujoco.MjSpec) -> None:
    """Weld the root body to the world (name2 empty) at its qpos0 pose."""
    weld = spec.add_equality()
    weld.name = "root_weld"
    weld.type = mujoco.mjtEq.mjEQ_WELD
    weld.objtype = mujoco.mjtObj.mjOBJ_BODY
    weld.name1 = ROOT_BODY
    # data: anchor (3) at the body origin, relative pose (7) all zeros = take it from qpos0, torquescale 1
    data = np.zeros(len(weld.data))
    data[10] = 1.0
    weld.data = data
    weld.solref = _WELD_SOLREF
    weld.solimp = _WELD_SOLIMP


def _apply_solver(model: mujoco.MjModel, simulator: cards.SimulatorConfig) -> None:
    model.opt.timestep = simulator.timestep
    model.opt.solver = _SOLVERS[simulator.solver]
    model.opt.iterations = simulator.iterations
    model.opt.ls_iterations = simulator.ls_iterations
    model.opt.cone = _CONES[simulator.cone]
    model.opt.integrator = _INTEGRATORS[simulator.integrator]
    for flag in simulator.disable:
        model.opt.disableflags |= int(getattr(mujoco.mjtDisableBit, f"mjDSBL_{flag.upper()}"))
    # A blown-up state stays blown up instead of MuJoCo C quietly restarting it from qpos0, so the one
    # blow-up rule (`task.humanoid.physics_sane`) sees it on every backend.
    model.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_AUTORESET)


def floor_contact_geoms(model: mujoco.MjModel, contacts: str | tuple[str, ...]) -> tuple[str, ...]:
    """Names of the body geoms that touch the floor under `simulator.contacts` (a named set or geom names)."""
    if isinstance(contacts, str):
        if contacts not in CONTACT_SETS:
            raise ValueError(f"simulator.contacts must be one of {list(CONTACT_SETS)}, found {contacts!r}")
        named = CONTACT_SETS[contacts]
        if named is not None:
            return _known_geoms(model, named, f"contact set {contacts!r}")
        return tuple(
            model.geom(g).name
            for g in range(model.ngeom)
            if model.geom_bodyid[g] != 0 and model.geom_group[g] != CONTACT_POINT_GROUP
        )
    return _known_geoms(model, contacts, "simulator.contacts")


def _known_geoms(model: mujoco.MjModel, names: tuple[str, ...], what: str) -> tuple[str, ...]:
    body_geoms = [model.geom(g).name for g in range(model.ngeom) if model.geom_bodyid[g] != 0]
    unknown = [name for name in names if name not in body_geoms]
    if unknown:
        raise ValueError(f"{what}: unknown geoms {unknown}; the model's body geoms: {body_geoms}")
    return tuple(names)


def self_collides(contacts: str | tuple[str, ...]) -> bool:
    """Whether the contact set `simulator.contacts` lets body geoms collide with each other (`all` only)."""
    return contacts == "all"


def _apply_contact_set(model: mujoco.MjModel, contacts: str | tuple[str, ...]) -> None:
    """Only the set's geoms touch the floor; `all` adds self-collision among them (never parent-child)."""
    touching = set(floor_contact_geoms(model, contacts))
    self_collision = self_collides(contacts)
    for geom in range(model.ngeom):
        if model.geom_bodyid[geom] == 0:
            bits = _FLOOR_BITS
        elif model.geom(geom).name not in touching:
            bits = _NO_CONTACT_BITS
        else:
            bits = _SELF_BITS if self_collision else _TOUCH_FLOOR_BITS
        model.geom_contype[geom], model.geom_conaffinity[geom] = bits


def forward_kinematics(
    model: mujoco.MjModel, root_positions, root_rotations, dof_positions
) -> tuple[np.ndarray, np.ndarray]:
    """World pose of every body (world body excluded) for each frame, by MuJoCo's own kinematics.

    root_positions (F, 3), root_rotations (F, 4 wxyz), dof_positions (F, D) with D = model.nq - 7
    in qpos order (= HumanoidSpec.dof_names) -> body_positions (F, B, 3), body_rotations (F, B, 4 wxyz).
    """
    roots, quats, dofs = _frames(model, root_positions, root_rotations, dof_positions)
    data = mujoco.MjData(model)
    positions = np.empty((len(roots), model.nbody - 1, 3))
    rotations = np.empty((len(roots), model.nbody - 1, 4))
    for frame in range(len(roots)):
        data.qpos[:3] = roots[frame]
        data.qpos[3:FREE_QPOS] = quats[frame] / np.linalg.norm(quats[frame])
        data.qpos[FREE_QPOS:] = dofs[frame]
        mujoco.mj_kinematics(model, data)
        positions[frame] = data.xpos[1:]
        rotations[frame] = data.xquat[1:]
    return positions, rotations


def _frames(model: mujoco.MjModel, root_positions, root_rotations, dof_positions):
    arrays = {
        "root_positions": (np.asarray(root_positions, dtype=np.float64), 3),
        "root_rotations": (np.asarray(root_rotations, dtype=np.float64), 4),
        "dof_positions": (np.asarray(dof_positions, dtype=np.float64), model.nq - FREE_QPOS),
    }
    frames = arrays["root_positions"][0].shape[0] if arrays["root_positions"][0].ndim else -1
    for key, (array, width) in arrays.items():
        if array.ndim != 2 or array.shape != (frames, width):
            raise ValueError(
                f"forward_kinematics: {key} must have shape (F, {width}) with the same F as root_positions, "
                f"found {array.shape}"
            )
    return tuple(array for array, _ in arrays.values())
