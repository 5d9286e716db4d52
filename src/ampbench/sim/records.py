"""Evaluation steps recorded by any backend -> the plain-numpy `Rollout` record the scorer reads.

A backend plays a scenario and hands over time-major arrays (steps, envs, ...) named as in `RECORDED`,
plus "finite" (False where the physics step blew up) and the push bookkeeping ("push_force",
"push_vector", "push_start"); this module turns them into the record the scorer judges (falls come from
its rule, not from the card's termination) and the push as applied, the same way for every simulator.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ampbench.cards import ExperimentCard
from ampbench.sim.protocol import EvalScenario, PolicySource, PushRecord, Rollout
from ampbench.task import pushes
from ampbench.task.humanoid import PUSH_NOT_YET, HumanoidTask

RECORDED = (
    "root_position",
    "root_rotation",
    "root_linear_velocity",
    "dof_positions",
    "dof_velocities",
    "joint_torques",
    "body_positions",
    "body_rotations",
    "body_linear_velocities",
    "body_angular_velocities",
    "command",
)


def to_rollout(task: HumanoidTask, scenario: EvalScenario, steps: dict[str, np.ndarray]) -> Rollout:
    """Time-major arrays -> the Rollout record (envs first), fall steps and the push actually applied."""
    per_env = {name: np.swapaxes(np.asarray(value), 0, 1) for name, value in steps.items()}
    rollout = Rollout(
        scenario=scenario,
        dt=task.dt,
        dof_names=task.spec.dof_names,
        body_names=task.spec.body_names,
        **{name: per_env[name] for name in RECORDED},
        finite=per_env["finite"].astype(bool),
    )
    return dataclasses.replace(rollout, push=_push_record(task, scenario, per_env, rollout.fall_step))


def _push_record(
    task: HumanoidTask, scenario: EvalScenario, per_env: dict[str, np.ndarray], fall_step: np.ndarray
) -> PushRecord | None:
    """The push as applied: force summed over steps up to the fall (a fallen robot gets no more credit)."""
    if scenario.push is None:
        return None
    force = per_env["push_force"]
    last_counted = np.where(fall_step >= 0, fall_step, force.shape[1])
    counted = np.arange(force.shape[1])[None, :] <= last_counted[:, None]
    impulse = np.linalg.norm((force * counted[..., None]).sum(axis=1) * task.dt, axis=-1)
    push_start = per_env["push_start"][:, -1]  # the schedule; a gait event sets it during the episode
    # float64 and a 1e-3-step tolerance: a float32 start of k x dt can land a hair below step k
    steps = push_start.astype(np.float64) / task.dt
    start_step = np.where(push_start >= PUSH_NOT_YET, -1, np.floor(steps + 1e-3)).astype(int)
    applied_seconds = impulse / scenario.push.force if scenario.push.force > 0 else np.zeros_like(impulse)
    return PushRecord(
        body=scenario.push.body,
        start_step=start_step,
        force_world=per_env["push_vector"][:, -1],
        applied_seconds=applied_seconds,
        impulse=impulse,
        delta_v=np.asarray(pushes.push_delta_v(impulse, task.total_mass)),
    )


class CachedEvaluators:
    """`Backend.rollout` through one evaluator per (card, policy, weld), reused across a card's scenarios
    (an evaluator holds envs and a compiled player); subclasses build one in `new_evaluator`."""

    _evaluators: dict[tuple[str, str, bool], object]

    def new_evaluator(self, card: ExperimentCard, policy: PolicySource, weld_root: bool):
        raise NotImplementedError

    def rollout(self, card: ExperimentCard, policy: PolicySource, scenario: EvalScenario) -> Rollout:
        key = (card.content_hash(), str(policy), scenario.weld_root)
        if key not in getattr(self, "_evaluators", {}):
            self._evaluators = {key: self.new_evaluator(card, policy, scenario.weld_root)}
        record = self._evaluators[key].run(scenario)
        record.check()
        return record
