"""The AMP humanoid task in MJX: pure JAX functions of one env, vmapped over envs by the caller.

State in, state out (`reset(key)`, `step(state, action)`), everything the card chooses read from the
card, and everything after physics (observations, features, rewards, falls) taken from `HumanoidTask`
and `ampbench.task`, which every backend shares. Per-env physics randomisation lives in the state and
is swapped into the model inside `step`, so one compiled step serves every env.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from flax import struct
from mujoco import mjx

from ampbench.cards import ExperimentCard
from ampbench.motion.loader import MotionLibrary
from ampbench.robot import quat
from ampbench.robot.model import FREE_QPOS, build_mj_model
from ampbench.task import commands, pushes
from ampbench.task.humanoid import METRICS, EvalSettings, HumanoidTask, physics_sane


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


# The env's large arrays: the physics model and the reset pool drawn from the clips. They are the env's
# pytree leaves, so a jitted function takes them as arguments instead of baking them into the compiled
# program as constants (which made compiling slower and the program depend on the clips' values).
ARRAY_ATTRIBUTES = ("sys", "reset_qpos", "reset_qvel", "reset_amp_history", "reset_skill")


class _Static:
    """The env's attributes other than its arrays: the pytree's aux data, equal for copies of one env."""

    def __init__(self, attributes: dict[str, Any], token: object):
        self.attributes, self.token = attributes, token

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Static) and other.token is self.token

    def __hash__(self) -> int:
        return id(self.token)


@jax.tree_util.register_pytree_node_class
class MjxHumanoidEnv:
    """One humanoid env. Build once per card (it draws the reset states from the clips at build time).

    A pytree whose leaves are `ARRAY_ATTRIBUTES`: pass it to jitted functions as an ordinary argument.
    """

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
        self.mj_model = build_mj_model(card.simulator, card.humanoid, weld_root=weld_root)
        self.sys = mjx.put_model(self.mj_model, impl=card.simulator.mjx.impl)
        self.task = task = HumanoidTask(card, library, self.mj_model, seed=seed)
        self.spec, self.dt, self.episode_steps = task.spec, task.dt, task.episode_steps
        self.skill_names, self.total_mass = task.skill_names, task.total_mass
        self.observation_size, self.action_size = task.observation_size, task.action_size
        self.amp_observation_size = task.amp_observation_size
        self.amp_feature_weights = jnp.asarray(task.amp_feature_weights)
        self.key_body_ids = jnp.asarray(task.key_body_ids)
        self.push_body_ids = jnp.asarray(task.push_body_ids)
        self.termination_geoms = jnp.asarray(task.termination_geoms)
        self.band_low, self.band_high = jnp.asarray(task.band_low), jnp.asarray(task.band_high)
        self.band_weights = jnp.asarray(task.band_weights)
        self.reset_qpos, self.reset_qvel = jnp.asarray(task.reset_qpos), jnp.asarray(task.reset_qvel)
        self.reset_amp_history = jnp.asarray(task.reset_amp_history)
        self.reset_skill = jnp.asarray(task.reset_skill)
        self.effort_limits = jnp.asarray(task.effort_limits)
        self.program_key = (
            _program_key(card, self.mj_model, training=training, weld_root=weld_root)
            if card.simulator.mjx.impl == "jax"
            else None  # Warp kernels are callbacks of this process: no traced program outlives it
        )
        self._token = object()

    def tree_flatten(self) -> tuple[tuple[Any, ...], _Static]:
        attributes = {k: v for k, v in self.__dict__.items() if k not in ARRAY_ATTRIBUTES}
        return tuple(getattr(self, name) for name in ARRAY_ATTRIBUTES), _Static(attributes, self._token)

    @classmethod
    def tree_unflatten(cls, static: _Static, arrays: tuple[Any, ...]) -> MjxHumanoidEnv:
        env = object.__new__(cls)
        env.__dict__.update(static.attributes)
        env.__dict__.update(zip(ARRAY_ATTRIBUTES, arrays, strict=True))
        return env

    @classmethod
    def stack_seeds(cls, envs: Sequence[MjxHumanoidEnv]) -> tuple[MjxHumanoidEnv, MjxHumanoidEnv]:
        """(one env holding the seeds' reset pools stacked on a leading axis, its `jax.vmap` in_axes).
        Envs of one card differ only in the reset pool their seed drew; the model is shared, unmapped."""
        first = envs[0]
        if any(env.program_key != first.program_key or env.card != first.card for env in envs):
            raise ValueError("stack_seeds: the envs are not of one card (only their seeds may differ)")
        _, static = first.tree_flatten()
        arrays = tuple(
            first.sys if name == "sys" else jnp.stack([getattr(env, name) for env in envs])
            for name in ARRAY_ATTRIBUTES
        )
        axes = tuple(None if name == "sys" else 0 for name in ARRAY_ATTRIBUTES)
        return cls.tree_unflatten(static, arrays), cls.tree_unflatten(static, axes)

    def reference_amp_observations(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n reference AMP observations (n, amp_observation_size) drawn afresh from the clips (host side)."""
        return self.task.reference_amp_observations(rng, n)

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
        parts["command"] = self.task.command(info["skill"], info["speed"])
        return parts

    def _fallen(self, data: mjx.Data) -> jax.Array:
        geoms = self.termination_geoms
        return self.task.fallen(data.qpos[2], data.geom_xpos[geoms, 2], data.geom_xmat[geoms, 2, :])

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
            "gait": jnp.zeros(2),
            "body_mass": sys.body_mass,
            "body_inertia": sys.body_inertia,
            "geom_friction": sys.geom_friction,
            "dof_damping": sys.dof_damping,
            "torques": jnp.zeros_like(self.effort_limits),
        }
        parts = self._parts(data, info["torques"])
        parts["command"] = self.task.command(skill, speed)
        obs = self.task.observation(parts)
        zero = jnp.zeros(())
        metrics = dict.fromkeys(METRICS, zero)
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
        return skill, self.task.band_speed(skill, jax.random.uniform(key, ()))

    def _push_start(self, key: jax.Array, eval_settings: EvalSettings | None) -> jax.Array:
        if eval_settings is None:
            return jnp.asarray(-1.0)
        return self.task.initial_push_start(eval_settings, jax.random.uniform(key, ()))

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
        # A blown-up physics step ends the episode as a fall and keeps the last sane state, so no NaN
        # reaches observations, rewards, the discriminator or a recorded rollout.
        limit = self.card.simulator.max_velocity
        finite = physics_sane(action, data.qpos, data.qacc, velocities=(data.qvel,), max_velocity=limit)
        data = jax.tree.map(lambda new, old: jnp.where(finite, new, old), data, state.data)
        torques = jnp.where(finite, torques, 0.0)
        step_count = info["step"] + 1
        skill, speed = self._maybe_resample_command(k_cmd, info, step_count)
        parts = self._parts(data, torques)
        out = self.task.outcome(
            parts, skill, speed, info["amp_history"], step_count, self._fallen(data), finite
        )
        done = out.fallen | out.truncated
        if eval_settings is not None:
            push_start, gait_memory = self.task.gait_push_start(
                eval_settings, step_count, parts, info["gait"], info["push_start"]
            )
            info = {**info, "push_start": push_start, "gait": gait_memory}
        info = {
            **info,
            "key": key,
            "step": step_count,
            "skill": skill,
            "speed": speed,
            "amp_history": out.amp_history,
            "torques": torques,
            **push_updates,
        }
        stepped = EnvState(
            data=data,
            obs=out.obs,
            reward=out.reward,
            done=done.astype(jnp.float32),
            truncated=out.truncated.astype(jnp.float32),
            amp_obs=out.amp_history.reshape(-1),
            final_obs=out.obs,
            metrics=out.metrics,
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
        due = (step_count % self.task.command_steps) == 0
        return jnp.where(due, skill[0], info["skill"]), jnp.where(due, speed[0], info["speed"])

    def _push(
        self,
        info: dict[str, Any],
        root_rotation: jax.Array,
        key: jax.Array,
        eval_settings: EvalSettings | None,
    ) -> tuple[dict[str, Any], jax.Array]:
        """Push bookkeeping for this control step and the body id; the force goes in before physics.
        An evaluation plays its scheduled push, or the card's training pushes where it asks for them."""
        cfg = self.card.training_pushes
        if eval_settings is not None:
            scheduled, body = self._scheduled_push(info, root_rotation, eval_settings)
            if not cfg.enabled:
                return scheduled, body
            training, training_body = self._training_push(info, key)
            random = eval_settings.random_pushes > 0
            force = jnp.where(random, training["push_force"], scheduled["push_force"])
            return {**training, **scheduled, "push_force": force}, jnp.where(random, training_body, body)
        if not cfg.enabled:
            return {"push_force": jnp.zeros(3)}, self.push_body_ids[0]
        return self._training_push(info, key)

    def _training_push(self, info: dict[str, Any], key: jax.Array) -> tuple[dict[str, Any], jax.Array]:
        batched = jax.tree.map(lambda x: x[None], info["push"])
        uniforms = jax.random.uniform(key, (1, pushes.PUSH_UNIFORM_COLUMNS))
        batched, force, body = self.task.training_push(batched, uniforms)
        return {"push": jax.tree.map(lambda x: x[0], batched), "push_force": force[0]}, body[0]

    def _scheduled_push(
        self, info: dict[str, Any], root_rotation: jax.Array, es: EvalSettings
    ) -> tuple[dict[str, Any], jax.Array]:
        """The scenario's push; its direction is fixed from the heading at the step it starts."""
        vector, force = self.task.scheduled_push(
            es, info["step"], info["push_start"], info["push_vector"], root_rotation
        )
        return {"push_vector": vector, "push_force": force}, es.body_id

    def _physics(self, sys: mjx.Model, data: mjx.Data, action: jax.Array) -> tuple[mjx.Data, jax.Array]:
        """Substeps of MJX physics; returns the mean joint torque the actuators applied over the step.

        `pd`: ctrl is the target angle and MuJoCo's position servos compute the force (kv integrated
        implicitly); `torque`: ctrl is the torque. Either way the torque read back is `actuator_force`,
        what the simulator applied after clamping at the effort limit.
        """
        data = data.replace(ctrl=self.task.ctrl(action))

        def substep(d, _):
            d = mjx.step(sys, d)
            return d, d.actuator_force

        data, torques = jax.lax.scan(substep, data, None, length=self.card.simulator.substeps)
        return data, jnp.mean(torques, axis=0)


def _program_key(card: ExperimentCard, mj_model: mujoco.MjModel, **flags: bool) -> str:
    """What decides this env's traced programs besides the code (`ampbench.core.program_cache`): the card, the
    built model byte for byte, and the flags. Clips are not in it: they reach programs only as arrays."""
    model = np.empty(mujoco.mj_sizeModel(mj_model), np.uint8)
    mujoco.mj_saveModel(mj_model, None, model)
    described = card.model_dump_json().encode() + model.tobytes() + repr(sorted(flags.items())).encode()
    return hashlib.sha256(described).hexdigest()


def _kinematics(sys: mjx.Model, data: mjx.Data) -> mjx.Data:
    """Positions and velocities of bodies for the current qpos/qvel (mjx.step leaves them one step old)."""
    data = mjx.kinematics(sys, data)
    data = mjx.com_pos(sys, data)
    return mjx.com_vel(sys, data)
