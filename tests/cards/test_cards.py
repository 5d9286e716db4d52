"""Experiment cards: every shipped card loads, bad cards name the file and field, every field is read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from ampbench.cards import CardError, ExperimentCard, card_from_dict, load_card, with_overlays
from ampbench.cli import main

ROOT = Path(__file__).resolve().parents[2]
CARDS = sorted((ROOT / "benchmarks").glob("*.yaml"))
MINIMAL = {
    "name": "tiny",
    "phase": "phase1",
    "description": "test card",
    "mocap": {"clips": [{"name": "deepmimic/walk", "skill": "walk"}]},
    "commands": {"bands": [{"skill": "walk", "speed": [0.5, 1.0]}]},
}


@pytest.mark.parametrize("path", CARDS, ids=lambda p: p.stem)
@pytest.mark.parametrize("overlays", [(), ("smoke",), ("eval",), ("smoke", "eval")])
def test_every_shipped_card_loads_with_every_overlay(path, overlays):
    card = load_card(path, overlays=overlays)
    assert card.name == path.stem
    assert len(card.content_hash()) == 16


def test_the_card_set_covers_every_phase_and_feature_set():
    cards = [load_card(path) for path in CARDS]
    assert {c.phase for c in cards} == {"baseline", "phase1", "phase2", "phase3", "torque"}
    assert {c.amp.feature_set for c in cards if c.phase == "torque"} == {
        "kinematic",
        "torque_only",
        "torque_dof",
        "full",
    }


def test_smoke_overlay_shrinks_the_budget_and_eval_turns_randomisation_off():
    card = load_card(ROOT / "benchmarks/phase2.yaml")
    smoke = load_card(ROOT / "benchmarks/phase2.yaml", overlays=("smoke",))
    assert smoke.training.steps < card.training.steps and smoke.training.envs < card.training.envs
    evaluated = with_overlays(card, ("eval",))
    assert not evaluated.randomization.enabled
    # the endurance scenario plays the card's own training pushes; other scenarios only scheduled ones
    assert evaluated.training_pushes == card.training_pushes


def test_published_cards_train_five_seeds_and_name_their_headline_push():
    """Intervals over seeds need seeds: every phase card trains at least 5 (the CPU learning checks
    learn_walk and imitate_walk train one and two, and say so)."""
    for path in sorted((ROOT / "benchmarks").glob("*.yaml")):
        card = load_card(path)
        if card.name not in ("learn_walk", "imitate_walk"):
            assert len(card.training.seeds) >= 5, path.name
        assert card.evaluation.headline_push is not None, path.name


def test_the_headline_push_must_be_a_cell_of_the_grid():
    with pytest.raises(
        CardError, match=r"headline_push 75.0 N x 0.1 s is not a cell of evaluation.push_grid"
    ):
        card_from_dict({**MINIMAL, "evaluation": {"headline_push": {"force": 75.0, "duration": 0.1}}})


def test_overrides_apply_last_and_change_the_hash():
    base = card_from_dict(MINIMAL)
    changed = card_from_dict(MINIMAL, overrides=("amp.feature_set=full", "training.envs=8"))
    assert (changed.amp.feature_set, changed.training.envs) == ("full", 8)
    assert changed.content_hash() != base.content_hash()


@pytest.mark.parametrize(
    ("patch", "fragment"),
    [
        ({"amp": {"feature_set": "torques"}}, "amp.feature_set"),
        ({"amp": {"loss": "least_squares"}}, "style_reward"),
        ({"training_pushes": {"duration": [0.0, 0.1]}}, "duration must be > 0"),
        ({"training_pushes": {"force": [60.0, 50.0]}}, "low <= high"),
        ({"ppo": {"gama": 0.9}}, "ppo.gama: unknown field"),
        ({"commands": {"bands": [{"skill": "run", "speed": [2.0, 3.0]}]}}, "no speed band"),
        ({"training": {"envs": 0}}, "training.envs"),
    ],
)
def test_bad_cards_fail_naming_the_file_and_field(tmp_path, patch, fragment):
    data = {**MINIMAL, **patch}
    with pytest.raises(CardError) as error:
        card_from_dict(data, source="bad.yaml")
    assert "bad.yaml" in str(error.value) and fragment in str(error.value)


def test_missing_file_unknown_overlay_and_bad_override_are_clear(tmp_path):
    with pytest.raises(CardError, match="card file not found"):
        load_card(tmp_path / "nope.yaml")
    with pytest.raises(CardError, match="overlay 'fast'"):
        load_card(ROOT / "benchmarks/phase2.yaml", overlays=("fast",))
    with pytest.raises(CardError, match=r"dotted\.key=value"):
        card_from_dict(MINIMAL, overrides=("amp.feature_set",))


def test_cli_validate_passes_shipped_cards_and_fails_a_bad_one(tmp_path, capsys):
    assert main(["cards", "validate", "--no-memory", *map(str, CARDS)]) == 0  # cards for bigger machines too
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nphase: phase9\n")
    assert main(["cards", "validate", str(bad)]) == 1
    assert "phase" in capsys.readouterr().err


def _field_names(model: type[BaseModel]) -> set[str]:
    names = set()
    for name, info in model.model_fields.items():
        names.add(name)
        annotation = info.annotation
        for candidate in (annotation, *getattr(annotation, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                names |= _field_names(candidate)
    return names


def test_every_card_field_is_read_somewhere_outside_the_schema():
    """A field nobody reads is a setting that silently does nothing."""
    sources = "\n".join(
        path.read_text() for path in (ROOT / "src/ampbench").rglob("*.py") if path.parent.name != "cards"
    )
    unread = sorted(
        name for name in _field_names(ExperimentCard) if not re.search(rf"\.{name}\b|\"{name}\"", sources)
    )
    assert unread == []
