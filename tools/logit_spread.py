"""How a run's last discriminator scores its own recent policy samples: the logits over the AMP replay
memory of its newest checkpoint (the policy samples of the last `replay_updates` updates). Prints one JSON
line per run folder:

    .venv/bin/python tools/logit_spread.py RUN_DIR [RUN_DIR ...]

The mean policy logit says how far the discriminator has pushed policy samples away; the spread says
whether its style reward can still rank one policy state above another. A discriminator can hold a mean
near -4 with every policy sample at nearly the same logit: then the style reward teaches nothing about
the clip (docs/training.md). Training logs the spread of each minibatch as `disc/logit_policy_std`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np

from ampbench.core.runs import latest_checkpoint
from ampbench.learning.amp import AmpState, discriminator_input
from ampbench.learning.checkpoint import read_checkpoint
from ampbench.learning.networks import discriminator_logits
from ampbench.learning.normalizer import RunningStats
from ampbench.pipeline.runs import load_run
from ampbench.task.rewards import style_reward

QUANTILES = (5, 25, 50, 75, 95)


def replay_logit_spread(run_dir: Path) -> dict[str, Any]:
    card, _ = load_run(run_dir)
    checkpoint = latest_checkpoint(run_dir)
    amp = read_checkpoint(checkpoint)["state"]["amp"]
    state = AmpState(
        discriminator=amp["discriminator"],
        opt_state=None,
        amp_stats=RunningStats(**{name: jnp.asarray(value) for name, value in amp["amp_stats"].items()}),
        replay=None,
        feature_weights=jnp.asarray(amp["feature_weights"]),
    )
    rows = np.asarray(amp["replay"]["data"])[: int(amp["replay"]["filled"])]
    inputs = discriminator_input(state, jnp.asarray(rows), card.ppo.observation_clip)
    logits = np.asarray(discriminator_logits(state.discriminator, card.amp, inputs)).ravel()
    reward = np.asarray(style_reward(jnp.asarray(logits), card.amp.style_reward))
    return {
        "run": str(run_dir),
        "checkpoint": checkpoint.name,
        "policy_samples": len(rows),
        "logit_mean": float(logits.mean()),
        "logit_std": float(logits.std()),
        "logit_quantiles": dict(
            zip(map(str, QUANTILES), np.percentile(logits, QUANTILES).tolist(), strict=True)
        ),
        "share_above_minus_4": float(np.mean(logits > -4.0)),
        "style_reward_mean": float(reward.mean()),
        "style_reward_std": float(reward.std()),
    }


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for run in sys.argv[1:]:
        print(json.dumps(replay_logit_spread(Path(run))))
