"""The humanoid learns: a short run of benchmarks/learn_walk.yaml (its `ci` overlay, a few minutes on two
cores) must keep it up at least LEARNING_MARGIN times as long as the same run's untrained policy (its
initial parameters, saved as a policy file), on the same evaluation episodes.

The task reward is switched off here (STYLE_ONLY), so that only the discriminator's style reward pays for
staying up: with the card's alive bonus and tracking reward, a run whose style reward had the wrong sign
still learned to stay up (1.80x), and the test would not notice a broken AMP.

This test can fail, and must when learning is broken (both shown in the issue note):
    pytest tests/learning/end_to_end/test_learning.py --learn-set ppo.learning_rate_schedule=fixed \
        --learn-set ppo.learning_rate=0
    pytest tests/learning/end_to_end/test_learning.py -p tests.sabotage.flip_style_sign
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ampbench.cards import load_card, with_overlays
from ampbench.core.files import atomic_write_json
from ampbench.core.runs import latest_checkpoint
from ampbench.learning import checkpoint, policy, update
from ampbench.learning.policy import load_players
from ampbench.pipeline.train import train_seeds
from ampbench.scoring.falls import episode_seconds_of
from ampbench.sim import get_simulator
from ampbench.sim.records import EvalScenario

ROOT = Path(__file__).resolve().parents[3]
SHARED_MOCAP = ROOT.parent / "shared" / "mocap"
# Measured on 2 cores after the ci overlay's 200k steps, style only: untrained 0.92 s, trained 1.47 s
# (1.60x); style reward's sign flipped 0.79 s (0.86x); learning rate 0: 0.92 s (1.00x).
LEARNING_MARGIN = 1.3
STYLE_ONLY = ("amp.task_reward_scale=0.0",)


@pytest.fixture(scope="module")
def clips(tmp_path_factory, monkeypatch_module):
    if not (SHARED_MOCAP / "deepmimic").is_dir():
        pytest.skip(f"reference clips not found at {SHARED_MOCAP}; run `ampbench data fetch` for real data")
    from ampbench.cli import main

    data = tmp_path_factory.mktemp("clips")
    monkeypatch_module.setenv("AMPBENCH_DATA", str(data))
    assert main(["data", "fetch", "--from", str(SHARED_MOCAP)]) == 0
    return data


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def mean_survival_seconds(backend, card, policy) -> float:
    scenario = EvalScenario(
        "learning", seed=100, envs=card.evaluation.envs, episode_seconds=card.evaluation.episode_seconds
    )
    return float(episode_seconds_of(backend.rollout(card, load_players(policy), scenario)).mean())


def untrained_policy(backend, card, folder: Path) -> Path:
    """The policy file of the run's initial parameters (update 0, same seed)."""
    env = backend.make_env(card, training=True)
    seed = card.training.seeds[0]
    atomic_write_json(folder / policy.POLICY_CONFIG, policy.policy_config(env, card))
    return checkpoint.save_checkpoint(folder, update.init_train_state(env, card, seed), update=0, seed=seed)


def test_a_short_run_keeps_the_humanoid_up_several_times_longer(clips, tmp_path, request):
    overrides = (*STYLE_ONLY, *request.config.getoption("--learn-set"))
    card = load_card(ROOT / "benchmarks/learn_walk.yaml", overlays=("ci",), overrides=overrides)
    backend = get_simulator("mjx")
    train_seeds(card, backend, [tmp_path / "run"], seeds=card.training.seeds[:1], resume=False)
    eval_card = with_overlays(card, ("eval",))
    untrained = mean_survival_seconds(backend, eval_card, untrained_policy(backend, card, tmp_path / "init"))
    trained = mean_survival_seconds(backend, eval_card, latest_checkpoint(tmp_path / "run"))
    print(f"mean survival: untrained {untrained:.2f} s, trained {trained:.2f} s ({trained / untrained:.2f}x)")
    assert trained >= LEARNING_MARGIN * untrained, (untrained, trained)
