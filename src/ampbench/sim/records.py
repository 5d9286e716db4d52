"""The plain-numpy records that cross the simulator seam: evaluation scenarios in, `Rollout`s out.

Nothing simulator-specific crosses it: the scorer sees `Rollout` records of numpy arrays and asks for them
with `EvalScenario`s, so the same scoring code serves every simulator and can be tested with synthetic
rollouts. A simulator plays a scenario and hands over time-major arrays (steps, envs, ...) named as in
`RECORDED`, plus "finite" (False where the physics step blew up) and the push bookkeeping ("push_force",
"push_vector", "push_start"); `to_rollout` turns them into the record, the same way for every simulator.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields

import numpy as np

from ampbench.task.humanoid import PUSH_NOT_YET, HumanoidTask


@dataclass(frozen=True)
class ScheduledPush:
    """One deterministic evaluation push, the same on every env of a scenario.

    `azimuth_deg` is measured in the robot's heading frame at push start: 0 pushes forward,
    90 to the robot's left. The backend turns it into a world vector when the push starts.
    """

    body: str
    force: float
    duration: float
    azimuth_deg: float
    start_seconds: float


@dataclass(frozen=True)
class EvalScenario:
    """A batch of evaluation episodes: training randomisation off, fixed seed, optional single push.

    `start_jitter_seconds` draws each env's push start uniformly in [start, start + jitter], so pushes
    land at random gait phases; `gait_event` (one of `task.gait.GAIT_EVENTS`) instead starts each env's
    push at that event's first occurrence in the same window (none if it does not come).
    `random_pushes` plays the card's own random training pushes (`training_pushes`) and no scheduled
    one (the endurance scenario).
    `weld_root` fixes the pelvis to the world (scorer sanity check).
    `skill` fixes the commanded skill (the recorder); by default each episode commands the skill of
    the clip it starts from. `action_noise` plays the policy's Gaussian (mean + its std x noise, as in
    training) instead of its mean: the recorder's default, so recorded torques carry the same noise as
    a training policy's.
    """

    name: str
    seed: int
    envs: int
    episode_seconds: float
    push: ScheduledPush | None = None
    start_jitter_seconds: float = 0.0
    weld_root: bool = False
    skill: str | None = None
    action_noise: bool = False
    random_pushes: bool = False
    gait_event: str | None = None


@dataclass(frozen=True)
class PushRecord:
    """The push each env actually received. `start_step` (envs,) is -1 where the push never started (its
    gait event did not come); `force_world` (envs, 3) the push's world force; `applied_force`
    (envs, steps, 3) the force applied at each step, so scoring can count it up to a fall;
    `robot_mass` (kg) turns an impulse into a velocity change."""

    body: str
    start_step: np.ndarray
    force_world: np.ndarray
    applied_force: np.ndarray
    robot_mass: float


@dataclass(frozen=True)
class Rollout:
    """Per-step state of a batch of evaluation episodes, shape (envs, steps, ...), in clip conventions.

    Envs keep simulating after any training termination; `finite[e, t]` is False where env e's physics
    step t blew up. Falls are not recorded: scoring judges them from the body poses with its one rule
    (`ampbench.scoring.falls`), whatever the simulator or card. Quaternions are wxyz, positions in the
    world frame, Z up.
    """

    scenario: EvalScenario
    dt: float
    dof_names: tuple[str, ...]
    body_names: tuple[str, ...]
    root_position: np.ndarray
    root_rotation: np.ndarray
    root_linear_velocity: np.ndarray
    dof_positions: np.ndarray
    dof_velocities: np.ndarray
    joint_torques: np.ndarray
    body_positions: np.ndarray
    body_rotations: np.ndarray
    body_linear_velocities: np.ndarray
    body_angular_velocities: np.ndarray
    command: np.ndarray
    finite: np.ndarray
    push: PushRecord | None = None
    info: dict[str, str] = field(default_factory=dict)

    @property
    def envs(self) -> int:
        return int(self.finite.shape[0])

    @property
    def steps(self) -> int:
        return int(self.finite.shape[1])

    def check(self) -> None:
        """Raise if arrays disagree in env/step counts: catches backend bugs at the seam."""
        envs, steps = self.finite.shape
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray) and value.shape[:2] != (envs, steps):
                raise ValueError(f"Rollout.{f.name} has shape {value.shape}, expected ({envs}, {steps}, ...)")
        if self.body_positions.shape[2:] != (len(self.body_names), 3):
            raise ValueError(
                f"Rollout.body_positions has shape {self.body_positions.shape}, expected "
                f"({envs}, {steps}, {len(self.body_names)}, 3) for bodies {list(self.body_names)}"
            )


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
    return dataclasses.replace(rollout, push=_push_record(task, scenario, per_env))


def _push_record(
    task: HumanoidTask, scenario: EvalScenario, per_env: dict[str, np.ndarray]
) -> PushRecord | None:
    """The push as applied, step by step."""
    if scenario.push is None:
        return None
    push_start = per_env["push_start"][:, -1]  # the schedule; a gait event sets it during the episode
    # float64 and a 1e-3-step tolerance: a float32 start of k x dt can land a hair below step k
    steps = push_start.astype(np.float64) / task.dt
    start_step = np.where(push_start >= PUSH_NOT_YET, -1, np.floor(steps + 1e-3)).astype(int)
    return PushRecord(
        body=scenario.push.body,
        start_step=start_step,
        force_world=per_env["push_vector"][:, -1],
        applied_force=per_env["push_force"],
        robot_mass=task.total_mass,
    )
