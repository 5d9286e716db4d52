"""Evaluation rollouts shared by the simulators: one evaluator per (card, policy, weld) reused across a
card's scenarios, and the host-stepped evaluator of MuJoCo C and Isaac Lab.

The policy is handed in as jitted JAX functions (`protocol.Policy`), so a policy trained on any backend
plays on any other; an MJX-trained policy scored on MuJoCo C is MJX's sim-to-sim check.
"""

from __future__ import annotations

import jax
import numpy as np

from ampbench.cards import ExperimentCard
from ampbench.sim.protocol import Policy
from ampbench.sim.records import RECORDED, EvalScenario, Rollout, to_rollout


class CachedEvaluators:
    """`Simulator.rollout` through one evaluator per (card, policy, weld), reused across a card's
    scenarios (an evaluator holds envs and a compiled player); subclasses build one in `new_evaluator`."""

    _evaluators: dict[tuple[str, Policy | None, bool], object]

    def new_evaluator(self, card: ExperimentCard, policy: Policy | None, weld_root: bool):
        raise NotImplementedError

    def rollout(self, card: ExperimentCard, policy: Policy | None, scenario: EvalScenario) -> Rollout:
        key = (card.content_hash(), policy, scenario.weld_root)
        if key not in getattr(self, "_evaluators", {}):
            self._evaluators = {key: self.new_evaluator(card, policy, scenario.weld_root)}
        record = self._evaluators[key].run(scenario)
        record.check()
        return record


class HostEvaluator:
    """A policy on host-stepped envs of one card (MuJoCo C, Isaac Lab), one env batch per scenario size."""

    def __init__(self, simulator, card: ExperimentCard, policy: Policy | None, *, weld_root: bool):
        self.simulator, self.card, self.weld_root, self.policy = simulator, card, weld_root, policy
        self._envs: dict[int, object] = {}

    def _env(self, envs: int):
        if envs not in self._envs:
            self._envs[envs] = self.simulator.make_env(
                self.card, envs=envs, training=False, weld_root=self.weld_root
            )
        return self._envs[envs]

    def run(self, scenario: EvalScenario) -> Rollout:
        if scenario.action_noise and self.policy is None:
            raise ValueError(f"scenario {scenario.name}: action noise asked for a policy that has none")
        env = self._env(scenario.envs)
        steps = round(scenario.episode_seconds / env.dt)
        obs = env.reset(scenario.seed, env.task.eval_settings(scenario))
        keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(scenario.seed), 1), steps)
        recorded: dict[str, list[np.ndarray]] = {}
        for key in keys:
            stepped = env.step(self._act(obs, key, scenario.action_noise, env.action_size))
            obs = stepped.obs
            record = {name: env.last_parts[name] for name in RECORDED}
            record["finite"] = stepped.metrics["physics_blowup"] == 0
            for name in ("push_force", "push_vector", "push_start"):
                record[name] = env.state[name].copy()
            for name, value in record.items():
                recorded.setdefault(name, []).append(value)
        return to_rollout(env.task, scenario, {name: np.stack(v) for name, v in recorded.items()})

    def _act(self, obs: np.ndarray, key: jax.Array, noisy: bool, action_size: int) -> np.ndarray:
        if self.policy is None:
            return np.zeros((obs.shape[0], action_size), np.float32)
        return np.asarray(self.policy.act_noisy(obs, key) if noisy else self.policy.act(obs))
