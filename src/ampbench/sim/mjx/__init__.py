"""The MJX backend (JAX, the embedded default): the `Backend` protocol over env, trainer and rollouts."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import jax

from ampbench.cards import ExperimentCard
from ampbench.core.runs import package_versions
from ampbench.motion.loader import MotionLibrary, load_library
from ampbench.sim.protocol import PolicySource
from ampbench.sim.records import CachedEvaluators

VERSIONED = ("mujoco", "mujoco-mjx", "jax", "jaxlib", "flax", "optax")

# mujoco.mjx prints "Failed to import warp" on import when warp-lang is absent (its JAX implementation
# needs none): import it here once, quietly, before the env does.
with contextlib.redirect_stdout(io.StringIO()):
    from mujoco import mjx  # noqa: F401


class MjxBackend(CachedEvaluators):
    name = "mjx"

    def __init__(self, library_loader=load_library):
        self._load_library = library_loader

    def make_env(self, card: ExperimentCard, *, training: bool, weld_root: bool = False, seed: int = 0):
        from ampbench.sim.mjx.env import MjxHumanoidEnv

        library: MotionLibrary = self._load_library(card.mocap)
        return MjxHumanoidEnv(card, library, training=training, weld_root=weld_root, seed=seed)

    def train(
        self, card: ExperimentCard, run_dir: Path, *, seed: int, resume: bool, minutes: float | None = None
    ) -> Path:
        from ampbench.learning import trainer

        env = self.make_env(card, training=True, seed=seed)
        result = trainer.train(env, card, seed=seed, run_dir=run_dir, resume=resume, minutes=minutes)
        return result.checkpoint

    def new_evaluator(self, card: ExperimentCard, policy: PolicySource, weld_root: bool):
        """One env and compiled player; scenarios of a card differ only in traced inputs."""
        from ampbench.learning import trainer
        from ampbench.sim.mjx import rollout

        env = self.make_env(card, training=False, weld_root=weld_root)
        if policy == "zeros":
            return rollout.Evaluator(env, rollout.zero_policy(env.action_size))
        return rollout.Evaluator(env, trainer.load_policy(policy), trainer.load_noisy_policy(policy))

    def versions(self) -> dict[str, str]:
        return package_versions(VERSIONED)

    def device(self) -> str:
        device = jax.devices()[0]
        return f"{device.platform}:{device.device_kind}"


BACKEND = MjxBackend()
