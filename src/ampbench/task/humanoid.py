"""The AMP humanoid task as every backend builds and scores it: built once from a card and the clips, in
numpy, and one post-physics function written against the array API.

A backend brings physics (MJX, MuJoCo C, Isaac Lab) and reads its state into `parts` (clip conventions:
world frame, wxyz quaternions); everything after that, observations, AMP history, rewards, the
training termination and truncation, is `HumanoidTask.outcome`, the same code on numpy arrays of a
batch or on one env traced by JAX. Construction draws the reset pool (reference-state initialisation)
from the clips once.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import mujoco
import numpy as np
from array_api_compat import array_namespace

from ampbench.cards import ExperimentCard
from ampbench.motion.loader import MotionLibrary, MotionState, check_model_names
from ampbench.robot import quat
from ampbench.robot.model import HumanoidSpec, humanoid_spec, pd_targets
from ampbench.task import commands, features, gait, pushes, rewards

STATE_KEYS = (  # the state arguments of features.amp_features and features.policy_observation, in order
    "root_position",
    "root_rotation",
    "root_linear_velocity",
    "root_angular_velocity",
    "dof_positions",
    "dof_velocities",
    "key_body_positions",
)
METRICS = (
    "episode_age",
    "velocity_error",
    "fallen",
    "physics_blowup",
    *(f"reward_{n}" for n in rewards.TASK_TERMS),
)
"""What `outcome` reports per env and step (the trainer logs their means under env/)."""


class Outcome(NamedTuple):
    """What one control step led to, per env (before any auto-reset)."""

    obs: Any
    amp_history: Any
    reward: Any
    fallen: Any
    truncated: Any
    metrics: dict[str, Any]


class EvalSettings(NamedTuple):
    """What an evaluation episode fixes (its push, its skill), as arrays: a pytree in JAX, so every
    scenario of a card shares one compiled step. The push direction is fixed from the heading when it
    starts. `skill` is the commanded skill index, or -1 for the reset clip's skill. `random_pushes` 1
    plays the card's training pushes instead (the endurance scenario). `gait_event` indexes
    `task.gait.GAIT_EVENTS` for a push started by that event after `start` (-1: timed by `start`)."""

    body_id: Any
    force: Any
    duration: Any
    azimuth_deg: Any
    start: Any
    jitter: Any
    skill: Any
    random_pushes: Any
    gait_event: Any


PUSH_NOT_YET = 1e9
"""`push_start` (s) of a gait-timed push whose event has not come (never reached in an episode)."""
# Reference histories drawn per batch: past ~10^4 rows the draw's numpy arrays leave the CPU caches and
# its time grows faster than the rows (measured in docs/speed.md). Drawn values do not depend on it.
REFERENCE_DRAW_ROWS = 8192


class HumanoidTask:
    """Everything a card and its clips fix about the task, as numpy arrays, shared by every backend."""

    def __init__(
        self,
        card: ExperimentCard,
        library: MotionLibrary,
        mj_model: mujoco.MjModel,
        *,
        seed: int = 0,
    ):
        self.card = card
        self.spec: HumanoidSpec = humanoid_spec(card.humanoid.model)
        self.dt = card.simulator.control_dt
        self.episode_steps = round(card.humanoid.episode_seconds / self.dt)
        spec = self.spec
        check_model_names(library, spec.dof_names, spec.body_names)
        self.clip_dof_order = np.asarray([library.dof_names.index(n) for n in spec.dof_names])
        self.clip_body_order = np.asarray([library.body_names.index(n) for n in spec.body_names])
        self.key_body_ids = spec.body_index(card.humanoid.key_bodies) + 1
        # The clip bodies AMP features and reference-state resets read: the root, then the key bodies.
        self.clip_amp_bodies = self.clip_body_order[np.concatenate([[0], self.key_body_ids - 1])]
        self.push_body_ids = spec.body_index(card.training_pushes.bodies) + 1
        self.gait_foot_index = int(spec.body_index([card.evaluation.gait_pushes.foot])[0])
        self._limits(mj_model)
        self._skills()
        self._termination_geoms(mj_model)
        if card.amp.feature_set != "kinematic":
            library.check_torque_recording(card.amp.reference_torques)
        self.library = library
        self._reset_pool(np.random.default_rng(seed))
        self.action_size = int(spec.effort_limits.shape[0])
        self.observation_size = (
            features.feature_layout("kinematic", self.action_size, len(self.key_body_ids)).size
            + 1
            + len(self.skill_names)
        )
        self.amp_observation_size = int(self.reset_amp_history[0].size)
        amp = card.amp
        self.amp_column_names = features.column_names(
            amp.feature_set, spec.dof_names, card.humanoid.key_bodies, amp.history
        )
        constant = features.constant_columns(
            self.reset_amp_history.reshape(len(self.reset_amp_history), -1), amp.constant_feature_std
        )
        self.constant_amp_mask = constant
        """AMP columns the clips never move (`amp.constant_feature_std`): masked for the discriminator and
        left out of the imitation distance."""
        self.constant_amp_columns = tuple(str(self.amp_column_names[i]) for i in np.flatnonzero(constant))
        weights = features.discriminator_weights(
            amp.feature_set,
            self.action_size,
            len(card.humanoid.key_bodies),
            torque_weight=amp.torque_weight,
            history=amp.history,
        )
        self.amp_feature_weights = np.where(constant, 0.0, weights).astype(np.float32)

    # ---- construction ------------------------------------------------------------------------------

    def _limits(self, mj_model: mujoco.MjModel) -> None:
        spec, humanoid = self.spec, self.card.humanoid
        self.effort_limits = spec.effort_limits.astype(np.float32)
        targets = pd_targets(spec, humanoid)
        self.pd_center = targets.center.astype(np.float32)
        self.pd_scale = targets.scale.astype(np.float32)
        self.pd_low, self.pd_high = targets.low.astype(np.float32), targets.high.astype(np.float32)
        self.total_mass = float(mj_model.body_mass.sum())

    def _skills(self) -> None:
        card = self.card
        self.skill_names = tuple(band.skill for band in card.commands.bands)
        self.band_low, self.band_high, self.band_weights = (
            np.asarray(a, dtype=np.float32) for a in commands.bands_from_card(card.commands, self.skill_names)
        )
        self.command_steps = max(1, round(card.commands.resample_seconds / self.dt))
        self.reward_scales = rewards.task_scales(card.commands.lateral_weight, card.commands.alive_bonus)

    def _termination_geoms(self, mj_model: mujoco.MjModel) -> None:
        """Geoms whose touching the floor ends an episode, with what the lowest-point formula needs."""
        bodies = self.spec.body_index(self.card.humanoid.contact_termination_bodies) + 1
        geoms = np.flatnonzero(np.isin(mj_model.geom_bodyid, bodies))
        self.termination_geoms = geoms.astype(np.int32)
        self.termination_geom_size = mj_model.geom_size[geoms].astype(np.float32)
        self.termination_geom_body = (mj_model.geom_bodyid[geoms] - 1).astype(np.int64)  # in spec.body_names
        self.termination_geom_pos = mj_model.geom_pos[geoms].astype(np.float32)
        self.termination_geom_quat = mj_model.geom_quat[geoms].astype(np.float32)
        kind = mj_model.geom_type[geoms]
        self.termination_geom_is_box = kind == mujoco.mjtGeom.mjGEOM_BOX
        self.termination_geom_is_capsule = kind == mujoco.mjtGeom.mjGEOM_CAPSULE

    def _reset_pool(self, rng: np.random.Generator) -> None:
        """Reference states (and their AMP histories) for reference-state initialisation, drawn once."""
        history, size = self.card.amp.history, self.card.training.reset_states
        clip_index, times = self.library.sample_times(rng, size, earliest=(history - 1) * self.dt)
        states = self.library.history_at(clip_index, times, history, self.dt, self.clip_amp_bodies)
        self.reset_amp_history = self._clip_amp(states).reshape(size, history, -1).astype(np.float32)
        self.reset_qpos, self.reset_qvel = self._clip_to_qpos_qvel(_take_last(states))
        skill_of_clip = [self.skill_names.index(skill) for skill in self.library.skills]
        self.reset_skill = np.asarray(skill_of_clip, dtype=np.int32)[clip_index]

    def reference_amp_observations(
        self, rng: np.random.Generator, n: int, skill: str | None = None
    ) -> np.ndarray:
        """n reference AMP observations (n, amp_observation_size) drawn afresh from the clips (of `skill`
        only, when given), on the host."""
        k = self.card.amp.history
        clip_index, end_time = self.library.history_times(rng, n, k, self.dt, skill)
        observations = np.empty((n, self.amp_observation_size), np.float32)
        for start in range(0, n, REFERENCE_DRAW_ROWS):
            rows = slice(start, start + REFERENCE_DRAW_ROWS)
            history = self.library.history_at(
                clip_index[rows], end_time[rows], k, self.dt, self.clip_amp_bodies
            )
            observations[rows] = self._clip_amp(history)
        return observations

    def _clip_amp(self, state: MotionState) -> np.ndarray:
        """AMP features of clip frames drawn with `bodies=clip_amp_bodies`, through the same function the
        simulator state uses."""
        return np.asarray(
            features.clip_features(
                _reorder_dofs(state, self.clip_dof_order),
                key_body_indices=np.arange(1, len(self.clip_amp_bodies)),
                effort_limits=self.effort_limits,
                feature_set=self.card.amp.feature_set,
            )
        ).reshape(state.dof_positions.shape[0], -1)

    def _clip_to_qpos_qvel(self, state: MotionState) -> tuple[np.ndarray, np.ndarray]:
        """Model qpos and qvel of clip frames whose body 0 is the root (as `clip_amp_bodies` draws)."""
        state = _reorder_dofs(state, self.clip_dof_order)
        root_pos = state.body_positions[:, 0].copy()
        root_pos[:, :2] = 0.0
        root_rot = state.body_rotations[:, 0]
        local_ang = np.asarray(quat.rotate_inverse(root_rot, state.body_angular_velocities[:, 0]))
        qpos = np.concatenate([root_pos, root_rot, state.dof_positions], axis=1)
        qvel = np.concatenate([state.body_linear_velocities[:, 0], local_ang, state.dof_velocities], axis=1)
        return qpos.astype(np.float32), qvel.astype(np.float32)

    # ---- per step (array API: numpy batches, one JAX env) -------------------------------------------

    def ctrl(self, action):
        """Actuator controls for actions in [-1, 1]: PD targets about the card's centre, or torques."""
        if self.card.humanoid.action_mode == "pd":
            return self.pd_center + action * self.pd_scale
        return action * self.effort_limits

    def band_speed(self, skill, u):
        """Commanded speed uniform in `skill`'s band, from uniforms `u` in [0, 1): how a reset starts."""
        xp = array_namespace(u)
        low = xp.take(xp.asarray(self.band_low), skill)
        high = xp.take(xp.asarray(self.band_high), skill)
        return low + u * (high - low)

    def command(self, skill, speed):
        return commands.command_vector(skill, speed, len(self.skill_names))

    def observation(self, parts: dict[str, Any]):
        """Policy observation of `parts` (which must hold "command")."""
        return features.policy_observation(*(parts[name] for name in STATE_KEYS), parts["command"])

    def amp_frame(self, parts: dict[str, Any]):
        return features.amp_features(
            *(parts[name] for name in STATE_KEYS),
            parts["joint_torques"],
            effort_limits=self.effort_limits,
            feature_set=self.card.amp.feature_set,
        )

    def fallen(self, root_height, geom_z, geom_zrows):
        """The card's termination rule: pelvis below `termination_height`, or a termination geom within
        `contact_tolerance` of the floor. `geom_z` (..., G) are the geoms' centre heights and `geom_zrows`
        (..., G, 3) the z row of their world rotation matrices."""
        xp = array_namespace(root_height)
        too_low = root_height < self.card.humanoid.termination_height
        if self.termination_geoms.shape[0] == 0:
            return too_low
        lowest = lowest_points(
            geom_z,
            geom_zrows,
            self.termination_geom_size,
            self.termination_geom_is_box,
            self.termination_geom_is_capsule,
        )
        return too_low | xp.any(lowest < self.card.humanoid.contact_tolerance, axis=-1)

    def fallen_from_body_frames(self, parts: dict[str, Any]):
        """`fallen` with the termination geoms' poses from their bodies' world frames in `parts`
        ("body_positions", "body_rotations" wxyz): for backends that read body frames, not geoms."""
        body = self.termination_geom_body
        body_rotation = parts["body_rotations"][..., body, :]
        centre = parts["body_positions"][..., body, :] + quat.rotate(body_rotation, self.termination_geom_pos)
        rotation = quat.multiply(body_rotation, self.termination_geom_quat)
        return self.fallen(parts["root_position"][..., 2], centre[..., 2], _z_row(rotation))

    def training_push(self, push_state: pushes.PushState, uniforms):
        """One control step of the card's random training pushes for a batch (E envs): the new push
        state, the world force (E, 3) to hold during the step and the pushed body's id (E,)."""
        cfg = self.card.training_pushes
        push_state = pushes.push_step(
            push_state,
            uniforms,
            control_dt=self.dt,
            probability=cfg.probability,
            force_range=cfg.force,
            duration_range=cfg.duration,
            num_bodies=len(cfg.bodies),
            direction=cfg.direction,
            total_mass=self.total_mass,
        )
        force, slot = pushes.applied_force(push_state)
        xp = array_namespace(force)
        return push_state, force, xp.take(xp.asarray(self.push_body_ids), slot)

    def scheduled_push(self, es: EvalSettings, step_count, push_start, push_vector, root_rotation):
        """(push vector, force) (..., 3) of an evaluation push for the control step after `step_count`."""
        xp = array_namespace(root_rotation)
        t = xp.astype(step_count, xp.float32) * self.dt
        return pushes.scheduled_push_step(
            t, push_start, es.duration, es.force, es.azimuth_deg, root_rotation, push_vector, self.dt
        )

    def initial_push_start(self, es: EvalSettings, uniform):
        """An evaluation push's start (s) at reset: jittered after `start`, or not yet for a gait event."""
        xp = array_namespace(uniform)
        return xp.where(es.gait_event >= 0, PUSH_NOT_YET, es.start + uniform * es.jitter)

    def gait_push_start(self, es: EvalSettings, step_count, parts: dict[str, Any], gait_memory, push_start):
        """(push_start, gait_memory) after a control step. A gait-timed push starts at the next step
        after its event's first occurrence in [`es.start`, `es.start + es.jitter`] (later, no push);
        `gait_memory` (..., 2) holds the foot's (contact, ahead) for the next step's comparison."""
        xp = array_namespace(push_start)
        contact, ahead = gait.foot_phase(
            parts["body_positions"][..., self.gait_foot_index, :],
            parts["root_position"],
            parts["root_rotation"],
            self.card.evaluation.gait_pushes.contact_height,
        )
        events = gait.gait_events(gait_memory[..., 0] > 0.5, gait_memory[..., 1], contact, ahead)
        chosen = xp.arange(len(gait.GAIT_EVENTS)) == es.gait_event
        happened = xp.any(events & chosen, axis=-1)
        t = xp.astype(step_count, xp.float32) * self.dt
        waiting = (t >= es.start) & (t <= es.start + es.jitter + 1e-6)
        fire = (push_start >= PUSH_NOT_YET) & waiting & happened
        memory = xp.stack([xp.astype(contact, xp.float32), xp.astype(ahead, xp.float32)], axis=-1)
        return xp.where(fire, t, push_start), memory

    def outcome(
        self, parts: dict[str, Any], skill, speed, amp_history, step_count, fallen, finite
    ) -> Outcome:
        """Observation, AMP history, task reward, fall and truncation after a control step.

        `parts` is the new state (with "joint_torques"), `amp_history` (..., k, F) the history before it,
        `step_count` the steps taken in this episode, `fallen` the card's termination rule's verdict,
        `finite` False where physics blew up (counted as a fall).
        """
        xp = array_namespace(speed)
        parts = {**parts, "command": self.command(skill, speed)}
        obs = self.observation(parts)
        history = xp.concat([amp_history[..., 1:, :], self.amp_frame(parts)[..., None, :]], axis=-2)
        terms = rewards.task_reward_terms(
            parts["root_linear_velocity"], parts["root_rotation"], speed, self.card.commands.tracking_sigma
        )
        reward = rewards.combine_rewards(terms, self.reward_scales)
        fallen = fallen | ~finite
        truncated = (step_count >= self.episode_steps) & ~fallen
        forward = rewards.heading_velocity(parts["root_linear_velocity"], parts["root_rotation"])[..., 0]
        metrics = {
            "episode_age": xp.astype(step_count, xp.float32),
            "velocity_error": xp.abs(forward - speed),
            **{f"reward_{name}": value for name, value in terms.items()},
            "fallen": xp.astype(fallen, xp.float32),
            "physics_blowup": xp.astype(~finite, xp.float32),
        }
        return Outcome(obs, history, reward, fallen, truncated, metrics)

    def eval_settings(self, scenario) -> EvalSettings:
        """An `EvalScenario`'s push and skill as numpy scalars (body ids count the world body)."""
        skill = -1 if scenario.skill is None else self.skill_index(scenario.skill)
        push = scenario.push
        event = -1 if scenario.gait_event is None else gait.GAIT_EVENTS.index(scenario.gait_event)
        if push is None:
            values = (0, 0.0, 0.0, 0.0, 0.0, 0.0, skill, int(scenario.random_pushes), event)
        else:
            body_id = int(self.spec.body_index([push.body])[0]) + 1
            values = (
                body_id,
                push.force,
                push.duration,
                push.azimuth_deg,
                push.start_seconds,
                scenario.start_jitter_seconds,
                skill,
                int(scenario.random_pushes),
                event,
            )
        ints = (0, 6, 7, 8)
        return EvalSettings(
            *(np.asarray(v, np.int32 if i in ints else np.float32) for i, v in enumerate(values))
        )

    def reset_indices(self, rng: np.random.Generator, n: int, es: EvalSettings | None) -> np.ndarray:
        """n reset-pool rows for host-stepped envs, from the commanded skill's clips when an evaluation
        fixes the skill."""
        if es is None or es.skill < 0:
            return rng.integers(0, self.reset_skill.shape[0], size=n)
        return rng.choice(np.flatnonzero(self.reset_skill == es.skill), size=n)

    def start_episodes(
        self, state: dict[str, Any], mask: np.ndarray, index: np.ndarray, rng: np.random.Generator, es
    ) -> None:
        """A host-stepped env batch's episode bookkeeping for the envs in `mask`, started from reset-pool
        rows `index` (the physics is the env's to write): command, clock, AMP history, no push."""
        n = int(mask.sum())
        skill = self.reset_skill[index]
        state["skill"][mask] = skill
        state["speed"][mask] = self.band_speed(skill, rng.uniform(size=n).astype(np.float32))
        state["step"][mask] = 0
        state["amp_history"][mask] = self.reset_amp_history[index]
        state["push"] = pushes.push_on_reset(pushes.PushState(**state["push"]), mask)._asdict()
        state["push_vector"][mask] = 0.0
        state["push_force"][mask] = 0.0
        state["torques"][mask] = 0.0
        state["gait"][mask] = 0.0
        if es is not None:
            state["push_start"][mask] = self.initial_push_start(es, rng.uniform(size=n).astype(np.float32))

    def skill_index(self, skill: str) -> int:
        if skill not in self.skill_names:
            raise ValueError(
                f"skill '{skill}' has no speed band in card '{self.card.name}' (have {self.skill_names})"
            )
        if skill not in {clip.skill for clip in self.card.mocap.clips}:
            raise ValueError(f"skill '{skill}' has no clip in card '{self.card.name}' to start episodes from")
        return self.skill_names.index(skill)


MAX_PHYSICS_VALUE = 1e10
"""MuJoCo's mjMAXVAL: a position, acceleration or action beyond it is a blown-up simulation."""


def physics_sane(*arrays, velocities=(), max_velocity: float = MAX_PHYSICS_VALUE):
    """(...,) True where every value of every (..., n) array (qpos, qacc, actions) is finite and within
    MAX_PHYSICS_VALUE, and every value of `velocities` (qvel) within `max_velocity` (the card's
    `simulator.max_velocity`): the one blow-up rule of every backend, whose verdict ends the step's episode
    as a fall (`finite` in rollouts, `env/physics_blowup` in training)."""
    xp = array_namespace(*arrays, *velocities)
    sane = None
    for group, limit in ((arrays, MAX_PHYSICS_VALUE), (velocities, max_velocity)):
        for array in group:
            ok = xp.all(xp.isfinite(array) & (xp.abs(array) < limit), axis=-1)
            sane = ok if sane is None else sane & ok
    return sane


def lowest_points(geom_z, geom_zrows, size, is_box, is_capsule):
    """Lowest world z of sphere, capsule or box geoms (..., G): floor contact without contact data.

    `geom_zrows` (..., G, 3) is |R[2, :]| or R[2, :] of each geom's world rotation (the z component of its
    local axes); `size` (G, 3) MuJoCo's geom_size (radius, half-length; box half-extents).
    """
    xp = array_namespace(geom_z)
    zrow = xp.abs(geom_zrows)
    sphere = geom_z - size[:, 0]
    capsule = geom_z - size[:, 0] - zrow[..., 2] * size[:, 1]
    box = geom_z - xp.sum(zrow * size, axis=-1)
    return xp.where(is_box, box, xp.where(is_capsule, capsule, sphere))


def _reorder_dofs(state: MotionState, dof_order: np.ndarray) -> MotionState:
    """Clip DOF arrays in the model's DOF order (clips may list them differently); bodies are picked in
    the model's order when drawn."""
    return dataclasses.replace(
        state,
        dof_positions=state.dof_positions[..., dof_order],
        dof_velocities=state.dof_velocities[..., dof_order],
        joint_torques=None if state.joint_torques is None else state.joint_torques[..., dof_order],
    )


def _take_last(state: MotionState) -> MotionState:
    """The newest frame of each (n, k, ...) history."""
    values = {f.name: getattr(state, f.name) for f in dataclasses.fields(state)}
    return MotionState(**{name: None if v is None else v[:, -1] for name, v in values.items()})


def _z_row(rotation):
    """Bottom row (..., 3) of the rotation matrices of wxyz quaternions: each local axis's world z."""
    xp = array_namespace(rotation)
    w, x, y, z = (rotation[..., i] for i in range(4))
    return xp.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=-1)
