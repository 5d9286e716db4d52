"""Training speed of this checkout against an older commit's, measured under the same load
(pytest-benchmark).

Run: `pytest tests/bench/test_speed_against_commit.py --benchmark-enable -m bench` (not part of CI: each
worker compiles its update for one to four minutes on 2 cores). The older commit (default 9bd122d,
`$AMPBENCH_BASELINE_COMMIT` to change it) is checked out into a temporary git worktree. One
`tools/update_speed.py --serve` worker per checkout compiles the phase-2 card's update at 256 envs, then the
driver asks them for one update at a time, in turn, for `ROUNDS` rounds: both see the same machine load
within seconds, which back-to-back processes on a shared CPU do not (their rates swung 3x here). This checkout
runs twice, on MJX and on MuJoCo C; the ratios of mean update times are recorded in extra_info.

The second test times MuJoCo C updates at 256, 1,024 and 4,096 envs in this checkout against a commit
before the reference draws were cut to the bodies the features read and batched (default 1c55679,
`$AMPBENCH_SCALING_COMMIT` to change it), alternating the same way: whether throughput holds as envs grow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "update_speed.py"
BASELINE = os.environ.get("AMPBENCH_BASELINE_COMMIT", "9bd122d")
SCALING_BASELINE = os.environ.get("AMPBENCH_SCALING_COMMIT", "1c55679")
ENVS = 256
ROUNDS = 6


def alternate(
    workers: dict[str, tuple[Path, tuple[str, ...]]], rounds: int = ROUNDS, envs: int = ENVS
) -> dict[str, dict]:
    """Start one serving worker per (checkout, extra arguments), then time `rounds` updates of each in
    turn; per worker its first (compiling) update and every timed update's seconds."""
    started = {}
    for name, (checkout, extra) in workers.items():
        started[name] = subprocess.Popen(
            [sys.executable, str(SCRIPT), "--envs", str(envs), "--serve", *extra],
            cwd=checkout,
            env={**os.environ, "PYTHONPATH": f"{checkout / 'src'}:{checkout}"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
    results = {name: {"seconds": []} for name in workers}
    try:
        for name, worker in started.items():
            results[name].update(_reply(worker))
        for _ in range(rounds):
            for name, worker in started.items():
                worker.stdin.write("update\n")
                worker.stdin.flush()
                results[name]["seconds"].append(_reply(worker)["seconds"])
    finally:
        for worker in started.values():
            worker.stdin.close()
            worker.wait(timeout=60)
    for result in results.values():
        result["env_steps_per_s"] = (
            result["env_steps_per_update"] * len(result["seconds"]) / sum(result["seconds"])
        )
    return results


def _reply(worker: subprocess.Popen) -> dict:
    for line in worker.stdout:
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"update_speed.py worker ended with code {worker.wait()} before replying")


def worktree(tmp_path_factory, commit: str):
    checkout = tmp_path_factory.mktemp("baseline") / commit
    subprocess.run(["git", "worktree", "add", "--detach", str(checkout), commit], cwd=ROOT, check=True)
    yield checkout
    subprocess.run(["git", "worktree", "remove", "--force", str(checkout)], cwd=ROOT, check=True)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    yield from worktree(tmp_path_factory, BASELINE)


@pytest.fixture(scope="module")
def scaling_baseline(tmp_path_factory) -> Path:
    yield from worktree(tmp_path_factory, SCALING_BASELINE)


def test_training_update_against_the_baseline_commit(benchmark, baseline):
    """The baseline commit (MJX, its only backend) against this checkout on MJX and on MuJoCo C, the
    default on a machine without a GPU; `ratio_<worker>` is the baseline's mean update time over it."""
    measured = {}
    workers = {
        "baseline": (baseline, ()),
        "this": (ROOT, ()),
        "this_mujoco": (ROOT, ("--backend", "mujoco")),
    }

    def run():
        measured.update(alternate(workers))

    benchmark.pedantic(run, rounds=1, iterations=1)
    mean = {name: sum(r["seconds"]) / len(r["seconds"]) for name, r in measured.items()}
    ratios = {f"ratio_{name}": mean["baseline"] / mean[name] for name in workers if name != "baseline"}
    benchmark.extra_info.update({"baseline_commit": BASELINE, "envs": ENVS, **measured, **ratios})


@pytest.mark.parametrize("envs", [256, 1024, 4096])
def test_mujoco_update_across_env_counts_against_the_scaling_commit(benchmark, scaling_baseline, envs):
    """MuJoCo C updates of the phase-2 card at `envs`, this checkout against the scaling commit; compare
    `env_steps_per_s` across the three env counts (one pytest run, so one machine load) and `ratio_this`."""
    measured = {}
    mujoco = ("--backend", "mujoco")
    workers = {"baseline": (scaling_baseline, mujoco), "this": (ROOT, mujoco)}

    def run():
        measured.update(alternate(workers, rounds=4, envs=envs))

    benchmark.pedantic(run, rounds=1, iterations=1)
    mean = {name: sum(r["seconds"]) / len(r["seconds"]) for name, r in measured.items()}
    benchmark.extra_info.update(
        {
            "baseline_commit": SCALING_BASELINE,
            "envs": envs,
            **measured,
            "ratio_this": mean["baseline"] / mean["this"],
        }
    )
