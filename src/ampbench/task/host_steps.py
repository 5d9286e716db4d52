"""The task's bookkeeping for env batches stepped from the host (MuJoCo C, Isaac Lab), in numpy.

Both envs keep their task state as one dict of (envs, ...) arrays (`initial_state`) and draw from a numpy
Generator keyed by (seed, step counter), so the same calls in the same order give the same numbers on
either simulator. What differs between the simulators stays in their envs: reading the root orientation,
holding a force on a body, writing scale factors into the physics. The MJX env runs the same task maths
under jit with JAX keys (sim/mjx/env.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ampbench.cards import RandomizationConfig
from ampbench.task import commands, pushes
from ampbench.task.humanoid import EvalSettings, HumanoidTask

RANDOMIZATION_FIELDS = ("mass", "friction", "damping")
"""Columns of `state["randomization"]`: the per-env scale factors of domain randomisation."""


def initial_state(task: HumanoidTask, envs: int) -> dict[str, Any]:
    """The task state of `envs` envs before their first episode starts (`HumanoidTask.start_episodes`)."""
    return {
        "step": np.zeros(envs, np.int32),
        "skill": np.zeros(envs, np.int32),
        "speed": np.zeros(envs, np.float32),
        "amp_history": np.zeros((envs, *task.reset_amp_history.shape[1:]), np.float32),
        "push": pushes.push_init(np, envs)._asdict(),
        "push_start": np.full(envs, -1.0, np.float32),
        "push_vector": np.zeros((envs, 3), np.float32),
        "push_force": np.zeros((envs, 3), np.float32),
        "gait": np.zeros((envs, 2), np.float32),
        "randomization": np.ones((envs, len(RANDOMIZATION_FIELDS)), np.float32),
        "torques": np.zeros((envs, task.action_size), np.float32),
        "obs": np.zeros((envs, task.observation_size), np.float32),
        "counter": np.zeros((), np.int64),
    }


def randomization_scales(randomization: RandomizationConfig, rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 3) scale factors in `RANDOMIZATION_FIELDS` order, each uniform in the card's range."""
    return np.stack(
        [
            rng.uniform(*randomization.mass_scale, n),
            rng.uniform(*randomization.friction, n),
            rng.uniform(*randomization.damping_scale, n),
        ],
        1,
    )


def resample_commands(
    task: HumanoidTask, state: dict[str, Any], rng: np.random.Generator, step_count: np.ndarray
) -> None:
    """A training step's new commands for the envs whose `step_count` reaches a command period. Every
    env draws its two uniforms whether due or not, so one env's draws never depend on the others'."""
    envs = state["skill"].shape[0]
    skill, speed = commands.command_from_uniforms(
        rng.uniform(size=(envs, 2)).astype(np.float32), task.band_low, task.band_high, task.band_weights
    )
    due = (step_count % task.command_steps) == 0
    state["skill"] = np.where(due, skill, state["skill"]).astype(np.int32)
    state["speed"] = np.where(due, speed, state["speed"]).astype(np.float32)


def push_step(
    task: HumanoidTask,
    state: dict[str, Any],
    eval_settings: EvalSettings | None,
    root_rotation: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Push bookkeeping for the control step about to run; returns the pushed body's model id per env,
    the force to hold on it being `state["push_force"]` (world frame, the env applies it).

    An evaluation with a scheduled push plays it (its direction fixed from `root_rotation` (envs, 4),
    wxyz, when it starts); otherwise the card's random training pushes run where it enables them."""
    envs = state["step"].shape[0]
    if eval_settings is not None and not eval_settings.random_pushes:
        vector, force = task.scheduled_push(
            eval_settings,
            state["step"],
            state["push_start"],
            state["push_vector"],
            np.asarray(root_rotation, np.float32),
        )
        state["push_vector"], state["push_force"] = vector.astype(np.float32), force.astype(np.float32)
        return np.full(envs, int(eval_settings.body_id))
    if not task.card.training_pushes.enabled:
        return np.full(envs, int(task.push_body_ids[0]))
    uniforms = rng.uniform(size=(envs, pushes.PUSH_UNIFORM_COLUMNS)).astype(np.float32)
    push, force, body = task.training_push(pushes.PushState(**state["push"]), uniforms)
    state["push"] = push._asdict()
    state["push_force"] = force.astype(np.float32)
    return body
