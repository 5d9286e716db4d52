"""The Isaac Lab simulator: Isaac Lab 3's direct workflow on Newton (MuJoCo-Warp; Warp's CPU kernels on a
CPU, CUDA on a GPU), stepped by the trainer's host loop (or skrl's, through `.direct`) and scored like
every simulator. Its own venv (`pip install -e '.[isaaclab]'`, Python 3.12): Isaac Lab's newton
pins mujoco 3.12, the MuJoCo backends 3.17."""

from __future__ import annotations

import os

from ampbench.cards import ExperimentCard
from ampbench.core.provenance import package_versions
from ampbench.motion.fetch import cache_dir
from ampbench.motion.loader import load_library
from ampbench.sim.evaluation import CachedEvaluators
from ampbench.sim.protocol import Policy

# Before Warp and JAX start: Warp keeps its compiled kernels across runs (a cold cache costs ~1.5 min per
# process), and JAX allocates GPU memory as it needs it instead of taking most of a GPU torch shares.
os.environ.setdefault("WARP_CACHE_PATH", str(cache_dir() / "warp"))
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

VERSIONED = (
    "isaaclab",
    "newton",
    "mujoco-warp",
    "warp-lang",
    "mujoco",
    "torch",
    "jax",
    "jaxlib",
    "flax",
    "optax",
)


class IsaacLabSimulator(CachedEvaluators):
    name = "isaaclab"
    trains_seeds_together = False

    def __init__(self, library_loader=load_library):
        self._load_library = library_loader

    def make_env(
        self, card: ExperimentCard, *, envs: int, training: bool, weld_root: bool = False, seed: int = 0
    ):
        from ampbench.sim.isaaclab.env import IsaacLabHumanoidEnv

        library = self._load_library(card.mocap)
        return IsaacLabHumanoidEnv(
            card, library, envs=envs, training=training, weld_root=weld_root, seed=seed
        )

    def training_env(self, card: ExperimentCard, *, seed: int):
        return self.make_env(card, envs=card.training.envs, training=True, seed=seed)

    def new_evaluator(self, card: ExperimentCard, policy: Policy | None, weld_root: bool):
        from ampbench.sim.isaaclab.evaluation import Evaluator

        for previous in getattr(self, "_evaluators", {}).values():  # one Isaac Lab simulation per process
            previous.close()
        return Evaluator(self, card, policy, weld_root=weld_root)

    def versions(self) -> dict[str, str]:
        return package_versions(VERSIONED)

    def device(self) -> str:
        import torch

        from ampbench.sim.isaaclab.env import default_device

        device = default_device()
        return (
            f"{device} {torch.cuda.get_device_name(0)}"
            if device.startswith("cuda")
            else "cpu (Warp CPU kernels)"
        )


SIMULATOR = IsaacLabSimulator()
