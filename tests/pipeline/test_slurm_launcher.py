"""The slurm launcher without a cluster: its settings (a launcher file under the command line, strict, with
errors naming the file and key), what a second submission leaves out, and the commands its jobs run."""

from pathlib import Path

import pytest

from ampbench.cards import load_card
from ampbench.pipeline import slurm
from ampbench.pipeline.reproduce import Job

CARD = Path("benchmarks/phase2.yaml")


def test_launcher_file_gives_settings_and_the_command_line_wins(tmp_path):
    path = tmp_path / "cluster.yaml"
    path.write_text("partition: gpu\ngpus_per_job: 1\ntime_minutes: 120\nsbatch: {qos: high}\n")
    settings = slurm.load_settings(path, {"time_minutes": 30, "account": None, "sbatch": {}})
    assert (settings.partition, settings.gpus_per_job, settings.time_minutes) == ("gpu", 1, 30)
    assert settings.sbatch == {"qos": "high"} and settings.account is None


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("partiton: gpu\n", "partiton"),
        ("gpus_per_job: one\n", "gpus_per_job"),
        ("cpus_per_job: 0\n", "cpus_per_job"),
        ("container: {engine: singularity, image: x}\n", "container.engine"),
        ("- partition\n", "a mapping"),
    ],
)
def test_a_bad_launcher_file_is_refused_naming_file_and_key(tmp_path, text, key):
    path = tmp_path / "cluster.yaml"
    path.write_text(text)
    with pytest.raises(slurm.LauncherError, match=rf"{path}.*{key}"):
        slurm.load_settings(path, {})


def _row(run, scored, jobs):
    job = Job(CARD, load_card(CARD, overlays=("smoke",)), "mujoco", 0)
    return slurm.Progress(job, None, run, scored, jobs)


def test_a_second_submission_sends_only_what_is_neither_done_nor_queued():
    done = _row("finished", True, {"train": "1", "score": "2"})
    queued = _row("started", False, {"train": "3", "score": "4"})
    waiting_score = _row("finished", False, {"score": "5"})
    failed = _row("started", False, {"train": "6", "score": "7"})
    never = _row("new", False, {})
    states = {"3": "RUNNING", "4": "PENDING", "5": "PENDING", "6": "FAILED"}
    rows = [done, queued, waiting_score, failed, never]
    assert slurm.missing(rows, states) == [failed, never]


def test_jobs_run_ampbench_in_this_venv_with_the_host_folders(tmp_path):
    place = slurm.Place(tmp_path / "cards", tmp_path / "runs", tmp_path / "results")
    command = place.command(["score", place.run(tmp_path / "runs" / "a" / "b"), "--results", place.results])
    assert command[1:3] == ["-m", "ampbench.cli"]
    assert command[3:] == [
        "score",
        str(tmp_path / "runs" / "a" / "b"),
        "--results",
        str(tmp_path / "results"),
    ]


def test_in_a_container_jobs_name_the_mounted_folders(tmp_path, monkeypatch):
    place = slurm.Place(
        tmp_path / "cards",
        tmp_path / "runs",
        tmp_path / "results",
        slurm.ContainerSettings(engine="podman", image="ampbench-mjx:test"),
    )
    assert place.card(tmp_path / "cards" / "phase2.yaml") == "/opt/ampbench/benchmarks/phase2.yaml"
    assert place.run(tmp_path / "runs" / "phase2" / "mujoco" / "x") == "/opt/ampbench/runs/phase2/mujoco/x"
    monkeypatch.chdir(tmp_path)  # `reproduce --cards cards --runs runs`: the jobs' paths are relative
    assert place.card(Path("cards/phase2.yaml")) == "/opt/ampbench/benchmarks/phase2.yaml"
    assert place.run(Path("runs/phase2/mujoco/x")) == "/opt/ampbench/runs/phase2/mujoco/x"
    assert (place.runs, place.results) == ("/opt/ampbench/runs", "/opt/ampbench/results")


def test_an_image_without_its_engine_is_refused_before_anything_is_submitted(capsys):
    from ampbench.cli import main

    assert main(["reproduce", "phase2", "--smoke", "--launcher", "slurm", "--image", "ampbench-mjx:x"]) == 2
    assert "--container ENGINE and --image IMAGE go together" in capsys.readouterr().err
