"""Phase reproduction: which cards, which jobs, and what an earlier attempt left (no training here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ampbench.cards import card_from_dict
from ampbench.core.files import file_sha256
from ampbench.learning.checkpoint import checkpoint_name
from ampbench.learning.update import schedule
from ampbench.pipeline.reproduce import (
    PHASES,
    PhaseError,
    check_clips,
    find_run,
    phase_cards,
    plan,
    run_state,
    scored_already,
)

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def tiny(**training) -> object:
    return card_from_dict(
        {
            "name": "tiny",
            "phase": "phase2",
            "description": "test card",
            "mocap": {"clips": [{"name": "recorded/none_here", "skill": "walk"}]},
            "commands": {"bands": [{"skill": "walk", "speed": [0.5, 1.0]}]},
            "training": {"envs": 8, "steps": 8 * 16 * 3, "seeds": [3, 4, 5], **training},
            "ppo": {"rollout_steps": 16, "minibatches": 2},
        }
    )


def fake_run(root: Path, card, seed: int, name: str, created: str, checkpoint: str | None = None) -> Path:
    run_dir = root / card.name / "mujoco" / name
    (run_dir / "checkpoints").mkdir(parents=True)
    prov = {"card_hash": card.content_hash(), "seed": seed, "created": created}
    (run_dir / "provenance.json").write_text(json.dumps(prov))
    if checkpoint:
        (run_dir / "checkpoints" / checkpoint).write_bytes(checkpoint.encode())
        (run_dir / "checkpoints" / "latest").write_text(checkpoint + "\n")
    return run_dir


def test_cards_are_chosen_by_their_phase_field() -> None:
    names = {phase: [card.name for _, card in phase_cards(phase, BENCHMARKS)] for phase in PHASES}
    assert names["phase2"] == ["phase2"]
    assert names["phase3"] == ["phase3_dr", "phase3_recovery", "phase3_strong"]
    assert names["torque"] == ["torque_dof", "torque_full", "torque_kinematic", "torque_only"]
    assert names["baseline"] == ["baseline", "imitate_walk", "learn_walk"]
    assert sum(len(cards) for cards in names.values()) == len(list(BENCHMARKS.glob("*.yaml")))
    with pytest.raises(PhaseError, match="phase must be one of"):
        phase_cards("phase4", BENCHMARKS)


def test_smoke_overlay_reaches_the_cards() -> None:
    ((_, card),) = phase_cards("phase2", BENCHMARKS, ("smoke",))
    assert card.training.seeds == (0,)
    assert card.training.envs == 32


def test_plan_takes_the_first_seeds_per_backend() -> None:
    cards = [(Path("tiny.yaml"), tiny())]
    jobs = plan(cards, ["mjx", "mujoco"], 2)
    assert [(job.backend, job.seed) for job in jobs] == [("mjx", 3), ("mjx", 4), ("mujoco", 3), ("mujoco", 4)]
    assert [job.seed for job in plan(cards, ["mjx"], None)] == [3, 4, 5]
    with pytest.raises(PhaseError, match="choose 1 to 3"):
        plan(cards, ["mjx"], 4)
    with pytest.raises(PhaseError, match="unknown backend"):
        plan(cards, ["bullet"], 1)


def test_without_a_backend_a_card_runs_on_mujoco_c_unless_jax_has_an_accelerator(monkeypatch) -> None:
    import jax

    card = tiny()
    data = card.model_dump(mode="json", exclude={"backend"})
    chosen = {name: card_from_dict({**data, "backend": name}) for name in ("mjx", "isaaclab")}
    for platform, expected in (("cpu", "mujoco"), ("gpu", "mjx"), ("tpu", "mjx")):
        monkeypatch.setattr(jax, "default_backend", lambda platform=platform: platform)
        assert [job.backend for job in plan([(Path("tiny.yaml"), card)], (), 1)] == [expected]
        for name, named in chosen.items():  # the card's own choice wins, its default value included
            assert [job.backend for job in plan([(Path("chosen.yaml"), named)], (), 1)] == [name]


def test_train_without_a_backend_takes_the_default(monkeypatch) -> None:
    import jax

    import ampbench.pipeline.train
    from ampbench.cli import main

    asked = []

    def start_runs(card, *, backend, **_):
        asked.append(backend)
        return []

    monkeypatch.setattr(ampbench.pipeline.train, "start_runs", start_runs)
    monkeypatch.setattr(jax, "default_backend", lambda: "cpu")
    assert main(["train", str(BENCHMARKS / "baseline.yaml"), "--seed", "0"]) == 0
    assert main(["train", str(BENCHMARKS / "baseline.yaml"), "--seed", "0", "--backend", "mjx"]) == 0
    assert asked == ["mujoco", "mjx"]


def test_find_run_matches_card_content_and_seed_and_takes_the_newest(tmp_path: Path) -> None:
    card = tiny()
    fake_run(tmp_path, card, 3, "a-seed3", "2026-12-01T10:00:00+00:00")
    newest = fake_run(tmp_path, card, 3, "b-seed3", "2026-12-01T11:00:00+00:00")
    fake_run(tmp_path, card, 4, "c-seed4", "2026-12-01T12:00:00+00:00")
    fake_run(tmp_path, tiny(envs=16), 3, "d-seed3", "2026-12-01T13:00:00+00:00")
    assert find_run(tmp_path, card, "mujoco", 3) == newest
    assert find_run(tmp_path, card, "mujoco", 5) is None
    assert find_run(tmp_path, card, "mjx", 3) is None


def test_run_state_reads_the_latest_checkpoint(tmp_path: Path) -> None:
    card = tiny()
    last = schedule(card)[1]
    assert last == 3
    assert run_state(None, card) == "new"
    assert run_state(fake_run(tmp_path, card, 3, "a", "1"), card) == "new"
    assert run_state(fake_run(tmp_path, card, 3, "b", "2", checkpoint_name(last - 1)), card) == "started"
    assert run_state(fake_run(tmp_path, card, 3, "c", "3", checkpoint_name(last)), card) == "finished"


def test_a_score_counts_only_for_the_checkpoint_it_scored(tmp_path: Path) -> None:
    card = tiny()
    run_dir = fake_run(tmp_path / "runs", card, 3, "r-seed3", "1", checkpoint_name(3))
    results = tmp_path / "results"
    assert scored_already(run_dir, results, card, "mujoco") is None
    score = results / "tiny" / "mujoco" / "r-seed3" / "scores.json"
    score.parent.mkdir(parents=True)
    score.write_text(json.dumps({"provenance": {"checkpoint_sha256": "0" * 64}}))
    assert scored_already(run_dir, results, card, "mujoco") is None
    sha = file_sha256(run_dir / "checkpoints" / checkpoint_name(3))
    score.write_text(json.dumps({"provenance": {"checkpoint_sha256": sha}}))
    assert scored_already(run_dir, results, card, "mujoco") == score


def test_missing_recorded_clips_stop_the_phase_before_training(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AMPBENCH_DATA", str(tmp_path))
    jobs = plan([(Path("tiny.yaml"), tiny())], ["mjx"], 1)
    with pytest.raises(PhaseError, match=r"recorded/none_here.*ampbench collect"):
        check_clips(jobs)
    (tmp_path / "recorded" / "none_here").mkdir(parents=True)
    (tmp_path / "recorded" / "none_here" / "episode_000.npz").write_bytes(b"")
    check_clips(jobs)


def test_every_phase_has_a_nox_session() -> None:
    nox = pytest.importorskip("nox")
    import noxfile  # noqa: F401  (registers its sessions)

    assert set(PHASES) <= set(nox.registry.get())
