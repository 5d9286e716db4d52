"""Evaluation rollouts on MJX: play a policy through an `EvalScenario` and return a plain-numpy `Rollout`."""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ampbench.backends.mjx.env import EvalSettings, HumanoidAmpEnv
from ampbench.backends.protocol import EvalScenario, PushRecord, Rollout
from ampbench.task import pushes

PolicyFn = Callable[[jax.Array], jax.Array]
NoisyPolicyFn = Callable[[jax.Array, jax.Array], jax.Array]

_RECORDED = (
    "root_position",
    "root_rotation",
    "root_linear_velocity",
    "dof_positions",
    "dof_velocities",
    "joint_torques",
    "body_positions",
    "body_rotations",
    "body_linear_velocities",
    "body_angular_velocities",
    "command",
)


def eval_settings(env: HumanoidAmpEnv, scenario: EvalScenario) -> EvalSettings:
    skill = -1 if scenario.skill is None else _skill_index(env, scenario.skill)
    push = scenario.push
    if push is None:
        return EvalSettings.make(0, 0.0, 0.0, 0.0, 0.0, 0.0, skill)
    body_id = int(env.spec.body_index([push.body])[0]) + 1
    jitter = scenario.start_jitter_seconds
    return EvalSettings.make(
        body_id, push.force, push.duration, push.azimuth_deg, push.start_seconds, jitter, skill
    )


def _skill_index(env: HumanoidAmpEnv, skill: str) -> int:
    if skill not in env.skill_names:
        raise ValueError(
            f"skill '{skill}' has no speed band in card '{env.card.name}' (have {env.skill_names})"
        )
    if skill not in {clip.skill for clip in env.card.mocap.clips}:
        raise ValueError(f"skill '{skill}' has no clip in card '{env.card.name}' to start episodes from")
    return env.skill_names.index(skill)


class Evaluator:
    """A policy on one env, compiled once per episode length: push scenarios differ only in traced inputs.

    `noisy_policy` (obs, key) -> action plays scenarios that ask for action noise.
    """

    def __init__(self, env: HumanoidAmpEnv, policy: PolicyFn, noisy_policy: NoisyPolicyFn | None = None):
        self.env = env
        self.policy = policy
        self.noisy_policy = noisy_policy
        self._compiled: dict[tuple[int, int, bool], Callable] = {}

    def run(self, scenario: EvalScenario) -> Rollout:
        steps = round(scenario.episode_seconds / self.env.dt)
        if scenario.action_noise and self.noisy_policy is None:
            raise ValueError(f"scenario {scenario.name}: action noise asked for a policy that has none")
        key = (steps, scenario.envs, scenario.action_noise)
        if key not in self._compiled:
            self._compiled[key] = jax.jit(
                functools.partial(self._play, steps=steps, noisy=scenario.action_noise)
            )
        keys = jax.random.split(jax.random.PRNGKey(scenario.seed), scenario.envs)
        record = self._compiled[key](keys, eval_settings(self.env, scenario))
        return to_rollout(self.env, scenario, jax.tree.map(np.asarray, record))

    def _act(self, obs: jax.Array, key: jax.Array, noisy: bool) -> jax.Array:
        return self.noisy_policy(obs, key) if noisy else self.policy(obs)

    def _play(
        self, keys: jax.Array, settings: EvalSettings, *, steps: int, noisy: bool
    ) -> dict[str, jax.Array]:
        env = self.env
        state = jax.vmap(env.reset, in_axes=(0, None))(keys, settings)
        action_keys = jax.random.split(jax.random.fold_in(keys[0], 1), steps)

        def body(state, action_key):
            action = self._act(state.obs, action_key, noisy)
            state = jax.vmap(env.step, in_axes=(0, 0, None))(state, action, settings)
            record = jax.vmap(env.observe)(state)
            record["fallen"] = state.metrics["fallen"] > 0
            record["push_force"] = state.info["push_force"]
            record["push_vector"] = state.info["push_vector"]
            record["push_start"] = state.info["push_start"]
            return state, record

        return jax.lax.scan(body, state, action_keys)[1]


def to_rollout(env: HumanoidAmpEnv, scenario: EvalScenario, steps: dict[str, np.ndarray]) -> Rollout:
    """Time-major arrays -> the Rollout record (envs first), fall steps and the push actually applied."""
    per_env = {name: np.swapaxes(value, 0, 1) for name, value in steps.items()}
    fallen = per_env["fallen"]
    fell = fallen.any(axis=1)
    fall_step = np.where(fell, fallen.argmax(axis=1), -1)
    alive = np.arange(fallen.shape[1])[None, :] <= np.where(fell, fall_step, fallen.shape[1])[:, None]
    return Rollout(
        scenario=scenario,
        dt=env.dt,
        dof_names=env.spec.dof_names,
        body_names=env.spec.body_names,
        **{name: per_env[name] for name in _RECORDED},
        alive=alive,
        fall_step=fall_step,
        push=_push_record(env, scenario, per_env, fall_step),
    )


def _push_record(
    env: HumanoidAmpEnv, scenario: EvalScenario, per_env: dict[str, np.ndarray], fall_step: np.ndarray
) -> PushRecord | None:
    """The push as applied: force summed over steps up to the fall (a fallen robot gets no more credit)."""
    if scenario.push is None:
        return None
    force = per_env["push_force"]
    last_counted = np.where(fall_step >= 0, fall_step, force.shape[1])
    counted = np.arange(force.shape[1])[None, :] <= last_counted[:, None]
    impulse = np.linalg.norm((force * counted[..., None]).sum(axis=1) * env.dt, axis=-1)
    start_step = np.floor(per_env["push_start"][:, 0] / env.dt + 1e-6).astype(int)  # the jittered schedule
    applied_seconds = impulse / scenario.push.force if scenario.push.force > 0 else np.zeros_like(impulse)
    return PushRecord(
        body=scenario.push.body,
        start_step=start_step,
        force_world=per_env["push_vector"][:, -1],
        applied_seconds=applied_seconds,
        impulse=impulse,
        delta_v=np.asarray(pushes.push_delta_v(impulse, env.total_mass)),
    )


def zero_policy(action_size: int) -> PolicyFn:
    return lambda obs: jnp.zeros((*obs.shape[:-1], action_size))
