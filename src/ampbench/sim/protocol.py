"""What a simulator backend offers the rest of ampbench, the plain-numpy records it returns, and the
batched-env seam the trainer steps on the host.

Nothing simulator-specific crosses this seam: the scorer sees `Rollout` records of numpy arrays and
asks for them with `EvalScenario`s, so the same scoring code serves every simulator, and can be
tested with synthetic rollouts.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol

import numpy as np

from ampbench.cards import ExperimentCard
from ampbench.scoring.falls import FALL_RULE, fall_steps, first_up_steps


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


PolicySource = Path | Literal["zeros"]


@dataclass(frozen=True)
class PushRecord:
    """The push each env actually received; arrays of shape (envs,) or (envs, 3). `start_step` is -1
    where the push never started (its gait event did not come).

    Impulse and velocity change are computed from what was applied (force x applied time, divided by
    the robot's total mass), not from the request, so a push cut short by a fall reports less.
    """

    body: str
    start_step: np.ndarray
    force_world: np.ndarray
    applied_seconds: np.ndarray
    impulse: np.ndarray
    delta_v: np.ndarray


@dataclass(frozen=True)
class Rollout:
    """Per-step state of a batch of evaluation episodes, shape (envs, steps, ...), in clip conventions.

    Envs keep simulating after any training termination; `finite[e, t]` is False where env e's physics
    step t blew up. Falls are not recorded but judged from the body poses by the scorer's one rule
    (`ampbench.scoring.falls.FALL_RULE`), whatever the simulator or card: `fall_step[e]` is the step at
    which env e fell, or -1 if it reached the time limit; `alive[e, t]` is True up to and including it.
    Quaternions are wxyz, positions in the world frame, Z up.
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

    @functools.cached_property
    def down(self) -> np.ndarray:
        """(envs, steps) True where the fall rule finds the robot down."""
        return FALL_RULE.down(self.body_positions, self.body_names, self.finite)

    @functools.cached_property
    def first_up_step(self) -> np.ndarray:
        """(envs,) the first step the robot is up (`steps` if never: a get-up reset that stayed down)."""
        return first_up_steps(self.down)

    @functools.cached_property
    def fall_step(self) -> np.ndarray:
        return fall_steps(self.down)

    @property
    def alive(self) -> np.ndarray:
        last = np.where(self.fall_step >= 0, self.fall_step, self.steps)
        return np.arange(self.steps)[None, :] <= last[:, None]

    def episode_seconds(self) -> np.ndarray:
        """Time each env stayed up (s); the time limit where it never fell."""
        lengths = np.where(self.fall_step >= 0, self.fall_step + 1, self.steps)
        return lengths * self.dt

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


class Backend(Protocol):
    """A simulator backend. Chosen by name at the edge (cli, nox, harness) and imported lazily."""

    name: str

    def train(
        self, card: ExperimentCard, run_dir: Path, *, seed: int, resume: bool, minutes: float | None = None
    ) -> Path:
        """Train one seed into `run_dir`; return the last checkpoint. Resumes from the last checkpoint.
        With `minutes`, stops after that much wall clock with a checkpoint that resumes like any other."""
        ...

    def rollout(self, card: ExperimentCard, policy: PolicySource, scenario: EvalScenario) -> Rollout:
        """Play `policy` (a checkpoint, or `"zeros"`) through `scenario` and record it."""
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

    def reset(self, seed: int) -> Any: ...

    def step(self, actions: Any) -> BatchStep: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, saved: dict[str, Any]) -> None: ...

    def reference_amp_observations(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n raw reference AMP observations drawn afresh from the clips."""
        ...
