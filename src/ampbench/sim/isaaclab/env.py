"""The AMP humanoid task on Isaac Lab 3: a direct-workflow env (`DirectRLEnv`) on Newton's MuJoCo-Warp
solver, and the project's `BatchedEnv` over it.

`HumanoidDirectEnv` is an ordinary Isaac Lab direct env (torch actions in, the gym-style step out, usable
by Isaac Lab's own tooling); its hooks hand the simulator state to `HumanoidTask`, the code the MuJoCo C
and MJX envs run too, so observations, AMP features, rewards, termination, commands, reference-state
resets and pushes are one implementation, and domain randomisation draws as the MuJoCo C env does.
Physics state stays in torch/Warp on the simulator's device; what the task reads crosses to numpy once
per control step (`_parts`), and the task's bookkeeping (commands, push schedule, AMP history) is numpy,
as in the MuJoCo C env. Between the env and the JAX trainer, torch and JAX meet by DLPack.

Actuation is the MuJoCo C env's PD servo, force = kp (target - q) - kd q̇ clamped at the effort limit,
integrated implicitly by `implicitfast`: Isaac Lab's implicit drive, which Newton hands to MuJoCo-Warp
as a position actuator (kp) and a velocity actuator (kd) on the hinge, their sum clamped by the hinge's
actuator force range. The joint torque the task reads is `ImplicitActuator`'s telemetry, the same
clamped PD law evaluated on the state at the start of each physics step, which is what MuJoCo C
reports as the servo's actuator force; both envs average it over the substeps. An explicit actuator
(`IdealPDActuator`) would report the applied torque too, but integrates the damping explicitly, which
the light joints do not survive at the cards' 5 ms step.
"""

from __future__ import annotations

import copy
from dataclasses import MISSING
from typing import Any

import gymnasium
import isaaclab.sim as sim_utils
import jax
import jax.dlpack
import jax.numpy as jnp
import numpy as np
import torch
import warp as wp
from isaaclab.actuators import ImplicitActuatorCfg
from isaaclab.assets import ArticulationCfg, AssetBaseCfg
from isaaclab.envs import DirectRLEnv, DirectRLEnvCfg
from isaaclab.scene import InteractiveSceneCfg
from isaaclab.sim import SimulationCfg
from isaaclab.utils import configclass
from isaaclab_newton.physics import MJWarpSolverCfg, NewtonCfg, NewtonManager
from newton import ModelFlags

from ampbench.cards import ExperimentCard
from ampbench.motion.loader import MotionLibrary
from ampbench.robot import quat
from ampbench.robot.model import FREE_QPOS, build_mj_model, floor_contact_geoms, humanoid_spec, self_collides
from ampbench.sim.isaaclab import conventions
from ampbench.sim.isaaclab.assets import humanoid_usd
from ampbench.sim.protocol import BatchStep
from ampbench.task import commands, pushes
from ampbench.task.humanoid import METRICS, EvalSettings, HumanoidTask, Outcome

ENV_SPACING = 4.0  # m between env origins; every position the task reads is relative to its env origin
_STATE_FIELDS = ("root_pose", "root_velocity", "joint_position", "joint_velocity")


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


class HumanoidDirectEnv(DirectRLEnv):
    """`envs` humanoids in Isaac Lab, the task's hooks on `HumanoidTask`. Build through `make_direct_env`."""

    cfg: HumanoidDirectEnvCfg

    def __init__(self, cfg: HumanoidDirectEnvCfg, task: HumanoidTask, *, training: bool, seed: int):
        cfg.observation_space = task.observation_size
        self.task, self.training, self.seed_value = task, training, seed
        super().__init__(cfg)
        self.robot = self.scene["robot"]
        spec = task.spec
        self.dof_order = torch.as_tensor(conventions.dof_order(self.robot.joint_names, spec.dof_names))
        self.dof_from_model = torch.argsort(self.dof_order)
        self.body_order = torch.as_tensor(conventions.order(self.robot.body_names, spec.body_names))
        self.body_ids = self.body_order.tolist()  # Isaac Lab body index of each model body
        self.origins = self.scene.env_origins
        self.pd = task.card.humanoid.action_mode == "pd"
        low, high = spec.joint_ranges[:, 0], spec.joint_ranges[:, 1]
        self._target_low, self._target_high = low.astype(np.float32), high.astype(np.float32)
        self.state: dict[str, Any] = {}
        self.eval_settings: EvalSettings | None = None
        self.rng = np.random.default_rng([seed, 0xE5E7])
        self.outcome: Outcome | None = None
        self.last_parts: dict[str, np.ndarray] = {}
        self._torque_sum = torch.zeros(self.num_envs, task.action_size, device=self.device)
        self._substeps_done = 0
        self._reference_draws = 0
        self._randomized = task.card.randomization.enabled
        if self._randomized:
            self._randomization_bindings()

    # ---- state readout -----------------------------------------------------------------------------

    def _parts(self, torques: torch.Tensor) -> dict[str, np.ndarray]:
        """Everything features, rewards and rollouts read, numpy float32, clip conventions (world, wxyz)."""
        data, origins = self.robot.data, self.origins
        bodies = self.body_order
        torch_parts = {
            "root_position": data.root_link_pos_w.torch - origins,
            "root_rotation": conventions.xyzw_to_wxyz(data.root_link_quat_w.torch),
            "root_linear_velocity": data.root_link_lin_vel_w.torch,
            "root_angular_velocity": data.root_link_ang_vel_w.torch,
            "dof_positions": data.joint_pos.torch[:, self.dof_order],
            "dof_velocities": data.joint_vel.torch[:, self.dof_order],
            "joint_torques": torques[:, self.dof_order],
            "body_positions": data.body_link_pos_w.torch[:, bodies] - origins[:, None],
            "body_rotations": conventions.xyzw_to_wxyz(data.body_link_quat_w.torch[:, bodies]),
            "body_linear_velocities": data.body_link_lin_vel_w.torch[:, bodies],
            "body_angular_velocities": data.body_link_ang_vel_w.torch[:, bodies],
        }
        parts = {name: value.detach().cpu().numpy().astype(np.float32) for name, value in torch_parts.items()}
        parts["key_body_positions"] = parts["body_positions"][:, self.task.key_body_ids - 1]
        return parts

    # ---- reset -------------------------------------------------------------------------------------

    def begin(self, seed: int, eval_settings: EvalSettings | None) -> None:
        """Fresh task state for `reset` (the DirectRLEnv's own reset then resets every env)."""
        envs, task = self.num_envs, self.task
        self.eval_settings = eval_settings
        self.rng = np.random.default_rng([seed, 0xE5E7])
        self.state = {
            "step": np.zeros(envs, np.int32),
            "skill": np.zeros(envs, np.int32),
            "speed": np.zeros(envs, np.float32),
            "amp_history": np.zeros((envs, *task.reset_amp_history.shape[1:]), np.float32),
            "push": pushes.push_init(np, envs)._asdict(),
            "push_start": np.full(envs, -1.0, np.float32),
            "push_vector": np.zeros((envs, 3), np.float32),
            "push_force": np.zeros((envs, 3), np.float32),
            "gait": np.zeros((envs, 2), np.float32),
            "randomization": np.ones((envs, 3), np.float32),
            "torques": np.zeros((envs, task.action_size), np.float32),
            "obs": np.zeros((envs, task.observation_size), np.float32),
            "counter": np.zeros((), np.int64),
        }

    def _reset_idx(self, env_ids: torch.Tensor) -> None:
        super()._reset_idx(env_ids)
        mask = np.zeros(self.num_envs, bool)
        mask[env_ids.cpu().numpy()] = True
        self._reset_envs(mask, self.rng)

    def _reset_envs(self, mask: np.ndarray, rng: np.random.Generator) -> None:
        """New episodes for the envs in `mask`: a reference state, a command, no push."""
        state, task, n = self.state, self.task, int(mask.sum())
        if n == 0:
            return
        index = task.reset_indices(rng, n, self.eval_settings)
        self.write_physics(mask, task.reset_qpos[index], task.reset_qvel[index])
        task.start_episodes(state, mask, index, rng, self.eval_settings)
        self._randomize(mask, rng)
        parts = self._parts(torch.as_tensor(state["torques"], device=self.device)[:, self.dof_from_model])
        parts = {name: value[mask] for name, value in parts.items()}
        parts["command"] = task.command(state["skill"][mask], state["speed"][mask])
        state["obs"][mask] = task.observation(parts)

    def _randomization_bindings(self) -> None:
        """The unscaled physics the card's randomisation scales, and Newton's per-env shape friction.

        As on MuJoCo C, a friction draw sets the sliding friction of every geom of the env, so contacts
        (friction: the larger of the two geoms') take it. The floor is one shape shared by every env here,
        so its sliding friction goes to 0 and each env's robot shapes carry the draw."""
        data, model = self.robot.data, NewtonManager.get_model()
        self._base_mass = data.body_mass.torch.clone()
        self._base_inertia = data.body_inertia.torch.clone()
        self._base_damping = data.joint_viscous_friction_coeff.torch.clone()
        # Newton exposes per-env shape friction through the articulation's view (as Isaac Lab's own
        # material randomisation event reads it)
        self._friction = wp.to_torch(self.robot._root_view.get_attribute("shape_material_mu", model)[:, 0])
        static = wp.to_torch(model.shape_body) < 0
        wp.to_torch(model.shape_material_mu)[static] = 0.0
        NewtonManager.add_model_change(ModelFlags.SHAPE_PROPERTIES)

    def _randomize(self, mask: np.ndarray, rng: np.random.Generator) -> None:
        """New scale factors (mass, friction, damping) for the envs in `mask`, drawn as on MuJoCo C."""
        if not self._randomized:
            return
        dr, n = self.task.card.randomization, int(mask.sum())
        scales = np.stack(
            [rng.uniform(*dr.mass_scale, n), rng.uniform(*dr.friction, n), rng.uniform(*dr.damping_scale, n)],
            1,
        )
        self.state["randomization"][mask] = scales
        self.apply_randomization(mask)

    def apply_randomization(self, mask: np.ndarray) -> None:
        """Write the envs' scale factors into the simulation: masses and inertias scaled, the sliding
        friction of their shapes set, passive joint damping scaled."""
        ids = torch.as_tensor(np.flatnonzero(mask), dtype=torch.long, device=self.device)
        scales = torch.as_tensor(self.state["randomization"][mask], dtype=torch.float32, device=self.device)
        mass, friction, damping = scales[:, 0:1], scales[:, 1:2], scales[:, 2:3]
        index = ids.to(torch.int32)
        self.robot.set_masses_index(masses=self._base_mass[ids] * mass, env_ids=index)
        self.robot.set_inertias_index(inertias=self._base_inertia[ids] * mass[:, :, None], env_ids=index)
        self.robot.write_joint_viscous_friction_coefficient_to_sim_index(
            joint_viscous_friction_coeff=self._base_damping[ids] * damping, env_ids=index
        )
        self._friction[ids] = friction.expand(-1, self._friction.shape[1])
        NewtonManager.add_model_change(ModelFlags.SHAPE_PROPERTIES)

    def write_physics(self, mask: np.ndarray, qpos: np.ndarray, qvel: np.ndarray) -> None:
        """Set the envs in `mask` to MuJoCo-layout states (qpos: root xyz, root wxyz, hinges; qvel: root
        linear velocity (world), angular velocity (body frame), hinge rates)."""
        ids = torch.as_tensor(np.flatnonzero(mask), dtype=torch.int32, device=self.device)
        qpos = torch.as_tensor(np.asarray(qpos, np.float32), device=self.device)
        qvel = torch.as_tensor(np.asarray(qvel, np.float32), device=self.device)
        rotation = qpos[:, 3:FREE_QPOS]
        pose = torch.cat([qpos[:, :3] + self.origins[ids.long()], conventions.wxyz_to_xyzw(rotation)], dim=1)
        velocity = torch.cat([qvel[:, :3], quat.rotate(rotation, qvel[:, 3:6])], dim=1)
        self.robot.write_root_link_pose_to_sim_index(root_pose=pose, env_ids=ids)
        self.robot.write_root_link_velocity_to_sim_index(root_velocity=velocity, env_ids=ids)
        joint_pos = qpos[:, FREE_QPOS:][:, self.dof_from_model]
        joint_vel = qvel[:, 6:][:, self.dof_from_model]
        self.robot.write_joint_position_to_sim_index(position=joint_pos, env_ids=ids)
        self.robot.write_joint_velocity_to_sim_index(velocity=joint_vel, env_ids=ids)

    # ---- step --------------------------------------------------------------------------------------

    def _pre_physics_step(self, actions: torch.Tensor) -> None:
        state = self.state
        self.rng = np.random.default_rng([self.seed_value, int(state["counter"])])
        state["counter"] = state["counter"] + 1
        self._apply_push(self._push(self.rng))
        ctrl = self.task.ctrl(np.clip(actions.detach().cpu().numpy().astype(np.float32), -1.0, 1.0))
        if self.pd:  # MuJoCo clamps a position servo's ctrl to its range (ctrllimited)
            ctrl = np.clip(ctrl, self._target_low, self._target_high)
        self._targets = torch.as_tensor(ctrl, device=self.device)[:, self.dof_from_model]
        self._torque_sum.zero_()
        self._substeps_done = 0

    def _apply_action(self) -> None:
        if self._substeps_done > 0:  # the telemetry of the physics step just taken
            self._torque_sum += self.robot.data.applied_torque.torch
        self._substeps_done += 1
        if self.pd:
            self.robot.set_joint_position_target_index(target=self._targets)
        else:
            self.robot.set_joint_effort_target_index(target=self._targets)

    def _push(self, rng: np.random.Generator) -> np.ndarray:
        """Push bookkeeping for this control step (the task's code); returns the pushed body id per env."""
        state, es, task = self.state, self.eval_settings, self.task
        root_rotation = conventions.xyzw_to_wxyz(self.robot.data.root_link_quat_w.torch).cpu().numpy()
        if es is not None and not es.random_pushes:
            vector, force = task.scheduled_push(
                es, state["step"], state["push_start"], state["push_vector"], root_rotation.astype(np.float32)
            )
            state["push_vector"], state["push_force"] = vector.astype(np.float32), force.astype(np.float32)
            return np.full(self.num_envs, int(es.body_id))
        cfg = task.card.training_pushes
        if not cfg.enabled:
            return np.full(self.num_envs, int(task.push_body_ids[0]))
        uniforms = rng.uniform(size=(self.num_envs, pushes.PUSH_UNIFORM_COLUMNS)).astype(np.float32)
        push, force, body = task.training_push(pushes.PushState(**state["push"]), uniforms)
        state["push"] = push._asdict()
        state["push_force"] = force.astype(np.float32)
        return body

    def _apply_push(self, body: np.ndarray) -> None:
        """The step's push forces, world frame at each body's centre of mass, held by the permanent
        wrench composer over every physics step of this control step; cleared when nobody is pushed."""
        composer = self.robot.permanent_wrench_composer
        force = self.state["push_force"]
        if not np.any(force):
            composer.reset()
            return
        forces = np.zeros((self.num_envs, len(self.body_ids), 3), np.float32)
        forces[np.arange(self.num_envs), np.asarray([self.body_ids[b - 1] for b in body])] = force
        composer.set_forces_and_torques_index(
            forces=torch.as_tensor(forces, device=self.device),
            torques=torch.zeros_like(torch.as_tensor(forces, device=self.device)),
            body_ids=torch.arange(len(self.body_ids), dtype=torch.int32, device=self.device),
            env_ids=torch.arange(self.num_envs, dtype=torch.int32, device=self.device),
            is_global=True,
        )

    def _get_dones(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The task's outcome of the control step (kept for `_get_rewards`, the observation and the
        `BatchedEnv`); evaluation envs never end (they keep simulating, as on MuJoCo C)."""
        state, task = self.state, self.task
        self._torque_sum += self.robot.data.applied_torque.torch
        torques = self._torque_sum / self._substeps_done
        parts = self._parts(torques)
        finite = np.all(
            np.isfinite(np.concatenate([parts["dof_positions"], parts["root_position"]], axis=1)), axis=1
        )
        step_count = state["step"] + 1
        self._maybe_resample_command(self.rng, step_count)
        out = task.outcome(
            parts,
            state["skill"],
            state["speed"],
            state["amp_history"],
            step_count,
            task.fallen_from_body_frames(parts),
            finite,
        )
        if self.eval_settings is not None:
            state["push_start"], state["gait"] = task.gait_push_start(
                self.eval_settings, step_count, parts, state["gait"], state["push_start"]
            )
        self.last_parts = {**parts, "command": task.command(state["skill"], state["speed"])}
        state.update(
            torques=parts["joint_torques"], step=step_count, amp_history=out.amp_history, obs=out.obs
        )
        self.outcome = out
        if not self.training:
            never = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
            return never, never.clone()
        return (
            torch.as_tensor(out.fallen, device=self.device),
            torch.as_tensor(out.truncated, device=self.device),
        )

    def _maybe_resample_command(self, rng: np.random.Generator, step_count: np.ndarray) -> None:
        if not self.training:
            return
        task, state = self.task, self.state
        skill, speed = commands.command_from_uniforms(
            rng.uniform(size=(self.num_envs, 2)).astype(np.float32),
            task.band_low,
            task.band_high,
            task.band_weights,
        )
        due = (step_count % task.command_steps) == 0
        state["skill"] = np.where(due, skill, state["skill"]).astype(np.int32)
        state["speed"] = np.where(due, speed, state["speed"]).astype(np.float32)

    def _get_rewards(self) -> torch.Tensor:
        return torch.as_tensor(self.outcome.reward.astype(np.float32), device=self.device)

    def _get_observations(self) -> dict[str, torch.Tensor]:
        self.extras["amp_obs"] = torch.as_tensor(
            self.state["amp_history"].reshape(self.num_envs, -1), device=self.device
        )
        # a copy, never a view of the task's array: the BatchedEnv hands this memory to JAX
        return {"policy": torch.tensor(self.state["obs"], device=self.device)}

    # ---- what skrl's AMP reads ----------------------------------------------------------------------

    @property
    def amp_observation_space(self) -> gymnasium.spaces.Box:
        return gymnasium.spaces.Box(-np.inf, np.inf, shape=(self.task.amp_observation_size,))

    def collect_reference_motions(self, n: int) -> torch.Tensor:
        """n reference AMP observations drawn afresh from the clips (the project's loader), as torch."""
        self._reference_draws += 1
        rng = np.random.default_rng([self.seed_value, 0xA3F, self._reference_draws])
        return torch.as_tensor(self.task.reference_amp_observations(rng, n), device=self.device)

    # ---- checkpoints -------------------------------------------------------------------------------

    def physics_state(self) -> dict[str, np.ndarray]:
        data = self.robot.data
        pose = torch.cat([data.root_link_pos_w.torch - self.origins, data.root_link_quat_w.torch], dim=1)
        velocity = torch.cat([data.root_link_lin_vel_w.torch, data.root_link_ang_vel_w.torch], dim=1)
        values = (pose, velocity, data.joint_pos.torch, data.joint_vel.torch)
        return {name: v.detach().cpu().numpy().copy() for name, v in zip(_STATE_FIELDS, values, strict=True)}

    def load_physics_state(self, saved: dict[str, np.ndarray]) -> None:
        ids = torch.arange(self.num_envs, dtype=torch.int32, device=self.device)
        pose = torch.as_tensor(saved["root_pose"], device=self.device).clone()
        pose[:, :3] += self.origins
        self.robot.write_root_link_pose_to_sim_index(root_pose=pose, env_ids=ids)
        self.robot.write_root_link_velocity_to_sim_index(
            root_velocity=torch.as_tensor(saved["root_velocity"], device=self.device), env_ids=ids
        )
        self.robot.write_joint_position_to_sim_index(
            position=torch.as_tensor(saved["joint_position"], device=self.device), env_ids=ids
        )
        self.robot.write_joint_velocity_to_sim_index(
            velocity=torch.as_tensor(saved["joint_velocity"], device=self.device), env_ids=ids
        )


def to_torch(actions, device: str) -> torch.Tensor:
    """Actions as a float32 torch tensor on `device`: a JAX array (the trainer's policy) crosses by
    DLPack, with no copy where JAX and torch share the device; numpy (scorers, tests) is copied in."""
    if isinstance(actions, np.ndarray):
        return torch.tensor(actions, dtype=torch.float32, device=device)
    return torch.from_dlpack(actions).to(device=device, dtype=torch.float32)


def to_jax(tensor: torch.Tensor) -> jax.Array:
    """A torch tensor as a JAX array by DLPack: the same memory, on the tensor's device (a CPU-only JAX
    beside torch on a GPU gets it through one copy to the host). Only for tensors made afresh each step
    (JAX treats the memory as immutable; Isaac Lab's own buffers are overwritten in place)."""
    tensor = tensor.detach().contiguous()
    if tensor.device.type != "cpu" and jax.default_backend() == "cpu":
        tensor = tensor.cpu()
    return jax.dlpack.from_dlpack(tensor)


def default_device() -> str:
    """cuda:0 where torch sees a GPU, else cpu (Newton runs Warp's CPU kernels there)."""
    return "cuda:0" if torch.cuda.is_available() else "cpu"


class IsaacLabHumanoidEnv:
    """The project's `BatchedEnv` over `HumanoidDirectEnv`, stepped by the trainer's host loop.

    At the seam torch and JAX meet by DLPack: the policy's JAX actions enter Isaac Lab as torch tensors,
    and the observations and rewards Isaac Lab returns leave as JAX arrays, without a copy on a GPU. The
    task's own per-env results (done flags, AMP history, final observations, metrics) are numpy, as the
    task computes them on this backend, and enter JAX by a copy; the scorer's records (`last_parts`)
    stay numpy, as the `Rollout` protocol has them."""

    def __init__(
        self,
        card: ExperimentCard,
        library: MotionLibrary,
        *,
        envs: int,
        training: bool = True,
        weld_root: bool = False,
        seed: int = 0,
        device: str | None = None,
    ):
        if weld_root:
            raise ValueError(
                "weld_root (the scorer's pelvis-welded sanity check) is not available on the isaaclab "
                "backend; run it on mujoco"
            )
        self.card, self.num_envs, self.training, self.seed = card, envs, training, seed
        self.mj_model = build_mj_model(card.simulator, card.humanoid)
        self.task = task = HumanoidTask(card, library, self.mj_model, seed=seed)
        self.spec, self.dt, self.total_mass = task.spec, task.dt, task.total_mass
        self.observation_size, self.action_size = task.observation_size, task.action_size
        self.amp_observation_size = task.amp_observation_size
        self.amp_feature_weights = task.amp_feature_weights
        cfg = env_cfg(card, envs, self.mj_model, device or default_device(), seed)
        self.direct = HumanoidDirectEnv(cfg, task, training=training, seed=seed)
        # MuJoCo-Warp prints a line per world and step whose line search stops at ls_iterations; MuJoCo C
        # stops there silently too (the card sets the limit). Its kernels read the flag when first built.
        NewtonManager._solver.mjw_model.opt.warn_overflow = False

    @property
    def state(self) -> dict[str, Any]:
        return self.direct.state

    @property
    def last_parts(self) -> dict[str, np.ndarray]:
        return self.direct.last_parts

    def reference_amp_observations(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.task.reference_amp_observations(rng, n)

    def close(self) -> None:
        self.direct.close()

    def reset(self, seed: int, eval_settings: EvalSettings | None = None) -> jax.Array:
        self.direct.begin(seed, eval_settings)
        observations, _ = self.direct.reset()
        return to_jax(observations["policy"])

    def step(self, actions) -> BatchStep:
        """One control step from JAX (or numpy) actions; JAX arrays out (see the class docstring)."""
        observations, reward, _, _, _ = self.direct.step(to_torch(actions, self.direct.device))
        out, envs = self.direct.outcome, self.num_envs
        done = out.fallen | out.truncated  # the task's flags: evaluation envs never end in Isaac Lab
        return BatchStep(
            obs=to_jax(observations["policy"]),
            reward=to_jax(reward),
            done=jnp.asarray(done, jnp.float32),
            truncated=jnp.asarray(out.truncated, jnp.float32),
            amp_obs=jnp.asarray(out.amp_history.reshape(envs, -1)),
            final_obs=jnp.asarray(out.obs),
            metrics={name: jnp.asarray(out.metrics[name], jnp.float32) for name in METRICS},
        )

    def state_dict(self) -> dict[str, Any]:
        return {"task": copy.deepcopy(self.state), "physics": self.direct.physics_state()}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.direct.state = copy.deepcopy(saved["task"])
        self.direct.load_physics_state(saved["physics"])
        if self.direct._randomized:
            self.direct.apply_randomization(np.ones(self.num_envs, bool))
