"""Evaluation rollouts on host-stepped envs (MuJoCo C, and Isaac Lab through a subclass): play a policy
file through an `EvalScenario`, return a `Rollout`.

The policy is the trainer's own jitted JAX function (`trainer.load_policy`), so a policy trained on any
backend plays here; an MJX-trained policy scored on MuJoCo C is MJX's sim-to-sim check.
"""

from __future__ import annotations

import jax
import numpy as np

from ampbench.cards import ExperimentCard
from ampbench.sim.protocol import EvalScenario, PolicySource, Rollout
from ampbench.sim.records import RECORDED, to_rollout


class Evaluator:
    """A policy on MuJoCo C envs of one card, one env batch per scenario size."""

    def __init__(self, backend, card: ExperimentCard, policy: PolicySource, *, weld_root: bool):
        from ampbench.learning import trainer

        self.backend, self.card, self.weld_root = backend, card, weld_root
        if policy == "zeros":
            self.policy, self.noisy_policy = None, None
        else:
            self.policy, self.noisy_policy = trainer.load_policy(policy), trainer.load_noisy_policy(policy)
        self._envs: dict[int, object] = {}

    def _env(self, envs: int):
        if envs not in self._envs:
            self._envs[envs] = self.backend.make_env(
                self.card, envs=envs, training=False, weld_root=self.weld_root
            )
        return self._envs[envs]

    def run(self, scenario: EvalScenario) -> Rollout:
        if scenario.action_noise and self.noisy_policy is None:
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
        return np.asarray(self.noisy_policy(obs, key) if noisy else self.policy(obs))
