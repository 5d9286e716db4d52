"""What a simulator offers the rest of ampbench: envs to train on (the batched host seam and the pure-JAX
seam the trainer fuses into its update) and evaluation rollouts of a policy it is handed.

A simulator only simulates: the pipeline (`ampbench.pipeline`) builds its envs, chooses and runs the
trainer, loads the policy it plays and scores what comes back (records in `ampbench.sim.records`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

import jax
import numpy as np

from ampbench.cards import ExperimentCard
from ampbench.sim.records import EvalScenario, Rollout
from ampbench.task.humanoid import HumanoidTask


class Policy(NamedTuple):
    """A policy as a simulator plays it: jitted `act(obs) -> action` (the Gaussian's mean) and
    `act_noisy(obs, key) -> action` (mean + std x noise, as in training), both clipped to the action range."""

    act: Callable[[Any], Any]
    act_noisy: Callable[[Any, Any], Any]


class Simulator(Protocol):
    """A simulator backend, chosen by name (`ampbench.core.backends`) and imported only when asked for."""

    name: str
    trains_seeds_together: bool
    """Its training envs are `JaxEnv`s, so the trainer steps several seeds in one compiled update."""

    def training_env(self, card: ExperimentCard, *, seed: int) -> TrainingEnv:
        """The card's batch of training envs (`training.envs` of them); a `BatchedEnv` is closed by whoever
        asked for it."""
        ...

    def rollout(self, card: ExperimentCard, policy: Policy | None, scenario: EvalScenario) -> Rollout:
        """Play `policy` (None: zero actions) through `scenario` and record it."""
        ...

    def versions(self) -> dict[str, str]:
        """Versions of the simulator stack, for provenance."""
        ...

    def device(self) -> str:
        """What the simulator runs on (e.g. `cpu`, `cuda:0 NVIDIA H100`), for provenance."""
        ...


class BatchStep(NamedTuple):
    """One control step of every env of a `BatchedEnv`, arrays (envs, ...), numpy or JAX (an env whose
    simulator shares JAX's device hands its tensors over by DLPack): `obs` already auto-reset where
    `done`; `final_obs` and `amp_obs` of the transition that ended."""

    obs: np.ndarray
    reward: np.ndarray
    done: np.ndarray
    truncated: np.ndarray
    amp_obs: np.ndarray
    final_obs: np.ndarray
    metrics: dict[str, np.ndarray]


class BatchedEnv(Protocol):
    """A batch of training envs stepped on the host: reset/step on arrays of shape (envs, ...), numpy or
    JAX in (the trainer passes its JAX actions), numpy or JAX out (`BatchStep`).

    What the trainer (`ampbench.learning`) drives in its host loop, whatever simulates it. `step`
    auto-resets where `done`. `state_dict` / `load_state_dict` hold the whole batch as arrays, so a
    checkpoint continues it exactly.
    """

    num_envs: int
    observation_size: int
    action_size: int
    amp_observation_size: int
    amp_feature_weights: np.ndarray
    task: HumanoidTask  # the shared task it simulates: features, masks, reference draws

    def reset(self, seed: int) -> Any: ...

    def step(self, actions: Any) -> BatchStep: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, saved: dict[str, Any]) -> None: ...

    def close(self) -> None:
        """Release the simulator's threads or process-wide simulation."""
        ...

    def reference_amp_observations(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n raw reference AMP observations drawn afresh from the clips."""
        ...


class JaxEnv(Protocol):
    """An env of single-env pure JAX functions (the trainer vmaps them and fuses the rollout into the
    compiled update).

    `step` auto-resets on `done`; its state carries obs, reward (raw task reward), done, truncated,
    amp_obs (of the transition just taken), final_obs (before auto-reset) and metrics (name -> scalar).
    The env is a pytree passed to the jitted update as an argument: its leaves are its large arrays (the
    physics model, the reset pool), so they are inputs of the compiled program, not constants in it, and
    its aux data compares equal for one env, so one env compiles once.
    """

    observation_size: int
    action_size: int
    amp_observation_size: int
    amp_feature_weights: jax.Array  # (amp_observation_size,) factors after normalisation
    task: HumanoidTask

    def reset(self, key: jax.Array) -> Any: ...

    def step(self, state: Any, action: jax.Array) -> Any: ...

    def reference_amp_observations(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n raw reference AMP observations drawn afresh (host side, numpy)."""
        ...

    @classmethod
    def stack_seeds(cls, envs: Sequence[Any]) -> tuple[Any, Any]:
        """(one env holding several seeds' envs of one card on a leading axis, its `jax.vmap` in_axes):
        what trains the seeds in one compiled update."""
        ...


TrainingEnv = JaxEnv | BatchedEnv
"""What the trainer trains on: either seam."""


def is_batched(env: TrainingEnv) -> bool:
    return hasattr(env, "load_state_dict")
