"""`tools/logit_spread.py` reads a run folder's newest checkpoint: each replayed policy sample once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ampbench.core.runs import latest_checkpoint
from ampbench.learning.checkpoint import read_checkpoint

pytestmark = pytest.mark.unit

TOOL = Path(__file__).parents[2] / "tools" / "logit_spread.py"


def test_logit_spread_scores_the_newest_checkpoints_replay_memory(point_mass_run):
    run_dir = point_mass_run
    out = subprocess.run(
        [sys.executable, str(TOOL), str(run_dir)], capture_output=True, text=True, check=True
    )
    (line,) = out.stdout.splitlines()
    spread = json.loads(line)
    replay = read_checkpoint(latest_checkpoint(run_dir))["state"]["amp"]["replay"]
    assert spread["checkpoint"] == latest_checkpoint(run_dir).name
    assert spread["policy_samples"] == int(replay["filled"]) > 0
    quantiles = list(spread["logit_quantiles"].values())
    assert quantiles == sorted(quantiles) and quantiles[0] < quantiles[-1]
    assert spread["logit_std"] > 0 and np.isfinite(spread["logit_mean"])
    assert 0 <= spread["share_above_minus_4"] <= 1 and spread["style_reward_std"] > 0
