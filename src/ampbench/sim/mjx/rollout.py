"""Evaluation rollouts on MJX: play a policy through an `EvalScenario` and return a plain-numpy `Rollout`."""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ampbench.sim.mjx.env import MjxHumanoidEnv
from ampbench.sim.records import EvalScenario, Rollout, to_rollout
from ampbench.task.humanoid import EvalSettings

PolicyFn = Callable[[jax.Array], jax.Array]
NoisyPolicyFn = Callable[[jax.Array, jax.Array], jax.Array]


class Evaluator:
    """A policy on one env, compiled once per episode length: push scenarios differ only in traced inputs.

    `noisy_policy` (obs, key) -> action plays scenarios that ask for action noise.
    """

    def __init__(self, env: MjxHumanoidEnv, policy: PolicyFn, noisy_policy: NoisyPolicyFn | None = None):
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
        record = self._compiled[key](self.env, keys, self.env.task.eval_settings(scenario))
        return to_rollout(self.env.task, scenario, jax.tree.map(np.asarray, record))

    def _act(self, obs: jax.Array, key: jax.Array, noisy: bool) -> jax.Array:
        return self.noisy_policy(obs, key) if noisy else self.policy(obs)

    def _play(
        self, env: MjxHumanoidEnv, keys: jax.Array, settings: EvalSettings, *, steps: int, noisy: bool
    ) -> dict[str, jax.Array]:
        state = jax.vmap(env.reset, in_axes=(0, None))(keys, settings)
        action_keys = jax.random.split(jax.random.fold_in(keys[0], 1), steps)

        def body(state, action_key):
            action = self._act(state.obs, action_key, noisy)
            state = jax.vmap(env.step, in_axes=(0, 0, None))(state, action, settings)
            record = jax.vmap(env.observe)(state)
            record["finite"] = state.metrics["physics_blowup"] == 0
            record["push_force"] = state.info["push_force"]
            record["push_vector"] = state.info["push_vector"]
            record["push_start"] = state.info["push_start"]
            return state, record

        return jax.lax.scan(body, state, action_keys)[1]


def zero_policy(action_size: int) -> PolicyFn:
    return lambda obs: jnp.zeros((*obs.shape[:-1], action_size))
