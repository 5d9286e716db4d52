"""A physics blow-up is a fall, on MJX and MuJoCo C: a 1e9 N push on a welded robot (which survives any
sane push) ends its episodes at the push, non-finite actions end every episode at once, and training
counts both in `physics_blowup`, and a velocity beyond the card's `simulator.max_velocity` is one too.
MuJoCo C resets a blown-up state by itself; without the check the
welded robot "survived" the 1e9 N push."""

from __future__ import annotations

import numpy as np
import pytest

from ampbench.motion.loader import MotionLibrary
from ampbench.scoring.falls import fall_step_of
from ampbench.sim.mjx import MjxSimulator
from ampbench.sim.mujoco import MujocoSimulator
from ampbench.sim.mujoco.env import MujocoHumanoidEnv
from ampbench.sim.records import EvalScenario, ScheduledPush
from tests.clipfactory import synthetic_clip
from tests.policyfactory import nan_policy
from tests.sim.test_scorer_sanity import CARD

PUSH_SECONDS = 0.3


@pytest.fixture(scope="module", params=[MjxSimulator, MujocoSimulator], ids=["mjx", "mujoco"])
def backend(request):
    clip = synthetic_clip(num_frames=61, fps=30.0, loop=True)
    return request.param(library_loader=lambda mocap: MotionLibrary([clip], skills=[mocap.clips[0].skill]))


def welded(force: float) -> EvalScenario:
    push = ScheduledPush("pelvis", force, 0.1, 0.0, PUSH_SECONDS)
    return EvalScenario(name="blowup", seed=100, envs=4, episode_seconds=1.0, weld_root=True, push=push)


def test_a_welded_robot_survives_a_sane_push_and_falls_at_a_1e9_newton_one(backend):
    sane = backend.rollout(CARD, None, welded(300.0))
    assert np.all(fall_step_of(sane) == -1) and sane.finite.all()
    huge = backend.rollout(CARD, None, welded(1e9))
    push_step = round(PUSH_SECONDS / CARD.simulator.control_dt)
    assert np.all(fall_step_of(huge) == push_step), fall_step_of(huge)
    assert np.all(~huge.finite[:, push_step])


def test_non_finite_actions_end_every_episode_at_the_first_step(backend):
    scenario = EvalScenario(name="nan", seed=100, envs=3, episode_seconds=0.5, weld_root=True)
    rollout = backend.rollout(CARD, nan_policy(28), scenario)
    assert np.all(fall_step_of(rollout) == 0) and not rollout.finite.any()


def test_training_counts_a_blow_up_and_ends_the_episode(library):
    env = MujocoHumanoidEnv(CARD, library, envs=3, training=True)
    env.reset(0)
    step = env.step(np.full((3, env.action_size), np.nan))
    assert np.all(step.metrics["physics_blowup"] == 1) and np.all(step.done) and not np.any(step.truncated)
    assert np.all(np.isfinite(step.obs)) and np.all(np.isfinite(step.amp_obs))


def test_a_velocity_beyond_the_cards_max_velocity_is_a_blow_up(backend):
    """The clip's own velocities (a reset state) exceed 1e-3 rad/s: every episode blows up at step 0."""
    scenario = EvalScenario(name="slow", seed=100, envs=2, episode_seconds=0.2, weld_root=True)
    assert backend.rollout(CARD, None, scenario).finite.all()
    strict = CARD.model_copy(update={"simulator": CARD.simulator.model_copy(update={"max_velocity": 1e-3})})
    rollout = backend.rollout(strict, None, scenario)
    assert np.all(fall_step_of(rollout) == 0) and not rollout.finite.any()
