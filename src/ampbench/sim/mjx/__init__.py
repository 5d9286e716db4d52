"""The MJX simulator (JAX; the default where JAX has a GPU): training envs the trainer fuses into its
compiled update, and evaluation rollouts of a policy it is handed."""

from __future__ import annotations

import contextlib
import io

import jax

from ampbench.cards import ExperimentCard
from ampbench.core.provenance import package_versions
from ampbench.motion.loader import MotionLibrary, load_library
from ampbench.sim.evaluation import CachedEvaluators
from ampbench.sim.protocol import Policy

VERSIONED = ("mujoco", "mujoco-mjx", "jax", "jaxlib", "flax", "optax")

# mujoco.mjx prints "Failed to import warp" on import when warp-lang is absent (its JAX implementation
# needs none): import it here once, quietly, before the env does.
with contextlib.redirect_stdout(io.StringIO()):
    from mujoco import mjx  # noqa: F401


class MjxSimulator(CachedEvaluators):
    name = "mjx"
    trains_seeds_together = True

    def __init__(self, library_loader=load_library):
        self._load_library = library_loader

    def make_env(self, card: ExperimentCard, *, training: bool, weld_root: bool = False, seed: int = 0):
        from ampbench.sim.mjx.env import MjxHumanoidEnv

        library: MotionLibrary = self._load_library(card.mocap)
        return MjxHumanoidEnv(card, library, training=training, weld_root=weld_root, seed=seed)

    def training_env(self, card: ExperimentCard, *, seed: int):
        return self.make_env(card, training=True, seed=seed)

    def new_evaluator(self, card: ExperimentCard, policy: Policy | None, weld_root: bool):
        """One env and compiled player; scenarios of a card differ only in traced inputs."""
        from ampbench.sim.mjx import rollout

        env = self.make_env(card, training=False, weld_root=weld_root)
        if policy is None:
            return rollout.Evaluator(env, rollout.zero_policy(env.action_size))
        return rollout.Evaluator(env, policy.act, policy.act_noisy)

    def versions(self) -> dict[str, str]:
        return package_versions(VERSIONED)

    def device(self) -> str:
        device = jax.devices()[0]
        return f"{device.platform}:{device.device_kind}"


SIMULATOR = MjxSimulator()
