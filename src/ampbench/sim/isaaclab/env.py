"""The Isaac Lab backend's `BatchedEnv`: `IsaacLabHumanoidEnv`, the project's trainer and scorer stepping
`HumanoidDirectEnv` (direct_env.py) from the host.

The pieces: `config` builds the Isaac Lab config from a card, `direct_env` is the Isaac Lab env running
the task, `dlpack` carries arrays between torch and JAX, and this module adapts the direct env to the
`BatchedEnv` protocol the MuJoCo C env implements too.
"""

from __future__ import annotations

import copy
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch
from isaaclab_newton.physics import NewtonManager

from ampbench.cards import ExperimentCard
from ampbench.motion.loader import MotionLibrary
from ampbench.robot.model import build_mj_model
from ampbench.sim.isaaclab.config import env_cfg
from ampbench.sim.isaaclab.direct_env import HumanoidDirectEnv
from ampbench.sim.isaaclab.dlpack import to_jax, to_torch
from ampbench.sim.protocol import BatchStep
from ampbench.task.humanoid import METRICS, EvalSettings, HumanoidTask


def default_device() -> str:
    """cuda:0 where torch sees a GPU, else cpu (Newton runs Warp's CPU kernels there)."""
    return "cuda:0" if torch.cuda.is_available() else "cpu"


class IsaacLabHumanoidEnv:
    """The project's `BatchedEnv` over `HumanoidDirectEnv`, stepped by the trainer's host loop.

    At the seam torch and JAX meet by DLPack: the policy's JAX actions enter Isaac Lab as torch tensors,
    and the observations and rewards Isaac Lab returns leave as JAX arrays, without a copy on a GPU. The
    task's own per-env results (done flags, AMP history, final observations, metrics) are numpy, as the
    task computes them on this backend, and enter JAX by a copy; the scorer's records (`last_parts`)
    stay numpy, as the `Rollout` protocol has them."""

    def __init__(
        self,
        card: ExperimentCard,
        library: MotionLibrary,
        *,
        envs: int,
        training: bool = True,
        weld_root: bool = False,
        seed: int = 0,
        device: str | None = None,
    ):
        if weld_root:
            raise ValueError(
                "weld_root (the scorer's pelvis-welded sanity check) is not available on the isaaclab "
                "backend; run it on mujoco"
            )
        self.card, self.num_envs, self.training, self.seed = card, envs, training, seed
        self.mj_model = build_mj_model(card.simulator, card.humanoid)
        self.task = task = HumanoidTask(card, library, self.mj_model, seed=seed)
        self.spec, self.dt, self.total_mass = task.spec, task.dt, task.total_mass
        self.observation_size, self.action_size = task.observation_size, task.action_size
        self.amp_observation_size = task.amp_observation_size
        self.amp_feature_weights = task.amp_feature_weights
        cfg = env_cfg(card, envs, self.mj_model, device or default_device(), seed)
        self.direct = HumanoidDirectEnv(cfg, task, training=training, seed=seed)
        # MuJoCo-Warp prints a line per world and step whose line search stops at ls_iterations; MuJoCo C
        # stops there silently too (the card sets the limit). Its kernels read the flag when first built.
        NewtonManager._solver.mjw_model.opt.warn_overflow = False

    @property
    def state(self) -> dict[str, Any]:
        return self.direct.state

    @property
    def last_parts(self) -> dict[str, np.ndarray]:
        return self.direct.last_parts

    def reference_amp_observations(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.task.reference_amp_observations(rng, n)

    def close(self) -> None:
        self.direct.close()

    def reset(self, seed: int, eval_settings: EvalSettings | None = None) -> jax.Array:
        self.direct.begin(seed, eval_settings)
        observations, _ = self.direct.reset()
        return to_jax(observations["policy"])

    def step(self, actions) -> BatchStep:
        """One control step from JAX (or numpy) actions; JAX arrays out (see the class docstring)."""
        observations, reward, _, _, _ = self.direct.step(to_torch(actions, self.direct.device))
        out, envs = self.direct.outcome, self.num_envs
        done = out.fallen | out.truncated  # the task's flags: evaluation envs never end in Isaac Lab
        return BatchStep(
            obs=to_jax(observations["policy"]),
            reward=to_jax(reward),
            done=jnp.asarray(done, jnp.float32),
            truncated=jnp.asarray(out.truncated, jnp.float32),
            amp_obs=jnp.asarray(out.amp_history.reshape(envs, -1)),
            final_obs=jnp.asarray(out.obs),
            metrics={name: jnp.asarray(out.metrics[name], jnp.float32) for name in METRICS},
        )

    def state_dict(self) -> dict[str, Any]:
        return {"task": copy.deepcopy(self.state), "physics": self.direct.physics_state()}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.direct.state = copy.deepcopy(saved["task"])
        self.direct.load_physics_state(saved["physics"])
        if self.direct._randomized:
            self.direct.apply_randomization(np.ones(self.num_envs, bool))
