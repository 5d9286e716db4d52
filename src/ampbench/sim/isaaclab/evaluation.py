"""Evaluation rollouts on Isaac Lab: the host-stepped evaluator, holding one env at a time (Isaac Lab runs
one simulation per process; a scenario of another batch size rebuilds it)."""

from __future__ import annotations

from ampbench.sim.evaluation import HostEvaluator


class Evaluator(HostEvaluator):
    def _env(self, envs: int):
        if envs not in self._envs:
            self.close()
        return super()._env(envs)

    def close(self) -> None:
        for env in self._envs.values():
            env.close()
        self._envs.clear()
