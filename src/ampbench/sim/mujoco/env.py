"""The AMP humanoid task on MuJoCo C: a batch of envs stepped by `mujoco.rollout` on a thread pool.

The batch lives in numpy arrays of shape (envs, ...); one `step(actions)` runs the card's substeps of
every env in one threaded rollout call, reads body states with one batched kinematics call (a second
model whose sensors are the body frames, with constraints off: its one step computes the sensors of
the given state before integrating, and that integrated state is thrown away), and hands the state to
`HumanoidTask.outcome`, the code the MJX env runs too. No Python loop runs over envs except over those
that reset (domain randomisation edits their model copies).

Randomness comes from numpy generators keyed by (seed, step counter), so the batch is reproducible and
its state (`state_dict`) is plain arrays a checkpoint can hold.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import mujoco
import numpy as np
from mujoco import rollout as mj_rollout

from ampbench.cards import ExperimentCard
from ampbench.motion.loader import MotionLibrary
from ampbench.robot import quat
from ampbench.robot.model import FREE_QPOS, build_mj_model
from ampbench.sim.protocol import BatchStep
from ampbench.task import host_steps
from ampbench.task.humanoid import METRICS, EvalSettings, HumanoidTask, physics_sane

_STATE = int(mujoco.mjtState.mjSTATE_FULLPHYSICS)
_CONTROL = mujoco.mjtState.mjSTATE_CTRL | mujoco.mjtState.mjSTATE_XFRC_APPLIED


def _state_slices(model: mujoco.MjModel) -> dict[str, slice]:
    """Where time, qpos and qvel sit in a full-physics state vector (components in mjtState bit order)."""
    slices, start = {}, 0
    for bit in range(_STATE.bit_length()):
        component = 1 << bit
        if _STATE & component:
            size = mujoco.mj_stateSize(model, component)
            slices[component] = slice(start, start + size)
            start += size
    return {
        "time": slices[mujoco.mjtState.mjSTATE_TIME],
        "qpos": slices[mujoco.mjtState.mjSTATE_QPOS],
        "qvel": slices[mujoco.mjtState.mjSTATE_QVEL],
    }


class MujocoHumanoidEnv:
    """`envs` humanoids on MuJoCo C. Build once per card and batch size (it draws the reset pool)."""

    def __init__(
        self,
        card: ExperimentCard,
        library: MotionLibrary,
        *,
        envs: int,
        training: bool = True,
        weld_root: bool = False,
        seed: int = 0,
        threads: int | None = None,
    ):
        self.card = card
        self.num_envs = envs
        self.training = training
        self.weld_root = weld_root
        self.seed = seed
        simulator, humanoid = card.simulator, card.humanoid
        self.mj_model = build_mj_model(simulator, humanoid, weld_root=weld_root, sensors=("actuator_force",))
        self.kinematics_model = build_mj_model(
            simulator, humanoid, weld_root=weld_root, sensors=("body_frames",)
        )
        self.kinematics_model.opt.disableflags |= (
            mujoco.mjtDisableBit.mjDSBL_CONSTRAINT | mujoco.mjtDisableBit.mjDSBL_CONTACT
        )
        self.task = task = HumanoidTask(card, library, self.mj_model, seed=seed)
        self.spec, self.dt, self.total_mass = task.spec, task.dt, task.total_mass
        self.observation_size, self.action_size = task.observation_size, task.action_size
        self.amp_observation_size = task.amp_observation_size
        self.amp_feature_weights = task.amp_feature_weights
        self.nbody = self.mj_model.nbody
        self._slices = _state_slices(self.mj_model)
        self._nstate = mujoco.mj_stateSize(self.mj_model, _STATE)
        self._threads = threads or os.cpu_count() or 1
        self._pool = mj_rollout.Rollout(nthread=self._threads)
        self._physics_data = [mujoco.MjData(self.mj_model) for _ in range(self._threads)]
        self._kinematics_data = [mujoco.MjData(self.kinematics_model) for _ in range(self._threads)]
        self._randomized = card.randomization.enabled
        self._models = [copy.copy(self.mj_model) for _ in range(envs)] if self._randomized else None
        self._base = {
            "body_mass": self.mj_model.body_mass.copy(),
            "body_inertia": self.mj_model.body_inertia.copy(),
            "geom_friction": self.mj_model.geom_friction.copy(),
            "dof_damping": self.mj_model.dof_damping.copy(),
        }
        self.state: dict[str, Any] = {}
        self.last_parts: dict[str, np.ndarray] = {}  # of the state the last step reached (before any reset)
        self.eval_settings: EvalSettings | None = None

    def reference_amp_observations(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.task.reference_amp_observations(rng, n)

    def close(self) -> None:
        self._pool.close()

    # ---- state readout -----------------------------------------------------------------------------

    def _parts(self, physics: np.ndarray, torques: np.ndarray) -> dict[str, np.ndarray]:
        """Everything features, rewards and rollouts read, float32, in clip conventions (world, wxyz)."""
        sensors = self._kinematics(physics)
        bodies = self.nbody - 1
        position, rotation, linear, angular = np.split(
            sensors, np.cumsum([3 * bodies, 4 * bodies, 3 * bodies]), 1
        )
        qpos, qvel = physics[:, self._slices["qpos"]], physics[:, self._slices["qvel"]]
        root_rotation = qpos[:, 3:FREE_QPOS]
        parts = {
            "root_position": qpos[:, :3],
            "root_rotation": root_rotation,
            "root_linear_velocity": qvel[:, :3],
            "root_angular_velocity": quat.rotate(root_rotation, qvel[:, 3:6]),
            "dof_positions": qpos[:, FREE_QPOS:],
            "dof_velocities": qvel[:, 6:],
            "joint_torques": torques,
            "body_positions": position.reshape(-1, bodies, 3),
            "body_rotations": rotation.reshape(-1, bodies, 4),
            "body_linear_velocities": linear.reshape(-1, bodies, 3),
            "body_angular_velocities": angular.reshape(-1, bodies, 3),
        }
        parts = {name: value.astype(np.float32) for name, value in parts.items()}
        parts["key_body_positions"] = parts["body_positions"][:, self.task.key_body_ids - 1]
        return parts

    def _kinematics(self, physics: np.ndarray) -> np.ndarray:
        """Body-frame sensors (envs, 13B) of the given states, in one threaded call."""
        _, sensordata = self._pool.rollout(self.kinematics_model, self._kinematics_data, physics, nstep=1)
        return sensordata[:, 0]

    # ---- reset -------------------------------------------------------------------------------------

    def reset(self, seed: int, eval_settings: EvalSettings | None = None) -> np.ndarray:
        """Start every env from the reset pool; returns the observations (envs, O)."""
        self.eval_settings = eval_settings
        envs = self.num_envs
        self.state = {"physics": np.zeros((envs, self._nstate)), **host_steps.initial_state(self.task, envs)}
        self._reset_envs(np.ones(envs, bool), np.random.default_rng([seed, 0xE5E7]))
        return self.state["obs"]

    def _reset_envs(self, mask: np.ndarray, rng: np.random.Generator) -> None:
        """New episodes for the envs in `mask`: a reference state, a command, physics scales, no push."""
        state, task, n = self.state, self.task, int(mask.sum())
        if n == 0:
            return
        index = task.reset_indices(rng, n, self.eval_settings)
        qpos, qvel = task.reset_qpos[index].astype(np.float64), task.reset_qvel[index].astype(np.float64)
        if self.weld_root:  # start where the weld holds the pelvis: the model's reference root pose, at rest
            qpos[:, :FREE_QPOS] = self.mj_model.qpos0[:FREE_QPOS]
            qvel[:, :6] = 0.0
        physics = np.zeros((n, self._nstate))
        physics[:, self._slices["qpos"]] = qpos
        physics[:, self._slices["qvel"]] = qvel
        state["physics"][mask] = physics
        task.start_episodes(state, mask, index, rng, self.eval_settings)
        self._randomize(mask, rng)
        parts = self._parts(state["physics"][mask], state["torques"][mask])
        parts["command"] = task.command(state["skill"][mask], state["speed"][mask])
        state["obs"][mask] = task.observation(parts)

    def _randomize(self, mask: np.ndarray, rng: np.random.Generator) -> None:
        if not self._randomized:
            return
        self.state["randomization"][mask] = host_steps.randomization_scales(
            self.card.randomization, rng, int(mask.sum())
        )
        for env in np.flatnonzero(mask):
            self._apply_randomization(env)

    def _apply_randomization(self, env: int) -> None:
        """Write env's scale factors into its model copy: mass and inertia scaled, friction set."""
        mass, friction, damping = self.state["randomization"][env]
        model, base = self._models[env], self._base
        model.body_mass[:] = base["body_mass"] * mass
        model.body_inertia[:] = base["body_inertia"] * mass
        model.geom_friction[:] = base["geom_friction"]
        model.geom_friction[:, 0] = friction
        model.dof_damping[:] = base["dof_damping"] * damping

    # ---- step --------------------------------------------------------------------------------------

    def _advanced(self, before: np.ndarray, trajectory: np.ndarray) -> np.ndarray:
        """(envs,) True where every substep's time is one time step past the last: no MuJoCo reset."""
        dt = self.mj_model.opt.timestep
        time = self._slices["time"]
        times = np.concatenate([before[:, None, time], trajectory[:, :, time]], axis=1)
        return np.all(np.abs(np.diff(times[..., 0], axis=1) - dt) < 0.5 * dt, axis=1)

    def step(self, actions: np.ndarray) -> BatchStep:
        state, task, envs = self.state, self.task, self.num_envs
        rng = np.random.default_rng([self.seed, int(state["counter"])])
        state["counter"] = state["counter"] + 1
        root_rotation = state["physics"][:, self._slices["qpos"]][:, 3:FREE_QPOS].astype(np.float32)
        body = host_steps.push_step(task, state, self.eval_settings, root_rotation, rng)
        xfrc = np.zeros((envs, self.nbody, 6))
        xfrc[np.arange(envs), body, :3] = state["push_force"]
        ctrl = task.ctrl(np.clip(np.asarray(actions, np.float32), -1.0, 1.0))
        control = np.concatenate([ctrl, xfrc.reshape(envs, -1)], axis=1)[:, None, :]
        models = self._models if self._randomized else self.mj_model
        # Each call starts the constraint solver cold (`rollout` does not hand back MuJoCo's warm start):
        # where the card's solver iterations converge this changes nothing; where they stop short of
        # convergence the contact solution drifts from a warm-started run's (measured in docs/backends.md
        # and tests/sim/test_mujoco_env.py).
        trajectory, sensordata = self._pool.rollout(
            models,
            self._physics_data,
            state["physics"],
            control,
            control_spec=_CONTROL,
            nstep=self.card.simulator.substeps,
        )
        physics, torques = trajectory[:, -1], sensordata.mean(axis=1).astype(np.float32)
        # A blown-up physics step ends the episode as a fall and keeps the last sane state, so no NaN
        # reaches observations, rewards, the discriminator or a recorded rollout. The models are built with
        # MuJoCo's auto-reset off (it would reset a state whose acceleration blows up to qpos0 and carry on,
        # hiding it); as a second guard, a substep whose time did not advance by one time step is a
        # blow-up, whatever the state looks like after it.
        qpos, qvel = (trajectory[:, :, self._slices[part]] for part in ("qpos", "qvel"))
        max_velocity = self.card.simulator.max_velocity
        finite = (
            self._advanced(state["physics"], trajectory)
            & physics_sane(np.asarray(actions))
            & physics_sane(qpos, velocities=(qvel,), max_velocity=max_velocity).all(axis=1)
        )
        physics = np.where(finite[:, None], physics, state["physics"])
        torques = np.where(finite[:, None], torques, 0.0).astype(np.float32)
        step_count = state["step"] + 1
        if self.training:
            host_steps.resample_commands(task, state, rng, step_count)
        parts = self._parts(physics, torques)
        out = task.outcome(
            parts,
            state["skill"],
            state["speed"],
            state["amp_history"],
            step_count,
            task.fallen_from_body_frames(parts),
            finite,
        )
        done = out.fallen | out.truncated
        if self.eval_settings is not None:
            state["push_start"], state["gait"] = task.gait_push_start(
                self.eval_settings, step_count, parts, state["gait"], state["push_start"]
            )
        self.last_parts = {**parts, "command": task.command(state["skill"], state["speed"])}
        # Copies: resetting the ended envs below writes into the state's arrays in place, and `out` must
        # keep the transition that ended (a view would hand the trainer the reset's clip frames as the
        # falling step's AMP observation, which the discriminator pays as a clip's).
        state.update(physics=physics, torques=torques, step=step_count, amp_history=out.amp_history.copy())
        state["obs"] = out.obs.copy()
        result = BatchStep(
            obs=out.obs,
            reward=out.reward.astype(np.float32),
            done=done.astype(np.float32),
            truncated=out.truncated.astype(np.float32),
            amp_obs=out.amp_history.reshape(envs, -1),
            final_obs=out.obs,
            metrics={name: out.metrics[name].astype(np.float32) for name in METRICS},
        )
        if not self.training:
            return result
        self._reset_envs(done, rng)
        return result._replace(obs=state["obs"].copy())

    # ---- checkpoints -------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The whole batch as numpy arrays (a checkpoint's env state)."""
        return copy.deepcopy(self.state)

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.state = copy.deepcopy(saved)
        if self._randomized:
            for env in range(self.num_envs):
                self._apply_randomization(env)
