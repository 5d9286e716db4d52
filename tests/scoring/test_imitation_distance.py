"""The imitation distance of a score file: clip playback recorded as a rollout scores at the clips' own
floor, the same motion with its joints disturbed scores far above it, and a fallen episode's steps after
the fall are not counted."""

from __future__ import annotations

import numpy as np
import pytest

from ampbench.cards import load_card
from ampbench.motion.loader import MotionLibrary
from ampbench.robot.model import build_mj_model
from ampbench.scoring.imitation import ClipDistribution, episode_feature_rows, imitation_summary
from ampbench.sim.records import EvalScenario, Rollout
from ampbench.task.humanoid import HumanoidTask
from ampbench.task.imitation import clip_reference
from tests.clipfactory import deepmimic_clip

ENVS, SECONDS = 16, 3.0


@pytest.fixture(scope="module")
def clips() -> ClipDistribution:
    """The DeepMimic walk: a real gait, which the fall rule sees standing."""
    card = load_card("benchmarks/learn_walk.yaml")
    library = MotionLibrary([deepmimic_clip("walk")], skills=["walk"])
    task = HumanoidTask(card, library, build_mj_model(card.simulator, card.humanoid))
    return ClipDistribution(task, clip_reference(task, card.evaluation.imitation, np.random.default_rng(0)))


def playback(
    task: HumanoidTask,
    seed: int,
    dof_noise: float = 0.0,
    lie_from: int | None = None,
    clip: int = 0,
    commanded: int = 0,
) -> Rollout:
    """Clip `clip` played from random start times as if a simulator had recorded it, commanding skill
    `commanded`; `dof_noise` (rad) adds a fixed random offset to every joint, `lie_from` drops every
    body to the floor from that step on."""
    rng = np.random.default_rng(seed)
    steps = round(SECONDS / task.dt)
    start = rng.uniform(0.0, task.library.clips[clip].duration, size=(ENVS, 1))
    state = task.library.state_at(clip, start + task.dt * np.arange(steps))
    dofs, bodies = task.clip_dof_order, task.clip_body_order
    body_positions = state.body_positions[:, :, bodies].copy()
    if lie_from is not None:
        body_positions[:, lie_from:, :, 2] = 0.05
    offset = dof_noise * rng.standard_normal(len(dofs))
    return Rollout(
        scenario=EvalScenario(name="unpushed", seed=seed, envs=ENVS, episode_seconds=SECONDS),
        dt=task.dt,
        dof_names=task.spec.dof_names,
        body_names=task.spec.body_names,
        root_position=body_positions[:, :, 0],
        root_rotation=state.body_rotations[:, :, bodies[0]],
        root_linear_velocity=state.body_linear_velocities[:, :, bodies[0]],
        dof_positions=state.dof_positions[:, :, dofs] + offset,
        dof_velocities=state.dof_velocities[:, :, dofs],
        joint_torques=np.zeros_like(state.dof_positions),  # the kinematic features do not read them
        body_positions=body_positions,
        body_rotations=state.body_rotations[:, :, bodies],
        body_linear_velocities=state.body_linear_velocities[:, :, bodies],
        body_angular_velocities=state.body_angular_velocities[:, :, bodies],
        command=np.zeros((ENVS, steps, 1 + len(task.skill_names)))
        + np.eye(1 + len(task.skill_names))[1 + commanded],
        finite=np.ones((ENVS, steps), bool),
    )


def summary(clips: ClipDistribution, rollouts, skill: str | None = None) -> dict:
    return imitation_summary(
        rollouts, clips, start_step=5, reps=200, alpha=0.05, rng=np.random.default_rng(1), skill=skill
    )


def test_clip_playback_scores_at_the_floor_and_a_disturbed_one_far_above(clips):
    following = summary(clips, [playback(clips.task, 100), playback(clips.task, 101)])
    disturbed = summary(clips, [playback(clips.task, 100, dof_noise=0.3), playback(clips.task, 101, 0.3)])
    assert following["rows"] == disturbed["rows"] == 2 * ENVS * (round(SECONDS / clips.task.dt) - 5)
    assert following["point"] < 3 * following["floor"], following
    assert disturbed["low"] > 10 * following["high"], (following, disturbed)
    assert set(following["per_seed"]) == {100, 101}


def test_steps_after_a_fall_and_before_the_settle_time_are_not_counted(clips):
    history = clips.task.card.amp.history
    rows = episode_feature_rows(playback(clips.task, 100, lie_from=40), clips.task, start_step=10)
    assert [len(r) for r in rows] == [41 - max(10, history - 1)] * ENVS
    assert rows[0].shape[1] == clips.task.amp_observation_size


def test_each_skill_is_measured_against_its_own_clips():
    """Walk and run clips as two skills: each skill's episodes score near the floor against their own
    clips, and walk played while run is commanded scores far above it on run's."""
    card = load_card(
        "benchmarks/learn_walk.yaml",
        overrides=("commands.bands=[{skill: walk, speed: [0.8, 1.2]}, {skill: run, speed: [2.0, 3.0]}]",),
    )
    library = MotionLibrary([deepmimic_clip("walk"), deepmimic_clip("run")], skills=["walk", "run"])
    task = HumanoidTask(card, library, build_mj_model(card.simulator, card.humanoid))
    settings, rng = card.evaluation.imitation, np.random.default_rng(0)
    by_skill = {skill: clip_reference(task, settings, rng, skill) for skill in ("walk", "run")}
    two = ClipDistribution(task, clip_reference(task, settings, rng), by_skill)
    honest = [playback(task, 100, clip=0, commanded=0), playback(task, 101, clip=1, commanded=1)]
    walk, run = (summary(two, honest, skill) for skill in ("walk", "run"))
    assert (
        walk["rows"] == run["rows"] and walk["point"] < 3 * walk["floor"] and run["point"] < 3 * run["floor"]
    )
    mislabelled = summary(two, [playback(task, 102, clip=0, commanded=1)], "run")
    assert mislabelled["low"] > 50 * run["high"]
