"""A scheduler's stop signal (SIGTERM at a time limit or session end) stops `ampbench train` after the
update in flight with a checkpoint, exit code 128 + 15; `--resume` then ends on the checkpoint an
uninterrupted run ends on, byte for byte (MuJoCo C resumes exactly), and a second `--resume` of the same
folder meanwhile is refused, naming the first."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ampbench.core.curves import read_scalars

REPO = Path(__file__).resolve().parents[3]
TRAIN = ["train", str(REPO / "benchmarks" / "phase2.yaml"), "--smoke", "--backend", "mujoco", "--seed", "0"]


def ampbench(*args: str) -> list[str]:
    return [sys.executable, "-m", "ampbench.cli", *args]


def test_sigterm_checkpoints_and_one_resume_at_a_time_ends_as_an_uninterrupted_run(tmp_path, deepmimic_clips):
    env = {**os.environ, "AMPBENCH_DATA": str(deepmimic_clips)}
    training = subprocess.Popen(
        ampbench(*TRAIN, "--runs", str(tmp_path / "stopped")), env=env, stderr=subprocess.PIPE, text=True
    )
    runs = tmp_path / "stopped" / "phase2" / "mujoco"
    deadline = time.monotonic() + 180
    while not list(runs.glob("*/checkpoints/latest")) and time.monotonic() < deadline:
        assert training.poll() is None, training.stderr.read()
        time.sleep(0.1)
    training.send_signal(signal.SIGTERM)
    _, stderr = training.communicate(timeout=120)
    assert training.returncode == 128 + signal.SIGTERM, stderr
    assert "SIGTERM received: stopping after this update with a checkpoint" in stderr
    (run_dir,) = runs.iterdir()
    stopped_at = (run_dir / "checkpoints" / "latest").read_text().strip()
    assert stopped_at != "ckpt_000032.msgpack", "the signal came after training ended; nothing was tested"

    resumed = subprocess.Popen(
        ampbench("train", "--resume", str(run_dir)), env=env, stderr=subprocess.PIPE, text=True
    )
    while f"pid {resumed.pid} " not in (run_dir / ".lock").read_text() and time.monotonic() < deadline + 180:
        assert resumed.poll() is None, resumed.stderr.read()
        time.sleep(0.1)
    resumed.send_signal(signal.SIGSTOP)  # the first resume holds the folder for as long as the second takes
    try:
        second = subprocess.run(
            ampbench("train", "--resume", str(run_dir)), env=env, capture_output=True, text=True
        )
    finally:
        resumed.send_signal(signal.SIGCONT)
    assert second.returncode == 2, second.stderr
    assert f"is in use by pid {resumed.pid} on " in second.stderr
    _, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr
    steps, _ = read_scalars(run_dir)["episode/length"]
    assert np.all(np.diff(steps) > 0), "the curves of the two resumes overlap"
    reference = subprocess.run(
        ampbench(*TRAIN, "--runs", str(tmp_path / "reference")), env=env, capture_output=True, text=True
    )
    assert reference.returncode == 0, reference.stderr
    (reference_dir,) = (tmp_path / "reference" / "phase2" / "mujoco").iterdir()
    final = (reference_dir / "checkpoints" / "latest").read_text().strip()
    assert (run_dir / "checkpoints" / "latest").read_text().strip() == final
    digest = [
        hashlib.sha256((d / "checkpoints" / final).read_bytes()).hexdigest() for d in (run_dir, reference_dir)
    ]
    assert digest[0] == digest[1]
