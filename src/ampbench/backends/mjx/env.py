"""The AMP humanoid task in MJX: pure JAX functions of one env, vmapped over envs by the caller.

State in, state out (`reset(key)`, `step(state, action)`), everything the card chooses read from the
card, and every physics-independent idea (features, pushes, commands, rewards) taken from
`ampbench.task`, which the Isaac Lab backend shares. Per-env physics randomisation lives in the state
and is swapped into the model inside `step`, so one compiled step serves every env.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from flax import struct
from mujoco import mjx

from ampbench.cards import ExperimentCard
from ampbench.model import FREE_QPOS, build_mj_model, humanoid_spec
from ampbench.motion.loader import MotionLibrary, MotionState
from ampbench.task import commands, features, pushes, quat, rewards

_STATE_KEYS = (  # the state arguments of features.amp_features and features.policy_observation, in order
    "root_position",
    "root_rotation",
    "root_linear_velocity",
    "root_angular_velocity",
    "dof_positions",
    "dof_velocities",
    "key_body_positions",
)


@struct.dataclass
class EnvState:
    data: mjx.Data
    obs: jax.Array
    reward: jax.Array
    done: jax.Array
    truncated: jax.Array
    amp_obs: jax.Array
    final_obs: jax.Array
    metrics: dict[str, jax.Array]
    info: dict[str, Any]


@struct.dataclass
class EvalSettings:
    """What an evaluation episode fixes (its push, its skill), as traced arrays so that every scenario
    of a card shares one compiled step. The push direction is fixed from the heading when it starts.
    """

    body_id: jax.Array
    force: jax.Array
    duration: jax.Array
    azimuth_deg: jax.Array
    start: jax.Array
    jitter: jax.Array
    skill: jax.Array  # commanded skill index, or -1 for the reset clip's skill

    @classmethod
    def make(
        cls,
        body_id: int,
        force: float,
        duration: float,
        azimuth_deg: float,
        start: float,
        jitter: float,
        skill: int,
    ):
        return cls(
            jnp.asarray(body_id, jnp.int32),
            *(jnp.asarray(v, jnp.float32) for v in (force, duration, azimuth_deg, start, jitter)),
            jnp.asarray(skill, jnp.int32),
        )


class HumanoidAmpEnv:
    """One humanoid env. Build once per card (it draws the reset states from the clips at build time)."""

    def __init__(
        self,
        card: ExperimentCard,
        library: MotionLibrary,
        *,
        training: bool = True,
        weld_root: bool = False,
        seed: int = 0,
    ):
        self.card = card
        self.training = training
        self.weld_root = weld_root
        self.spec = humanoid_spec(card.humanoid.model)
        self.mj_model = build_mj_model(card.simulator, card.humanoid, weld_root=weld_root)
        self.sys = mjx.put_model(self.mj_model, impl=card.simulator.mjx.impl)
        self.dt = card.simulator.control_dt
        self.episode_steps = round(card.humanoid.episode_seconds / self.dt)
        self._indices(library)
        self._limits()
        self._skills(card)
        self._contact_geoms(card)
        if card.amp.feature_set != "kinematic":
            library.check_torque_recording(card.amp.reference_torques)
        self.library = library
        self._reset_pool(library, np.random.default_rng(seed))
        self.observation_size = int(self._policy_obs_from_parts(self._dummy_parts()).shape[-1])
        self.action_size = self.spec.effort_limits.shape[0]
        self.amp_observation_size = int(self.reset_amp_history[0].size)
        amp = card.amp
        self.amp_feature_weights = jnp.asarray(
            features.discriminator_weights(
                amp.feature_set,
                self.action_size,
                len(card.humanoid.key_bodies),
                torque_weight=amp.torque_weight,
                history=amp.history,
            ),
            dtype=jnp.float32,
        )

    # ---- construction ------------------------------------------------------------------------------

    def _indices(self, library: MotionLibrary) -> None:
        spec = self.spec
        self.clip_dof_order = np.asarray([library.dof_names.index(n) for n in spec.dof_names])
        self.clip_body_order = np.asarray([library.body_names.index(n) for n in spec.body_names])
        self.key_body_ids = jnp.asarray(spec.body_index(self.card.humanoid.key_bodies) + 1)
        self.push_body_ids = jnp.asarray(spec.body_index(self.card.training_pushes.bodies) + 1)

    def _limits(self) -> None:
        spec = self.spec
        self.effort_limits = jnp.asarray(spec.effort_limits, dtype=jnp.float32)
        low, high = spec.joint_ranges[:, 0], spec.joint_ranges[:, 1]
        humanoid = self.card.humanoid
        center = (low + high) / 2 if humanoid.pd_target_center == "range_middle" else np.zeros_like(low)
        self.pd_center = jnp.asarray(center, dtype=jnp.float32)
        self.pd_scale = jnp.asarray(humanoid.pd_target_scale * (high - low) / 2, dtype=jnp.float32)
        self.total_mass = float(self.mj_model.body_mass.sum())

    def _skills(self, card: ExperimentCard) -> None:
        self.skill_names = tuple(band.skill for band in card.commands.bands)
        lows, highs, weights = commands.bands_from_card(card.commands, self.skill_names)
        self.band_low, self.band_high = jnp.asarray(lows), jnp.asarray(highs)
        self.band_weights = jnp.asarray(weights)
        self.command_steps = max(1, round(card.commands.resample_seconds / self.dt))
        self.reward_scales = rewards.task_scales(card.commands.lateral_weight, card.commands.alive_bonus)

    def _contact_geoms(self, card: ExperimentCard) -> None:
        bodies = self.spec.body_index(card.humanoid.contact_termination_bodies) + 1
        geoms = np.flatnonzero(np.isin(self.mj_model.geom_bodyid, bodies))
        self.termination_geoms = jnp.asarray(geoms, dtype=jnp.int32)

    def _reset_pool(self, library: MotionLibrary, rng: np.random.Generator) -> None:
        """Reference states (and their AMP histories) for reference-state initialisation, drawn once."""
        history, size = self.card.amp.history, self.card.training.reset_states
        clip_index, times = library.sample_times(rng, size, earliest=(history - 1) * self.dt)
        states = library.history_at(clip_index, times, history, self.dt)
        self.reset_amp_history = jnp.asarray(
            self._clip_amp(states).reshape(size, history, -1), dtype=jnp.float32
        )
        last = _take_last(states)
        self.reset_qpos, self.reset_qvel = self._clip_to_qpos_qvel(last)
        skill_of_clip = [self.skill_names.index(skill) for skill in library.skills]
        self.reset_skill = jnp.asarray(np.asarray(skill_of_clip)[clip_index], dtype=jnp.int32)

    def reference_amp_observations(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n reference AMP observations (n, amp_observation_size) drawn afresh from the clips (host side)."""
        return self._clip_amp(self.library.sample_history(rng, n, self.card.amp.history, self.dt)).astype(
            np.float32
        )

    def _clip_amp(self, state: MotionState) -> np.ndarray:
        """AMP features of clip frames through the same function the simulator state uses."""
        return np.asarray(
            features.clip_features(
                _reorder(state, self.clip_dof_order, self.clip_body_order),
                key_body_indices=np.asarray(self.key_body_ids) - 1,
                effort_limits=np.asarray(self.effort_limits),
                feature_set=self.card.amp.feature_set,
            )
        ).reshape(state.dof_positions.shape[0], -1)

    def _clip_to_qpos_qvel(self, state: MotionState) -> tuple[jax.Array, jax.Array]:
        state = _reorder(state, self.clip_dof_order, self.clip_body_order)
        root_pos = state.body_positions[:, 0].copy()
        root_pos[:, :2] = 0.0
        root_rot = state.body_rotations[:, 0]
        local_ang = np.asarray(quat.rotate_inverse(root_rot, state.body_angular_velocities[:, 0]))
        qpos = np.concatenate([root_pos, root_rot, state.dof_positions], axis=1)
        qvel = np.concatenate([state.body_linear_velocities[:, 0], local_ang, state.dof_velocities], axis=1)
        return jnp.asarray(qpos, dtype=jnp.float32), jnp.asarray(qvel, dtype=jnp.float32)

    # ---- state readout -----------------------------------------------------------------------------

    def _parts(self, data: mjx.Data, torques: jax.Array) -> dict[str, jax.Array]:
        """Everything features, rewards and rollouts read, in clip conventions (world frame, wxyz)."""
        root_rot = data.qpos[3:7]
        body_pos = data.xpos[1:]
        body_ang = data.cvel[1:, :3]
        body_lin = data.cvel[1:, 3:] + jnp.cross(body_ang, body_pos - data.subtree_com[0])
        return {
            "root_position": data.qpos[:3],
            "root_rotation": root_rot,
            "root_linear_velocity": data.qvel[:3],
            "root_angular_velocity": quat.rotate(root_rot, data.qvel[3:6]),
            "dof_positions": data.qpos[FREE_QPOS:],
            "dof_velocities": data.qvel[6:],
            "key_body_positions": data.xpos[self.key_body_ids],
            "joint_torques": torques,
            "body_positions": body_pos,
            "body_rotations": data.xquat[1:],
            "body_linear_velocities": body_lin,
            "body_angular_velocities": body_ang,
        }

    def observe(self, state: EnvState) -> dict[str, jax.Array]:
        """The recorded quantities of a state (rollouts, the torque recorder), in clip conventions."""
        parts = self._parts(state.data, state.info["torques"])
        info = state.info
        parts["command"] = commands.command_vector(info["skill"], info["speed"], len(self.skill_names))
        return parts

    def _dummy_parts(self) -> dict[str, jax.Array]:
        data = mjx.make_data(self.sys)
        parts = self._parts(data, jnp.zeros(self.spec.effort_limits.shape[0]))
        parts["command"] = commands.command_vector(
            jnp.zeros((), jnp.int32), jnp.zeros(()), len(self.skill_names)
        )
        return parts

    def _amp_frame(self, parts: dict[str, jax.Array]) -> jax.Array:
        return features.amp_features(
            *(parts[name] for name in _STATE_KEYS),
            parts["joint_torques"],
            effort_limits=self.effort_limits,
            feature_set=self.card.amp.feature_set,
        )

    def _policy_obs_from_parts(self, parts: dict[str, jax.Array]) -> jax.Array:
        return features.policy_observation(*(parts[name] for name in _STATE_KEYS), parts["command"])

    def _fallen(self, data: mjx.Data) -> jax.Array:
        too_low = data.qpos[2] < self.card.humanoid.termination_height
        if self.termination_geoms.shape[0] == 0:
            return too_low
        lowest = _geom_lowest_points(self.mj_model, data, self.termination_geoms)
        return too_low | jnp.any(lowest < self.card.humanoid.contact_tolerance)

    # ---- reset / step ------------------------------------------------------------------------------

    def reset(self, key: jax.Array, eval_settings: EvalSettings | None = None) -> EnvState:
        key, k_pool, k_cmd, k_dr, k_push = jax.random.split(key, 5)
        index = self._reset_index(k_pool, eval_settings)
        sys = self._randomized_sys(k_dr)
        data = mjx.make_data(sys)
        qpos, qvel = self.reset_qpos[index], self.reset_qvel[index]
        if self.weld_root:  # start where the weld holds the pelvis: the model's reference root pose, at rest
            qpos = qpos.at[:FREE_QPOS].set(jnp.asarray(self.mj_model.qpos0[:FREE_QPOS], dtype=qpos.dtype))
            qvel = qvel.at[:6].set(0.0)
        data = data.replace(qpos=qpos, qvel=qvel)
        data = _kinematics(sys, data)
        skill, speed = self._command(k_cmd, self.reset_skill[index])
        info = {
            "key": key,
            "step": jnp.zeros((), jnp.int32),
            "skill": skill,
            "speed": speed,
            "amp_history": self.reset_amp_history[index],
            "push": jax.tree.map(lambda x: x[0], pushes.push_init(jnp, 1)),
            "push_start": self._push_start(k_push, eval_settings),
            "push_vector": jnp.zeros(3),
            "push_force": jnp.zeros(3),
            "body_mass": sys.body_mass,
            "body_inertia": sys.body_inertia,
            "geom_friction": sys.geom_friction,
            "dof_damping": sys.dof_damping,
            "torques": jnp.zeros_like(self.effort_limits),
        }
        parts = self._parts(data, info["torques"])
        parts["command"] = commands.command_vector(skill, speed, len(self.skill_names))
        obs = self._policy_obs_from_parts(parts)
        zero = jnp.zeros(())
        metrics = {
            "episode_age": zero,
            "velocity_error": zero,
            "fallen": zero,
            "physics_blowup": zero,
            **{f"reward_{name}": zero for name in rewards.TASK_TERMS},
        }
        return EnvState(
            data=data,
            obs=obs,
            reward=zero,
            done=zero,
            truncated=zero,
            amp_obs=info["amp_history"].reshape(-1),
            final_obs=obs,
            metrics=metrics,
            info=info,
        )

    def _reset_index(self, key: jax.Array, eval_settings: EvalSettings | None) -> jax.Array:
        """A reference state, from the commanded skill's clips when an evaluation fixes the skill."""
        if eval_settings is None:
            return jax.random.randint(key, (), 0, self.reset_skill.shape[0])
        matching = (self.reset_skill == eval_settings.skill) | (eval_settings.skill < 0)
        return jax.random.choice(key, self.reset_skill.shape[0], p=matching / jnp.sum(matching))

    def _command(self, key: jax.Array, skill: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Command for a reset: the reset clip's skill, a speed uniform in that skill's band."""
        u = jax.random.uniform(key, ())
        speed = self.band_low[skill] + u * (self.band_high[skill] - self.band_low[skill])
        return skill, speed

    def _push_start(self, key: jax.Array, eval_settings: EvalSettings | None) -> jax.Array:
        if eval_settings is None:
            return jnp.asarray(-1.0)
        return eval_settings.start + jax.random.uniform(key, ()) * eval_settings.jitter

    def _randomized_sys(self, key: jax.Array) -> mjx.Model:
        dr = self.card.randomization
        if not dr.enabled:
            return self.sys
        k_mass, k_friction, k_damping = jax.random.split(key, 3)
        mass = jax.random.uniform(k_mass, (), minval=dr.mass_scale[0], maxval=dr.mass_scale[1])
        friction = jax.random.uniform(k_friction, (), minval=dr.friction[0], maxval=dr.friction[1])
        damping = jax.random.uniform(k_damping, (), minval=dr.damping_scale[0], maxval=dr.damping_scale[1])
        geom_friction = self.sys.geom_friction.at[:, 0].set(friction)
        return self.sys.replace(
            body_mass=self.sys.body_mass * mass,
            body_inertia=self.sys.body_inertia * mass,
            geom_friction=geom_friction,
            dof_damping=self.sys.dof_damping * damping,
        )

    def _sys_of(self, info: dict[str, Any]) -> mjx.Model:
        return self.sys.replace(
            body_mass=info["body_mass"],
            body_inertia=info["body_inertia"],
            geom_friction=info["geom_friction"],
            dof_damping=info["dof_damping"],
        )

    def step(self, state: EnvState, action: jax.Array, eval_settings: EvalSettings | None = None) -> EnvState:
        info = state.info
        key, k_push, k_cmd, k_reset = jax.random.split(info["key"], 4)
        sys = self._sys_of(info)
        push_updates, body = self._push(info, state.data.qpos[3:7], k_push, eval_settings)
        xfrc = jnp.zeros((self.mj_model.nbody, 6)).at[body, :3].set(push_updates["push_force"])
        data = state.data.replace(xfrc_applied=xfrc)
        data, torques = self._physics(sys, data, jnp.clip(action, -1.0, 1.0))
        data = _kinematics(sys, data)
        # A blown-up physics step ends the episode as a fall and keeps the last finite state, so no NaN
        # reaches observations, rewards, the discriminator or a recorded rollout.
        finite = jnp.all(jnp.isfinite(data.qpos)) & jnp.all(jnp.isfinite(data.qvel))
        data = jax.tree.map(lambda new, old: jnp.where(finite, new, old), data, state.data)
        torques = jnp.where(finite, torques, 0.0)
        step_count = info["step"] + 1
        skill, speed = self._maybe_resample_command(k_cmd, info, step_count)
        parts = self._parts(data, torques)
        parts["command"] = commands.command_vector(skill, speed, len(self.skill_names))
        obs = self._policy_obs_from_parts(parts)
        history = jnp.concatenate([info["amp_history"][1:], self._amp_frame(parts)[None]], axis=0)
        terms = rewards.task_reward_terms(
            parts["root_linear_velocity"], parts["root_rotation"], speed, self.card.commands.tracking_sigma
        )
        task_reward = rewards.combine_rewards(terms, self.reward_scales)
        fallen = self._fallen(data) | ~finite
        truncated = (step_count >= self.episode_steps) & ~fallen
        done = fallen | truncated
        info = {
            **info,
            "key": key,
            "step": step_count,
            "skill": skill,
            "speed": speed,
            "amp_history": history,
            "torques": torques,
            **push_updates,
        }
        forward = rewards.heading_velocity(parts["root_linear_velocity"], parts["root_rotation"])[0]
        metrics = {
            "episode_age": step_count.astype(jnp.float32),
            "velocity_error": jnp.abs(forward - speed),
            **{f"reward_{name}": value for name, value in terms.items()},
            "fallen": fallen.astype(jnp.float32),
            "physics_blowup": (~finite).astype(jnp.float32),
        }
        stepped = EnvState(
            data=data,
            obs=obs,
            reward=task_reward,
            done=done.astype(jnp.float32),
            truncated=truncated.astype(jnp.float32),
            amp_obs=history.reshape(-1),
            final_obs=obs,
            metrics=metrics,
            info=info,
        )
        if not self.training:
            return stepped
        return self._auto_reset(stepped, k_reset, done)

    def _auto_reset(self, stepped: EnvState, key: jax.Array, done: jax.Array) -> EnvState:
        """Start a new episode where one ended; amp_obs and final_obs keep the ended transition."""
        fresh = self.reset(key)

        def pick(new, old):
            return jnp.where(done, new, old)

        return stepped.replace(
            data=jax.tree.map(pick, fresh.data, stepped.data),
            obs=pick(fresh.obs, stepped.obs),
            info=jax.tree.map(pick, fresh.info, stepped.info),
        )

    def _maybe_resample_command(
        self, key: jax.Array, info: dict[str, Any], step_count: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        if not self.training:
            return info["skill"], info["speed"]
        skill, speed = commands.command_from_uniforms(
            jax.random.uniform(key, (1, 2)), self.band_low, self.band_high, self.band_weights
        )
        due = (step_count % self.command_steps) == 0
        return jnp.where(due, skill[0], info["skill"]), jnp.where(due, speed[0], info["speed"])

    def _push(
        self,
        info: dict[str, Any],
        root_rotation: jax.Array,
        key: jax.Array,
        eval_settings: EvalSettings | None,
    ) -> tuple[dict[str, Any], jax.Array]:
        """Push bookkeeping for this control step and the body id; the force goes in before physics."""
        if eval_settings is not None:
            return self._scheduled_push(info, root_rotation, eval_settings)
        cfg = self.card.training_pushes
        if not cfg.enabled:
            return {"push_force": jnp.zeros(3)}, self.push_body_ids[0]
        batched = jax.tree.map(lambda x: x[None], info["push"])
        batched = pushes.push_step(
            batched,
            jax.random.uniform(key, (1, 5)),
            control_dt=self.dt,
            probability=cfg.probability,
            force_range=cfg.force,
            duration_range=cfg.duration,
            num_bodies=len(cfg.bodies),
            direction=cfg.direction,
            total_mass=self.total_mass,
        )
        force, slot = pushes.applied_force(batched)
        updates = {"push": jax.tree.map(lambda x: x[0], batched), "push_force": force[0]}
        return updates, self.push_body_ids[slot[0]]

    def _scheduled_push(
        self, info: dict[str, Any], root_rotation: jax.Array, es: EvalSettings
    ) -> tuple[dict[str, Any], jax.Array]:
        """The scenario's push; its direction is fixed from the heading at the step it starts."""
        t = info["step"].astype(jnp.float32) * self.dt
        pushing = pushes.scheduled_push_fraction(t, info["push_start"], es.duration, self.dt) > 0
        starting = pushing & jnp.all(info["push_vector"] == 0)
        heading = pushes.heading_push_vector(es.force, es.azimuth_deg, quat.heading_yaw(root_rotation))
        vector = jnp.where(starting, heading, info["push_vector"])
        force = pushes.scheduled_push_force(t, info["push_start"], es.duration, vector, self.dt)
        return {"push_vector": vector, "push_force": force}, es.body_id

    def _physics(self, sys: mjx.Model, data: mjx.Data, action: jax.Array) -> tuple[mjx.Data, jax.Array]:
        """Substeps of MJX physics; returns the mean joint torque the actuators applied over the step.

        `pd`: ctrl is the target angle and MuJoCo's position servos compute the force (kv integrated
        implicitly); `torque`: ctrl is the torque. Either way the torque read back is `actuator_force`,
        what the simulator applied after clamping at the effort limit.
        """
        if self.card.humanoid.action_mode == "pd":
            ctrl = self.pd_center + action * self.pd_scale
        else:
            ctrl = action * self.effort_limits
        data = data.replace(ctrl=ctrl)

        def substep(d, _):
            d = mjx.step(sys, d)
            return d, d.actuator_force

        data, torques = jax.lax.scan(substep, data, None, length=self.card.simulator.substeps)
        return data, jnp.mean(torques, axis=0)


def _kinematics(sys: mjx.Model, data: mjx.Data) -> mjx.Data:
    """Positions and velocities of bodies for the current qpos/qvel (mjx.step leaves them one step old)."""
    data = mjx.kinematics(sys, data)
    data = mjx.com_pos(sys, data)
    return mjx.com_vel(sys, data)


def _geom_lowest_points(model: mujoco.MjModel, data: mjx.Data, geoms: jax.Array) -> jax.Array:
    """Lowest world z of each sphere, capsule or box geom: contact with the floor without contact data."""
    size = jnp.asarray(model.geom_size)[geoms]
    kind = jnp.asarray(model.geom_type)[geoms]
    z = data.geom_xpos[geoms, 2]
    zrow = jnp.abs(data.geom_xmat[geoms, 2, :])
    sphere = z - size[:, 0]
    capsule = z - size[:, 0] - zrow[:, 2] * size[:, 1]
    box = z - jnp.sum(zrow * size, axis=-1)
    return jnp.where(
        kind == mujoco.mjtGeom.mjGEOM_BOX,
        box,
        jnp.where(kind == mujoco.mjtGeom.mjGEOM_CAPSULE, capsule, sphere),
    )


def _reorder(state: MotionState, dof_order: np.ndarray, body_order: np.ndarray) -> MotionState:
    """Clip arrays in the model's DOF and body order (clips may list them differently)."""
    return MotionState(
        dof_positions=state.dof_positions[..., dof_order],
        dof_velocities=state.dof_velocities[..., dof_order],
        body_positions=state.body_positions[..., body_order, :],
        body_rotations=state.body_rotations[..., body_order, :],
        body_linear_velocities=state.body_linear_velocities[..., body_order, :],
        body_angular_velocities=state.body_angular_velocities[..., body_order, :],
        joint_torques=None if state.joint_torques is None else state.joint_torques[..., dof_order],
    )


def _take_last(state: MotionState) -> MotionState:
    """The newest frame of each (n, k, ...) history."""
    values = {f.name: getattr(state, f.name) for f in dataclasses.fields(state)}
    return MotionState(**{name: None if v is None else v[:, -1] for name, v in values.items()})
