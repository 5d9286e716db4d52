"""End to end on the CPU: card -> smoke training -> resume -> harness scores -> torque clips -> torque card.

Uses the DeepMimic clips from ../shared/mocap (skipped with a reason where that folder is absent).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ampbench.cards import data_hash
from ampbench.cli import main
from ampbench.core.runs import latest_checkpoint
from ampbench.motion.clip_files import load_clip
from ampbench.pipeline.runs import load_run
from ampbench.scoring.score_files import load_scores

ROOT = Path(__file__).resolve().parents[3]
SHARED_MOCAP = ROOT.parent / "shared" / "mocap"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    if not (SHARED_MOCAP / "deepmimic").is_dir():
        pytest.skip(f"reference clips not found at {SHARED_MOCAP}; run `ampbench data fetch` for real data")
    root = tmp_path_factory.mktemp("pipeline")
    previous = os.environ.get("AMPBENCH_DATA")
    os.environ["AMPBENCH_DATA"] = str(root / "clips")
    assert main(["data", "fetch", "--from", str(SHARED_MOCAP)]) == 0
    yield root
    if previous is None:
        del os.environ["AMPBENCH_DATA"]
    else:
        os.environ["AMPBENCH_DATA"] = previous


@pytest.fixture(scope="module")
def smoke_run(workspace) -> Path:
    card = str(ROOT / "benchmarks/phase2.yaml")
    assert main(["train", card, "--smoke", "--backend", "mjx", "--runs", str(workspace / "runs")]) == 0
    (run_dir,) = (workspace / "runs" / "phase2" / "mjx").iterdir()
    return run_dir


def test_smoke_training_leaves_a_complete_run_folder(smoke_run):
    card, provenance = load_run(smoke_run)
    assert card.name == "phase2" and provenance["overlays"] == ["smoke"]
    assert latest_checkpoint(smoke_run).name == "ckpt_000032.msgpack"
    assert list((smoke_run / "tb").glob("events.out.tfevents.*"))


def test_a_run_cut_short_resumes_to_the_same_final_checkpoint(smoke_run):
    checkpoints = smoke_run / "checkpoints"
    final = checkpoints / "ckpt_000032.msgpack"
    expected = final.read_bytes()
    final.unlink()
    (checkpoints / "latest").write_text("ckpt_000028.msgpack\n")
    assert main(["train", "--resume", str(smoke_run)]) == 0
    assert final.read_bytes() == expected


def test_the_harness_scores_the_run_with_provenance(smoke_run, workspace):
    results = workspace / "results"
    command = [sys.executable, "-m", "pytest", str(ROOT / "tests/harness"), "-q", "-p", "no:cacheprovider"]
    command += ["--run-dir", str(smoke_run), "--results", str(results), "--smoke-protocol"]
    subprocess.run(command, check=True, timeout=900, env=os.environ | {"PYTHONPATH": str(ROOT)})
    (score_file,) = results.glob("phase2/mjx/*/scores.json")
    assert load_scores(score_file)["provenance"]["checkpoint_sha256"]
    curves = json.loads((score_file.parent / "learning_curves.json").read_text())["curves"]
    assert len(curves["episode/length"]["values"]) > 0 and "disc/logit_reference" in curves
    assert main(["report", "--results", str(results)]) == 0
    readme = (results / "README.md").read_text()
    assert "phase2" in readme and "learning curves" in readme
    assert list((results / "plots").glob("phase2__mjx__smoke__*__learning.png"))


def test_collected_torque_clips_train_a_torque_card(smoke_run, workspace):
    for skill, name in (("walk", "recorded/phase1_walk"), ("run", "recorded/phase1_run")):
        # the smoke policy falls within a second, so nothing is left out after the reset here
        args = ["collect", str(smoke_run), "--name", name, "--envs", "4", "--seconds", "2", "--skill", skill]
        assert main([*args, "--skip-seconds", "0"]) == 0
        episodes = sorted((workspace / "clips" / name).glob("env*.npz"))
        assert episodes, "one clip per recorded episode"
        for path in episodes:
            clip = load_clip(path)
            assert clip.joint_torques is not None and clip.joint_torques.shape[1] == 28
            assert clip.action_noise == "noisy_policy"
        assert (smoke_run / "recordings" / name / "torques.png").stat().st_size > 0
    card = str(ROOT / "benchmarks/torque_full.yaml")
    args = ["train", card, "--smoke", "--backend", "mjx", "--runs", str(workspace / "runs")]
    args += ["--set", "training.steps=2048"]
    assert main(args) == 0
    (run_dir,) = (workspace / "runs" / "torque_full" / "mjx").iterdir()
    assert latest_checkpoint(run_dir).is_file()


def test_mujoco_c_trains_and_scores_and_plays_the_mjx_policy(smoke_run, workspace):
    """The same card on `--backend mujoco`, then the MJX-trained policy scored on MuJoCo C: the
    off-diagonal of the trained-on x scored-on matrix."""
    from ampbench.report.compare import transfer_matrix

    card, results = str(ROOT / "benchmarks/phase2.yaml"), workspace / "matrix"
    assert main(["train", card, "--smoke", "--backend", "mujoco", "--runs", str(workspace / "runs")]) == 0
    (mujoco_run,) = (workspace / "runs" / "phase2" / "mujoco").iterdir()
    assert latest_checkpoint(mujoco_run).name == "ckpt_000032.msgpack"
    assert main(["score", str(mujoco_run), "--smoke", "--results", str(results)]) == 0
    if os.environ.get("MUJOCO_GL") in ("osmesa", "egl"):  # score renders the policy beside its clip
        videos = results / "phase2" / "mujoco" / mujoco_run.name
        assert {"unpushed.mp4", "unpushed.png", "push.mp4", "push.png"} <= {p.name for p in videos.iterdir()}
    score = ["score", str(smoke_run), "--smoke", "--on", "mujoco", "--no-render", "--results", str(results)]
    assert main(score) == 0
    transferred = load_scores(results / "phase2" / "mjx" / smoke_run.name / "on-mujoco" / "scores.json")
    assert (transferred["backend"], transferred["scored_on"]) == ("mjx", "mujoco")
    assert transferred["provenance"]["device"].startswith("cpu:")
    rows = {line.split("|")[2].strip(): line for line in transfer_matrix(results).splitlines()[4:]}
    assert set(rows) == {"mjx", "mujoco"}
    once = "(1 run, over episodes)"
    assert rows["mjx"].count(once) == 1 and rows["mujoco"].count(once) == 1


def test_a_rescore_keeps_the_runs_card_hash_after_a_card_field_was_added(smoke_run, workspace):
    """A run folder from before a schema field existed: its card loads with the field's default (a new
    content hash), but its score file keeps the run's own hash, so report keeps it in its version's group."""
    older = workspace / "older" / "phase2" / "mjx" / smoke_run.name
    shutil.copytree(smoke_run, older)
    card_data = json.loads((older / "card.json").read_text())
    del card_data["simulator"]["max_velocity"]
    provenance = json.loads((older / "provenance.json").read_text())
    provenance["card_hash"] = data_hash(card_data)
    (older / "card.json").write_text(json.dumps(card_data))
    (older / "provenance.json").write_text(json.dumps(provenance))
    results = workspace / "older-results"
    score = ["score", str(older), "--smoke", "--on", "mujoco", "--no-render", "--results", str(results)]
    assert main(score) == 0
    document = load_scores(results / "phase2" / "mjx" / older.name / "on-mujoco" / "scores.json")
    assert document["card_hash"] == document["provenance"]["card_hash"] == data_hash(card_data)
    assert data_hash(card_data) != load_run(older)[0].content_hash()
