"""The card's simulator and robot as an Isaac Lab config: Newton with the MuJoCo-Warp solver, the
humanoid's USD, its actuators and a contact capacity MuJoCo C's contact set fits in.

Actuation is the MuJoCo C env's PD servo, force = kp (target - q) - kd q̇ clamped at the effort limit,
integrated implicitly by `implicitfast`: Isaac Lab's implicit drive, which Newton hands to MuJoCo-Warp
as a position actuator (kp) and a velocity actuator (kd) on the hinge, their sum clamped by the hinge's
actuator force range. The joint torque the task reads is `ImplicitActuator`'s telemetry, the same
clamped PD law evaluated on the state at the start of each physics step, which is what MuJoCo C
reports as the servo's actuator force; the MuJoCo C env and `HumanoidDirectEnv` both average it over
the substeps. An explicit actuator (`IdealPDActuator`) would report the applied torque too, but
integrates the damping explicitly, which the light joints do not survive at the cards' 5 ms step.
"""

from __future__ import annotations

from dataclasses import MISSING

import isaaclab.sim as sim_utils
import numpy as np
from isaaclab.actuators import ImplicitActuatorCfg
from isaaclab.assets import ArticulationCfg, AssetBaseCfg
from isaaclab.envs import DirectRLEnvCfg
from isaaclab.scene import InteractiveSceneCfg
from isaaclab.sim import SimulationCfg
from isaaclab.utils import configclass
from isaaclab_newton.physics import MJWarpSolverCfg, NewtonCfg

from ampbench.cards import ExperimentCard
from ampbench.robot.model import floor_contact_geoms, humanoid_spec, self_collides
from ampbench.sim.isaaclab.assets import humanoid_usd

ENV_SPACING = 4.0  # m between env origins; every position the task reads is relative to its env origin


@configclass
class HumanoidSceneCfg(InteractiveSceneCfg):
    robot: ArticulationCfg = MISSING
    ground: AssetBaseCfg = MISSING


@configclass
class HumanoidDirectEnvCfg(DirectRLEnvCfg):
    """Built from a card by `env_cfg`; the spaces are the task's sizes."""

    decimation: int = MISSING
    episode_length_s: float = MISSING
    observation_space: int = MISSING
    action_space: int = MISSING
    state_space: int = 0
    scene: HumanoidSceneCfg = MISSING


_MOST_FLOOR_CONTACTS = {"sphere": 1, "capsule": 2, "box": 4}  # MuJoCo's most contacts of a geom on a plane
_MOST_PAIR_CONTACTS = 8  # MuJoCo's most contacts between two primitive geoms (box-box)


def contact_capacity(mj_model, contacts: str | tuple[str, ...]) -> tuple[int, int]:
    """(nconmax, njmax) per env that the card's contact set cannot exceed, so MuJoCo-Warp never drops a
    contact MuJoCo C keeps: every geom of the set on the floor with its most contacts, with
    self-collision also every pair of them on different bodies; at most four rows per contact
    (pyramidal cone, condim 3) plus two per DOF (joint limit, DOF friction)."""
    import mujoco

    geoms = np.asarray([mj_model.geom(name).id for name in floor_contact_geoms(mj_model, contacts)])
    kinds = [mujoco.mjtGeom(int(t)).name.removeprefix("mjGEOM_").lower() for t in mj_model.geom_type[geoms]]
    unknown = sorted(set(kinds) - set(_MOST_FLOOR_CONTACTS))
    if unknown:
        raise ValueError(f"contact_capacity: no contact bound for geom types {unknown} of the humanoid model")
    nconmax = sum(_MOST_FLOOR_CONTACTS[k] for k in kinds)
    if self_collides(contacts):
        body = mj_model.geom_bodyid[geoms]
        pairs = int((body[:, None] != body[None, :]).sum()) // 2
        nconmax += _MOST_PAIR_CONTACTS * pairs
    return nconmax, 4 * nconmax + 2 * mj_model.nv


def env_cfg(card: ExperimentCard, envs: int, mj_model, device: str, seed: int) -> HumanoidDirectEnvCfg:
    """The card's simulator and robot as an Isaac Lab config (Newton, MuJoCo-Warp solver)."""
    simulator, humanoid = card.simulator, card.humanoid
    spec = humanoid_spec(humanoid.model)
    robot_usd, floor_usd = humanoid_usd(humanoid.model, floor_contact_geoms(mj_model, simulator.contacts))
    nconmax, njmax = contact_capacity(mj_model, simulator.contacts)
    pd = humanoid.action_mode == "pd"
    hinge = {name: i for i, name in enumerate(spec.dof_names)}

    def per_hinge(values: np.ndarray):
        # Isaac Lab matches actuator parameters by regex on its own DOF names; one exact entry per DOF
        return {_isaac_dof_regex(name): float(values[i]) for name, i in hinge.items()}

    zeros = np.zeros(len(spec.dof_names))
    actuator = ImplicitActuatorCfg(
        joint_names_expr=[".*"],
        stiffness=per_hinge(spec.pd_stiffness if pd else zeros),
        damping=per_hinge(spec.pd_damping if pd else zeros),
        joint_effort_limit=per_hinge(spec.effort_limits),
    )
    robot = ArticulationCfg(
        prim_path="{ENV_REGEX_NS}/Robot",
        spawn=sim_utils.UsdFileCfg(
            usd_path=str(robot_usd),
            articulation_props=sim_utils.ArticulationRootPropertiesCfg(
                enabled_self_collisions=self_collides(simulator.contacts)
            ),
        ),
        actuators={"hinges": actuator},
    )
    ground = AssetBaseCfg(
        prim_path="/World/ground",
        spawn=sim_utils.GroundPlaneCfg(usd_path=str(floor_usd), physics_material=None),
    )
    solver = MJWarpSolverCfg(
        njmax=njmax,
        nconmax=nconmax,
        iterations=simulator.iterations,
        ls_iterations=simulator.ls_iterations,
        solver=simulator.solver,
        integrator=simulator.integrator,
        cone=simulator.cone,
        tolerance=float(mj_model.opt.tolerance),
        impratio=float(mj_model.opt.impratio),
    )
    physics = NewtonCfg(solver_cfg=solver, num_substeps=1, use_cuda_graph=device.startswith("cuda"))
    return HumanoidDirectEnvCfg(
        sim=SimulationCfg(
            device=device, dt=simulator.timestep, render_interval=simulator.substeps, physics=physics
        ),
        decimation=simulator.substeps,
        episode_length_s=humanoid.episode_seconds,
        observation_space=0,  # set from the task in HumanoidDirectEnv
        action_space=len(spec.dof_names),
        scene=HumanoidSceneCfg(num_envs=envs, env_spacing=ENV_SPACING, robot=robot, ground=ground),
        seed=seed,
    )


def _isaac_dof_regex(hinge: str) -> str:
    """A regex matching the Isaac Lab DOF name of MJCF hinge `hinge` (see `conventions`)."""
    if hinge[-2:] in ("_x", "_y", "_z"):
        return f"{hinge[:-2]}_x:{'xyz'.index(hinge[-1])}"
    return f"{hinge}(_1)?"
