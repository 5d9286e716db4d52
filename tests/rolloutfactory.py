"""Synthetic `Rollout` records with simple kinematics, so the scorer is tested without a simulator.

Every env walks straight along `heading_deg` at `speed` m/s with its pelvis at 0.9 m; two DOFs swing as
sin(2 pi t) and cos(2 pi t) (or follow `dof_positions` when given); the command asks for `command_speed`
of the card's one skill ([speed, one-hot]). Env e lies on the floor (every body at `LYING_HEIGHT`) from
`fall_steps[e]` on (-1: never fell), so the scorer's fall rule finds the fall there. A pushed scenario
gets a `PushRecord`: push start step per env (given, or drawn in the scenario's
jitter window from `rng`) and the force applied along heading + azimuth at each step of the push (scoring
counts it up to the fall), for a robot of `mass`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ampbench.cards import ExperimentCard, card_from_dict
from ampbench.robot import quat
from ampbench.scoring.scenarios import evaluation_scenarios
from ampbench.sim.records import EvalScenario, PushRecord, Rollout

SMALL_EVALUATION = {
    "seeds": [100, 101],
    "envs": 8,
    "episode_seconds": 4.0,
    "push_grid": {
        "forces": [0.0, 50.0, 200.0],
        "durations": [0.1],
        "bodies": ["pelvis"],
        "azimuths": [0.0, 90.0],
        "settle_seconds": 0.5,
        "window_seconds": 1.0,
    },
    "headline_push": {"force": 50.0, "duration": 0.1},
}
DOF_NAMES = ("right_knee", "left_knee")
BODY_NAMES = ("pelvis", "torso", "head", "left_hand", "right_hand", "left_foot", "right_foot")
PELVIS_HEIGHT = 0.9
BODY_OFFSETS = np.array(  # the feet stand on the floor all episode: no strides
    [
        [0.0, 0.0, 0.0],
        [0.0, 0.0, 0.3],
        [0.0, 0.0, 0.5],
        [0.0, 0.2, 0.0],
        [0.0, -0.2, 0.0],
        [0.0, 0.1, -0.85],
        [0.0, -0.1, -0.85],
    ]
)
LYING_HEIGHT = 0.05


def _push_record(
    scenario: EvalScenario,
    steps: int,
    dt: float,
    heading: float,
    mass: float,
    start_steps: np.ndarray | None,
    rng: np.random.Generator,
) -> PushRecord:
    push = scenario.push
    if start_steps is None:
        jitter = rng.uniform(0.0, scenario.start_jitter_seconds, size=scenario.envs)
        start_seconds = push.start_seconds + jitter
        start_steps = np.round(start_seconds / dt).astype(int)
    start_steps = np.asarray(start_steps, dtype=int)
    direction = heading + np.deg2rad(push.azimuth_deg)
    force = push.force * np.array([np.cos(direction), np.sin(direction), 0.0])
    step = np.arange(steps)[None, :]
    acting = (step >= start_steps[:, None]) & (step < start_steps[:, None] + round(push.duration / dt))
    return PushRecord(
        body=push.body,
        start_step=start_steps,
        force_world=np.broadcast_to(force, (scenario.envs, 3)).copy(),
        applied_force=acting[..., None] * force,
        robot_mass=mass,
    )


def synthetic_rollout(
    scenario: EvalScenario,
    fall_steps: Sequence[int],
    *,
    dt: float = 0.02,
    speed: float = 1.0,
    command_speed: float = 1.0,
    heading_deg: float = 0.0,
    mass: float = 50.0,
    push_start_steps: Sequence[int] | None = None,
    dof_positions: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> Rollout:
    """A rollout of `scenario` in which env e falls at `fall_steps[e]` (see the module docstring)."""
    fall = np.asarray(fall_steps, dtype=int)
    if fall.shape != (scenario.envs,):
        raise ValueError(
            f"fall_steps has shape {fall.shape}, scenario '{scenario.name}' has {scenario.envs} envs"
        )
    envs, steps = scenario.envs, round(scenario.episode_seconds / dt)
    time = np.arange(steps) * dt
    heading = np.deg2rad(heading_deg)
    forward = np.array([np.cos(heading), np.sin(heading), 0.0])
    root_position = np.zeros((envs, steps, 3)) + time[None, :, None] * speed * forward
    root_position[..., 2] = PELVIS_HEIGHT
    root_rotation = np.broadcast_to(quat.yaw_quat(np.array(heading)), (envs, steps, 4)).copy()
    velocity = np.broadcast_to(speed * forward, (envs, steps, 3)).copy()
    if dof_positions is None:
        dof_positions = np.stack([np.sin(2 * np.pi * time), np.cos(2 * np.pi * time)], axis=-1)
    dofs = np.broadcast_to(np.asarray(dof_positions, dtype=float), (envs, steps, len(DOF_NAMES))).copy()
    body_positions = root_position[:, :, None, :] + BODY_OFFSETS
    lying = (fall[:, None] >= 0) & (np.arange(steps)[None, :] >= fall[:, None])
    body_positions[..., 2] = np.where(lying[..., None], LYING_HEIGHT, body_positions[..., 2])
    push = None
    if scenario.push is not None:
        starts = None if push_start_steps is None else np.asarray(push_start_steps)
        push = _push_record(scenario, steps, dt, heading, mass, starts, rng or np.random.default_rng(0))
    rollout = Rollout(
        scenario=scenario,
        dt=dt,
        dof_names=DOF_NAMES,
        body_names=BODY_NAMES,
        root_position=root_position,
        root_rotation=root_rotation,
        root_linear_velocity=velocity,
        dof_positions=dofs,
        dof_velocities=np.gradient(dofs, dt, axis=1),
        joint_torques=np.zeros_like(dofs),
        body_positions=body_positions,
        body_rotations=np.repeat(root_rotation[:, :, None], len(BODY_NAMES), axis=2),
        body_linear_velocities=np.repeat(velocity[:, :, None], len(BODY_NAMES), axis=2),
        body_angular_velocities=np.zeros((envs, steps, len(BODY_NAMES), 3)),
        command=np.stack([np.full((envs, steps), command_speed), np.ones((envs, steps))], axis=-1),
        finite=np.ones((envs, steps), dtype=bool),
        push=push,
    )
    rollout.check()
    return rollout


def small_card(name: str = "mini", phase: str = "phase2", evaluation: dict | None = None) -> ExperimentCard:
    """A minimal valid card; `evaluation` replaces SMALL_EVALUATION (2 seeds x 8 envs, a 3 x 2 push grid)."""
    data = {
        "name": name,
        "phase": phase,
        "description": "test card",
        "mocap": {"clips": [{"name": "deepmimic/walk", "skill": "walk"}]},
        "commands": {"bands": [{"skill": "walk", "speed": [0.5, 1.0]}]},
        "evaluation": SMALL_EVALUATION if evaluation is None else evaluation,
    }
    return card_from_dict(data)


def _protocol_falls(scenario: EvalScenario, steps: int, dt: float, failure_impulse: float, rng) -> np.ndarray:
    """Unpushed: 1 in 4 envs falls at a random step. Pushed: an env falls 0.2 s after the push starts
    with probability sigmoid(impulse - failure_impulse), pushes being placed at the settle time."""
    if scenario.push is None:
        falls = rng.integers(steps // 4, steps, size=scenario.envs)
        return np.where(rng.random(scenario.envs) < 0.25, falls, -1)
    impulse = scenario.push.force * scenario.push.duration
    falls_now = rng.random(scenario.envs) < 1.0 / (1.0 + np.exp(failure_impulse - impulse))
    fall_step = round(scenario.push.start_seconds / dt) + round(0.2 / dt)
    return np.where(falls_now, fall_step, -1)


def protocol_rollouts(
    card: ExperimentCard,
    *,
    failure_impulse: float = 8.0,
    speed: float = 0.8,
    dt: float = 0.02,
    rng: np.random.Generator,
) -> list[Rollout]:
    """One synthetic rollout per scenario of `evaluation_scenarios(card)`: a policy that walks at `speed`,
    survives small pushes and falls under impulses well above `failure_impulse` (N·s)."""
    rollouts = []
    for scenario in evaluation_scenarios(card):
        steps = round(scenario.episode_seconds / dt)
        falls = _protocol_falls(scenario, steps, dt, failure_impulse, rng)
        starts = None if scenario.push is None else [round(scenario.push.start_seconds / dt)] * scenario.envs
        rollouts.append(synthetic_rollout(scenario, falls, dt=dt, speed=speed, push_start_steps=starts))
    return rollouts
