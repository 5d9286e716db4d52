"""`ampbench reproduce --launcher slurm` against a real SLURM (tools/slurm-single-node.sh starts one on
this machine; .ci/run does): the phase-2 smoke card with two seeds on MuJoCo C, one training preempted by
a signal mid-run, requeued and resumed to the checkpoint an uninterrupted run ends on, both seeds scored
and the report rendered by the last job; with the jobs in the submitting venv, and in the project's image
under podman (`--container podman --image ...`).

Without a cluster the test is skipped, unless $AMPBENCH_REQUIRE_SLURM is set (CI sets it), then it fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ampbench.pipeline.slurm import LIVE_STATES, slurm_states

REPO = Path(__file__).resolve().parents[3]
IMAGE_ENV = "AMPBENCH_SLURM_IMAGE"


def cluster_problem() -> str | None:
    if shutil.which("sinfo") is None:
        return "no SLURM here (sinfo not found); tools/slurm-single-node.sh starts a one-node cluster"
    answer = subprocess.run(["sinfo", "--noheader", "--responding"], capture_output=True, text=True)
    if answer.returncode != 0 or not answer.stdout.strip():
        return f"SLURM does not answer (sinfo: {answer.stderr.strip() or 'no responding node'})"
    return None


@pytest.fixture
def cluster() -> None:
    problem = cluster_problem()
    if problem and os.environ.get("AMPBENCH_REQUIRE_SLURM"):
        pytest.fail(problem)
    if problem:
        pytest.skip(problem)


def ampbench(*args: str, cwd: Path, clips: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "AMPBENCH_DATA": str(clips)}
    return subprocess.run(
        [sys.executable, "-m", "ampbench.cli", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def phase2_two_seeds(cards: Path) -> None:
    """The phase-2 card and the shared overlays, the smoke overlay training seeds 0 and 1."""
    shutil.copy(REPO / "benchmarks" / "phase2.yaml", cards / "phase2.yaml")
    shutil.copytree(REPO / "benchmarks" / "overlays", cards / "overlays")
    smoke = cards / "overlays" / "smoke.yaml"
    patch = yaml.safe_load(smoke.read_text())
    patch["training.seeds"] = [0, 1]
    smoke.write_text(yaml.safe_dump(patch))


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


def job_field(job_id: str, name: str) -> str | None:
    shown = subprocess.run(["scontrol", "show", "job", "--oneliner", job_id], capture_output=True, text=True)
    for item in shown.stdout.split():
        key, _, value = item.partition("=")
        if key == name:
            return value
    return None


def live_jobs(job_ids: list[str]) -> list[str]:
    states = slurm_states(job_ids)
    return [job_id for job_id in job_ids if states.get(job_id) in LIVE_STATES]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(params=["venv", "podman"])
def job_place(request) -> list[str]:
    """Where the jobs run: the submitting venv, or the project's image under podman (the image named by
    $AMPBENCH_SLURM_IMAGE, which .ci/run sets to the image it built; skipped without one)."""
    if request.param == "venv":
        return []
    image = os.environ.get(IMAGE_ENV)
    if not image:
        pytest.skip(f"no image to run the jobs in: set ${IMAGE_ENV} to a built image (`nox -s build`)")
    return ["--container", request.param, "--image", image]


def test_phase_on_slurm_preempted_training_resumes_to_the_uninterrupted_checkpoint(
    cluster, job_place, tmp_path, deepmimic_clips
):
    cards = tmp_path / "cards"
    cards.mkdir()
    phase2_two_seeds(cards)
    folders = ["--cards", "cards", "--runs", "runs", "--results", "results"]
    phase = ["phase2", "--smoke", "--backend", "mujoco"]

    submitted = ampbench(
        "reproduce", *phase, "--launcher", "slurm", *job_place, *folders, cwd=tmp_path, clips=deepmimic_clips
    )
    assert submitted.returncode == 0, submitted.stderr
    recorded = json.loads((tmp_path / "runs" / ".slurm" / "phase2-smoke.json").read_text())
    job_ids = [job_id for jobs in recorded.values() for job_id in jobs.values()]
    preempted = recorded["phase2/mujoco/seed1"]["train"]

    # Signal the seed-1 training once it has written its first checkpoint, as SLURM does before preempting.
    run_folder = tmp_path / "runs" / "phase2" / "mujoco"
    wait_for(lambda: list(run_folder.glob("*-seed1/checkpoints/latest")), 180, "seed 1's first checkpoint")
    subprocess.run(["scancel", "--signal=USR1", preempted], check=True)
    wait_for(lambda: job_field(preempted, "Restarts") == "1", 60, "the training job to be requeued")

    wait_for(lambda: not live_jobs(job_ids), 900, f"jobs {job_ids} to end")
    logs = tmp_path / "runs" / ".slurm" / "logs" / preempted
    log = "".join(path.read_text() for path in sorted(logs.glob("*_log.*")))  # submitit: .out, ampbench: .err
    assert "SIGUSR1 received: stopping after this update with a checkpoint" in log
    assert f"Requeued job {preempted}" in log

    scores = sorted((tmp_path / "results" / "phase2" / "mujoco").glob("*/scores.json"))
    # Folders are named <start time>-seed<n>: either job may start first.
    assert sorted(path.parent.name.rpartition("-")[2] for path in scores) == ["seed0", "seed1"]
    if job_place:  # trained and scored in the image, and the score file says which
        provenance = json.loads(scores[0].read_text())["provenance"]
        assert provenance["container"]["image"] == job_place[-1], provenance["container"]
        assert provenance["training"]["container"]["in_container"], provenance["training"]
    readme = (tmp_path / "results" / "README.md").read_text()
    assert "Interquartile mean over runs" in readme

    status = ampbench("reproduce", *phase, *folders, "--status", cwd=tmp_path, clips=deepmimic_clips)
    assert status.returncode == 0, status.stderr
    rows = [line for line in status.stdout.splitlines() if line.startswith("phase2/")]
    assert len(rows) == 2 and all(" finished " in row and " yes " in row for row in rows), status.stdout

    again = ampbench(
        "reproduce", *phase, "--launcher", "slurm", *job_place, *folders, cwd=tmp_path, clips=deepmimic_clips
    )
    assert "nothing to submit, all 2 trained and scored" in again.stdout, again.stdout + again.stderr

    uninterrupted = ampbench(
        "train",
        "cards/phase2.yaml",
        "--smoke",
        "--backend",
        "mujoco",
        "--seed",
        "1",
        "--runs",
        "ref",
        cwd=tmp_path,
        clips=deepmimic_clips,
    )
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    (resumed,) = run_folder.glob("*-seed1/checkpoints")
    (reference,) = (tmp_path / "ref" / "phase2" / "mujoco").glob("*-seed1/checkpoints")
    final = (reference / "latest").read_text().strip()
    assert (resumed / "latest").read_text().strip() == final
    assert sha256(resumed / final) == sha256(reference / final)
