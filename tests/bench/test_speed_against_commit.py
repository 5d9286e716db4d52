"""Training speed of this checkout against an older commit's, measured in one run (pytest-benchmark).

Run: `pytest tests/bench/test_speed_against_commit.py --benchmark-enable -m bench` (not part of CI: each
process compiles its update for one to four minutes on 2 cores). The older commit (default 9bd122d,
`$AMPBENCH_BASELINE_COMMIT` to change it) is checked out into a temporary git worktree; `update_speed.py`
then times whole training updates of the phase-2 card at 256 envs in fresh processes, old and new
alternated (old, new, old, new), so both see the same machine load. The ratio of the mean rates is
recorded in extra_info: the figure to quote, since absolute rates swing with the load of a shared CPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.bench
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("update_speed.py")
BASELINE = os.environ.get("AMPBENCH_BASELINE_COMMIT", "9bd122d")
ENVS = 256


def _measure(checkout: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{checkout / 'src'}:{checkout}"}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--envs", str(ENVS), "--updates", "3"],
        cwd=checkout,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    checkout = tmp_path_factory.mktemp("baseline") / BASELINE
    subprocess.run(["git", "worktree", "add", "--detach", str(checkout), BASELINE], cwd=ROOT, check=True)
    yield checkout
    subprocess.run(["git", "worktree", "remove", "--force", str(checkout)], cwd=ROOT, check=True)


def test_training_update_against_the_baseline_commit(benchmark, baseline):
    runs = {"baseline": [], "this": []}

    def alternate():
        for _ in range(2):
            runs["baseline"].append(_measure(baseline))
            runs["this"].append(_measure(ROOT))

    benchmark.pedantic(alternate, rounds=1, iterations=1)
    rates = {name: [run["env_steps_per_s"] for run in measured] for name, measured in runs.items()}
    mean = {name: sum(values) / len(values) for name, values in rates.items()}
    benchmark.extra_info.update(
        {
            "baseline_commit": BASELINE,
            "envs": ENVS,
            "env_steps_per_s": rates,
            "first_update_s": {
                name: [run["first_update_s"] for run in measured] for name, measured in runs.items()
            },
            "ratio": mean["this"] / mean["baseline"],
        }
    )
