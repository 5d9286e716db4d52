"""The MuJoCo C simulator: a batch of humanoids on CPU threads (`mujoco.rollout`), stepped on the host by
the trainer's host loop; the fast CPU path (the default without a GPU) and MJX's reference simulator."""

from __future__ import annotations

import os

from ampbench.cards import ExperimentCard
from ampbench.core.provenance import package_versions
from ampbench.motion.loader import load_library
from ampbench.sim.evaluation import CachedEvaluators, HostEvaluator
from ampbench.sim.protocol import Policy

VERSIONED = ("mujoco", "jax", "jaxlib", "flax", "optax")


class MujocoSimulator(CachedEvaluators):
    name = "mujoco"
    trains_seeds_together = False

    def __init__(self, library_loader=load_library):
        self._load_library = library_loader

    def make_env(
        self, card: ExperimentCard, *, envs: int, training: bool, weld_root: bool = False, seed: int = 0
    ):
        from ampbench.sim.mujoco.env import MujocoHumanoidEnv

        library = self._load_library(card.mocap)
        return MujocoHumanoidEnv(card, library, envs=envs, training=training, weld_root=weld_root, seed=seed)

    def training_env(self, card: ExperimentCard, *, seed: int):
        return self.make_env(card, envs=card.training.envs, training=True, seed=seed)

    def new_evaluator(self, card: ExperimentCard, policy: Policy | None, weld_root: bool):
        return HostEvaluator(self, card, policy, weld_root=weld_root)

    def versions(self) -> dict[str, str]:
        return package_versions(VERSIONED)

    def device(self) -> str:
        return f"cpu:{os.cpu_count()} threads"


SIMULATOR = MujocoSimulator()
