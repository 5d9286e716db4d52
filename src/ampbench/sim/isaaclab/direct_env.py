"""The AMP humanoid task as an Isaac Lab 3 direct-workflow env (`DirectRLEnv`) on Newton's MuJoCo-Warp
solver.

`HumanoidDirectEnv` is an ordinary Isaac Lab direct env (torch actions in, the gym-style step out, usable
by Isaac Lab's own tooling, skrl's AMP among them); its hooks hand the simulator state to `HumanoidTask`,
the code the MuJoCo C and MJX envs run too, so observations, AMP features, rewards, termination,
commands, reference-state resets and pushes are one implementation, and domain randomisation draws as
the MuJoCo C env does. Physics state stays in torch/Warp on the simulator's device; what the task reads
crosses to numpy once per control step (`_parts`), and the task's bookkeeping (commands, push schedule,
AMP history) is numpy, the MuJoCo C env's own code (`task.host_steps`). The config it is built from is
`config.env_cfg`'s; the project's trainer steps it through `env.IsaacLabHumanoidEnv`.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
import torch
import warp as wp
from isaaclab.envs import DirectRLEnv
from isaaclab_newton.physics import NewtonManager
from newton import ModelFlags

from ampbench.robot import quat
from ampbench.robot.model import FREE_QPOS
from ampbench.sim.isaaclab import conventions
from ampbench.sim.isaaclab.config import HumanoidDirectEnvCfg
from ampbench.task import host_steps
from ampbench.task.humanoid import EvalSettings, HumanoidTask, Outcome, physics_sane

_STATE_FIELDS = ("root_pose", "root_velocity", "joint_position", "joint_velocity")


class HumanoidDirectEnv(DirectRLEnv):
    """`envs` humanoids in Isaac Lab, the task's hooks on `HumanoidTask`; built from `config.env_cfg` and
    a task, as `IsaacLabHumanoidEnv` does. `begin` makes the task state a `reset` fills in."""

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
        self.state: dict[str, Any] = {}
        self.eval_settings: EvalSettings | None = None
        self.rng = np.random.default_rng([seed, 0xE5E7])
        self.outcome: Outcome | None = None
        self.last_parts: dict[str, np.ndarray] = {}
        self._torque_sum = torch.zeros(self.num_envs, task.action_size, device=self.device)
        self._substeps_done = 0
        self._sane_actions = np.ones(self.num_envs, bool)  # the last actions were finite (physics_sane)
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
        self.eval_settings = eval_settings
        self.rng = np.random.default_rng([seed, 0xE5E7])
        self.state = host_steps.initial_state(self.task, self.num_envs)

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
        self.state["randomization"][mask] = host_steps.randomization_scales(
            self.task.card.randomization, rng, int(mask.sum())
        )
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
        root_rotation = conventions.xyzw_to_wxyz(self.robot.data.root_link_quat_w.torch).cpu().numpy()
        self._apply_push(host_steps.push_step(self.task, state, self.eval_settings, root_rotation, self.rng))
        actions = actions.detach().cpu().numpy().astype(np.float32)
        self._sane_actions = physics_sane(actions)
        ctrl = self.task.ctrl(np.clip(actions, -1.0, 1.0))
        if self.pd:  # MuJoCo clamps a position servo's ctrl to its range (ctrllimited)
            ctrl = np.clip(ctrl, self.task.pd_low, self.task.pd_high)
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
        velocities = ("root_linear_velocity", "root_angular_velocity", "dof_velocities")
        finite = self._sane_actions & physics_sane(
            parts["root_position"],
            parts["dof_positions"],
            velocities=tuple(parts[name] for name in velocities),
            max_velocity=task.card.simulator.max_velocity,
        )
        step_count = state["step"] + 1
        if self.training:
            host_steps.resample_commands(task, state, self.rng, step_count)
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
            torques=parts["joint_torques"],
            step=step_count,
            amp_history=out.amp_history.copy(),  # _reset_idx writes the state in place; `out` keeps the
            obs=out.obs.copy(),  # transition that ended (see the MuJoCo C env)
        )
        self.outcome = out
        if not self.training:
            never = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
            return never, never.clone()
        return (
            torch.as_tensor(out.fallen, device=self.device),
            torch.as_tensor(out.truncated, device=self.device),
        )

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
