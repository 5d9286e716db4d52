"""`cards validate` refuses what `train` would refuse or mishandle: every case names the field or line."""

from __future__ import annotations

import dataclasses

import pytest

from ampbench.cards import CardError, card_from_dict, load_card
from ampbench.cli import main
from ampbench.motion.clip import ClipError
from ampbench.motion.loader import MotionLibrary, check_model_names
from ampbench.robot.model import humanoid_spec
from tests.cards.test_cards import MINIMAL
from tests.clipfactory import synthetic_clip


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("name='../../escape'", "name: String should match pattern"),
        ("name='/tmp/abs'", "name: String should match pattern"),
        ("simulator.timestep=10", "simulator.timestep: Input should be less than or equal to 0.02"),
        ("training_pushes.force=[50, .inf]", "training_pushes.force.1: Input should be a finite number"),
        ("training_pushes.force=[50, 20000]", "force must lie in [0, 10000] N"),
        ("ppo.hidden=[0, 64]", "ppo.hidden.0: Input should be greater than or equal to 1"),
        ("humanoid.episode_seconds=.inf", "humanoid.episode_seconds: Input should be a finite number"),
        ("training.seeds=[0, 0]", "training.seeds must not repeat a seed"),
        ("evaluation.seeds=[100, 100]", "evaluation.seeds must not repeat a seed"),
        ("training.envs=true", "envs: expected a number, found True (a boolean)"),
        ("evaluation.push_grid.forces=[0, .nan]", "evaluation.push_grid.forces.1: Input should be a finite"),
    ],
)
def test_a_card_train_would_mishandle_is_refused_naming_the_field(override, message):
    with pytest.raises(CardError) as error:
        card_from_dict(MINIMAL, overrides=(override,))
    assert message in str(error.value)


def write(tmp_path, text: str):
    path = tmp_path / "card.yaml"
    path.write_text(text)
    return path


BASE = """name: tiny
phase: phase1
description: test card
mocap: {clips: [{name: deepmimic/walk, skill: walk}]}
commands: {bands: [{skill: walk, speed: [0.5, 1.0]}]}
"""


def test_repeated_keys_and_aliases_are_refused_with_their_line(tmp_path):
    with pytest.raises(CardError, match=r"(?s)duplicate key 'envs'.*line 8"):
        load_card(write(tmp_path, BASE + "training:\n  envs: 8\n  envs: 4096\n"))
    bomb = BASE + "overlays:\n  a: &a {x: 1}\n  b: [*a, *a]\n"
    with pytest.raises(CardError, match=r"(?s)aliases \(\*name\) are not allowed.*line 8"):
        load_card(write(tmp_path, bomb))


def test_clips_whose_names_do_not_match_the_model_are_named():
    spec = humanoid_spec()
    clip = synthetic_clip()
    renamed = dataclasses.replace(clip, dof_names=("knee_wrong", *clip.dof_names[1:]), source="clips/odd.npz")
    check_model_names(MotionLibrary([clip]), spec.dof_names, spec.body_names)
    with pytest.raises(ClipError, match=rf"clips/odd.npz: has no DOF '{clip.dof_names[0]}' of the model"):
        check_model_names(MotionLibrary([renamed]), spec.dof_names, spec.body_names)


@pytest.mark.parametrize("minutes", ["-1", "nan", "inf", "0", "ten"])
def test_minutes_must_be_a_finite_positive_number(minutes, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "benchmarks/learn_walk.yaml", "--minutes", minutes])
    assert exit_.value.code == 2 and "--minutes" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--seconds", "-1", "expected a finite number > 0, found '-1'"),
        ("--seconds", "nan", "expected a finite number > 0, found 'nan'"),
        ("--envs", "0", "expected an integer >= 1, found '0'"),
    ],
)
def test_collect_refuses_a_duration_or_env_count_that_records_nothing(
    option, value, expected, tmp_path, capsys
):
    with pytest.raises(SystemExit) as exit_:
        main(["collect", str(tmp_path), "--name", "x", option, value])
    assert exit_.value.code == 2 and f"argument {option}: {expected}" in capsys.readouterr().err


def test_unreadable_inputs_are_one_line_errors(tmp_path, capsys):
    binary = tmp_path / "card.yaml"
    binary.write_bytes(b"\xff\xfe\x00\x81binary")
    for path, message in ((tmp_path, "a folder, not a card file"), (binary, "not a text file")):
        assert main(["cards", "show", str(path)]) == 2
        assert message in capsys.readouterr().err
    with pytest.raises(CardError, match=r"override 'training.envs=\[1, 2': the value is not valid YAML"):
        card_from_dict(MINIMAL, overrides=("training.envs=[1, 2",))
