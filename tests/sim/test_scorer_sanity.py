"""Sanity of the scorer itself on MJX and MuJoCo C: a limp robot falls, a welded one survives everything,
seeds repeat."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ampbench.cards import card_from_dict
from ampbench.motion.loader import MotionLibrary
from ampbench.scoring.scenarios import evaluation_scenarios
from ampbench.scoring.score import score_rollouts
from ampbench.sim.mjx import MjxSimulator
from ampbench.sim.mujoco import MujocoSimulator
from tests.clipfactory import synthetic_clip

CARD = card_from_dict(
    {
        "name": "sanity",
        "phase": "phase2",
        "description": "scorer sanity checks",
        "mocap": {"clips": [{"name": "synthetic", "skill": "walk"}]},
        "commands": {"bands": [{"skill": "walk", "speed": [0.5, 1.0]}]},
        "evaluation": {
            "seeds": [100, 101],
            "envs": 4,
            "episode_seconds": 3.0,
            "push_grid": {
                "forces": [0.0, 300.0],
                "durations": [0.1],
                "bodies": ["pelvis"],
                "azimuths": [0.0],
                "settle_seconds": 0.2,
                "window_seconds": 1.0,
            },
            # 2 + 0.4 + 0.1 + 0.5 = 3.0 s, the unpushed episode's length: one compiled player serves both
            "gait_pushes": {"wait_seconds": 0.4, "window_seconds": 0.5},
            "endurance": {"enabled": False},  # 60 s episodes: tested in the env and pipeline tests
        },
    }
)


@pytest.fixture(scope="module", params=[MjxSimulator, MujocoSimulator], ids=["mjx", "mujoco"])
def backend(request):
    clip = synthetic_clip(num_frames=61, fps=30.0, loop=True)
    return request.param(library_loader=lambda mocap: MotionLibrary([clip], skills=[mocap.clips[0].skill]))


def _score(backend, *, weld_root: bool) -> dict:
    scenarios = evaluation_scenarios(CARD)
    rollouts = [
        backend.rollout(CARD, None, type(s)(**{**s.__dict__, "weld_root": weld_root})) for s in scenarios
    ]
    return score_rollouts(CARD, rollouts)


@pytest.fixture(scope="module")
def limp(backend):
    return _score(backend, weld_root=False)


@pytest.fixture(scope="module")
def welded(backend):
    return _score(backend, weld_root=True)


def _cells(doc: dict) -> dict[float, dict]:
    return {cell["force"]: cell for cell in doc["push_cells"]}


def test_a_policy_of_zeros_falls_quickly_and_survives_no_push(limp):
    assert limp["episode_seconds"]["mean"]["point"] < 1.5
    assert limp["episode_seconds"]["fall_fraction"] == 1.0
    for cell in _cells(limp).values():
        assert all(rate == 0.0 for rate in cell["per_seed"].values())


def test_a_welded_root_survives_every_push_and_a_zero_push_is_never_a_fall(welded):
    assert welded["episode_seconds"]["mean"]["point"] == pytest.approx(3.0, abs=0.03)
    cells = _cells(welded)
    assert {force: cell["success"]["point"] for force, cell in cells.items()} == {0.0: 1.0, 300.0: 1.0}
    assert {force: cell["n"] for force, cell in cells.items()} == {0.0: 8, 300.0: 8}
    assert cells[0.0]["impulse"] == 0.0
    assert cells[300.0]["impulse"] == pytest.approx(30.0, rel=1e-4)


def test_gait_pushes_need_a_gait(limp, welded):
    """A limp robot falls (mostly before any gait event: a failure of every unconditional rate). A
    welded one never falls and hardly moves its feet: most of its episodes see no event and count in
    neither rate, and those pushed all succeed."""
    for entry in limp["gait_push_success"]:
        assert (entry["n_all"], entry["unconditional"]["point"]) == (8, 0.0)
    for entry in welded["gait_push_success"]:
        assert entry["n"] == entry["n_all"] and entry["n"] + entry["not_pushed"] == 8
        assert entry["success"]["point"] in (None, 1.0)
    assert sum(entry["not_pushed"] for entry in welded["gait_push_success"]) > 16
    assert [entry["event"] for entry in welded["gait_push_success"]] == [
        "touchdown",
        "mid_stance",
        "liftoff",
        "mid_swing",
    ]


def test_scores_are_identical_for_the_same_seeds(backend, welded):
    again = _score(backend, weld_root=True)
    assert json.dumps(again, sort_keys=True) == json.dumps(welded, sort_keys=True)
    assert np.isfinite(welded["episode_seconds"]["mean"]["point"])
