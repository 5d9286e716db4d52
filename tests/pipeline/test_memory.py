"""A card that cannot fit is refused before any run folder is made, with the estimate and the memory."""

from __future__ import annotations

import pytest

from ampbench.cards import load_card
from ampbench.cli import main
from ampbench.pipeline.memory import check_fits, check_scoring_fits, evaluation_estimate, training_bytes


def test_the_estimate_grows_with_envs_and_replay_and_refuses_what_cannot_fit():
    card = load_card("benchmarks/learn_walk.yaml")
    more = load_card("benchmarks/learn_walk.yaml", overrides=("training.envs=512",))
    assert training_bytes(more) > training_bytes(card)
    check_fits(card, available=8 * 2**30)
    with pytest.raises(
        ValueError, match=r"training.envs 256 needs about 0\.1 GiB .* this machine has 0\.1 GiB"
    ):
        check_fits(card, available=2**26)


def test_train_refuses_before_making_a_run_folder(tmp_path, capsys):
    args = ["train", "benchmarks/learn_walk.yaml", "--backend", "mujoco", "--runs", str(tmp_path)]
    assert main([*args, "--set", "training.envs=100000000"]) == 2
    assert "GiB" in capsys.readouterr().err and not any(tmp_path.iterdir())


def test_scoring_holds_its_unpushed_scenarios_and_one_pushed_one_and_refuses_what_cannot_fit():
    card = load_card("benchmarks/learn_walk.yaml")
    wider = load_card("benchmarks/learn_walk.yaml", overrides=("evaluation.envs=64",))
    assert (
        evaluation_estimate(card)[0] < evaluation_estimate(wider)[0] < 2 * evaluation_estimate(card)[0]
    )  # endurance envs stay
    finer = load_card(
        "benchmarks/learn_walk.yaml", overrides=("evaluation.push_grid.forces=[0, 25, 50, 75]",)
    )
    assert evaluation_estimate(finer)[1] > evaluation_estimate(card)[1]
    assert evaluation_estimate(finer)[0] == evaluation_estimate(card)[0]  # pushed scenarios come one by one
    check_scoring_fits(card, available=8 * 2**30)
    with pytest.raises(ValueError, match=r"scoring its evaluation \(evaluation.envs 32, \d+ scenarios\)"):
        check_scoring_fits(card, available=2**26)


@pytest.mark.parametrize("override", ["training.envs=100000000", "evaluation.envs=10000000"])
def test_validate_refuses_a_card_this_machine_cannot_train_or_score(override, capsys):
    assert main(["cards", "validate", "benchmarks/learn_walk.yaml", "--set", override]) == 1
    assert "benchmarks/learn_walk.yaml: card learn_walk: " in capsys.readouterr().err
