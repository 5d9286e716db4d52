"""The MuJoCo C backend: a batch of humanoids on CPU threads (`mujoco.rollout`), trained by the same
PPO + AMP trainer as MJX through its host loop; the fast CPU path and MJX's reference simulator."""

from __future__ import annotations

import os
from pathlib import Path

from ampbench.cards import ExperimentCard
from ampbench.core.runs import package_versions
from ampbench.motion.loader import load_library
from ampbench.sim.protocol import PolicySource
from ampbench.sim.records import CachedEvaluators

VERSIONED = ("mujoco", "jax", "jaxlib", "flax", "optax")


class MujocoBackend(CachedEvaluators):
    name = "mujoco"

    def __init__(self, library_loader=load_library):
        self._load_library = library_loader

    def make_env(
        self, card: ExperimentCard, *, envs: int, training: bool, weld_root: bool = False, seed: int = 0
    ):
        from ampbench.sim.mujoco.env import MujocoHumanoidEnv

        library = self._load_library(card.mocap)
        return MujocoHumanoidEnv(card, library, envs=envs, training=training, weld_root=weld_root, seed=seed)

    def train(
        self, card: ExperimentCard, run_dir: Path, *, seed: int, resume: bool, minutes: float | None = None
    ) -> Path:
        from ampbench.learning import trainer

        env = self.make_env(card, envs=card.training.envs, training=True, seed=seed)
        try:
            result = trainer.train(env, card, seed=seed, run_dir=run_dir, resume=resume, minutes=minutes)
        finally:
            env.close()
        return result.checkpoint

    def new_evaluator(self, card: ExperimentCard, policy: PolicySource, weld_root: bool):
        from ampbench.sim.host_evaluation import Evaluator

        return Evaluator(self, card, policy, weld_root=weld_root)

    def versions(self) -> dict[str, str]:
        return package_versions(VERSIONED)

    def device(self) -> str:
        return f"cpu:{os.cpu_count()} threads"


BACKEND = MujocoBackend()
