"""Imitation run by run: each trained run's imitation distance with its interval over evaluation episodes,
beside the discriminator's mean policy logit over the last tenth of its training, so a card's runs can be
read against its controls (style weight 0) seed by seed. The headline table pools a card's seeds; whether
every AMP seed sits below every control seed, with intervals apart, needs the seeds one by one."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ampbench.report.groups import DASH, FULL_BUDGET, RunGroup, markdown_table
from ampbench.scoring.score_files import LEARNING_CURVES

POLICY_LOGIT = "disc/logit_policy"
LAST_SHARE = 0.1
"""The share of training, by env steps, over which the logit is averaged: the discriminator as training
left it, not one noisy last update."""

_COLUMNS = (
    "card", "backend", "run", "seed", "env steps", "imitation distance (95% CI, over episodes)",
    f"policy logit, last {LAST_SHARE:.0%} of training", "median episode s", "tracking error (m/s)",
)  # fmt: skip


def last_share_mean(curve: dict[str, list[float]], share: float = LAST_SHARE) -> float | None:
    """The mean of a learning curve over the last `share` of its env steps, each logged point counted
    once (a binned point stands for the `logged` points it averages)."""
    steps = np.asarray(curve["env_steps"], dtype=float)
    if steps.size == 0:
        return None
    values = np.asarray(curve["values"], dtype=float)
    weights = np.asarray(curve.get("logged", np.ones_like(values)), dtype=float)
    last = steps >= (1.0 - share) * steps[-1]
    return float(np.average(values[last], weights=weights[last]))


def _logit_text(curves_path: Path) -> str:
    if not curves_path.is_file():
        return DASH
    curve = json.loads(curves_path.read_text())["curves"].get(POLICY_LOGIT)
    mean = last_share_mean(curve) if curve else None
    return DASH if mean is None else f"{mean:.2f}"


def _distance_text(doc: dict[str, Any]) -> str:
    distance = doc["imitation_distance"]
    return f"{distance['point']:,.1f} [{distance['low']:,.1f}, {distance['high']:,.1f}]"


def _run_row(group: RunGroup, doc: dict[str, Any], results_root: Path) -> list[str]:
    training = doc["provenance"].get("training", {})
    budget = doc.get("budget") or {}
    tracking = doc["tracking_error"]["mean"] if doc["tracking_error"] else None
    run_dir = results_root / doc["card"] / doc["backend"] / doc["run_id"]
    return [
        group.label,
        group.backend,
        doc["run_id"],
        str(training.get("seed", DASH)),
        f"{budget['env_steps'] / 1e6:.1f}M" if budget.get("env_steps") else DASH,
        _distance_text(doc),
        _logit_text(run_dir / LEARNING_CURVES),
        f"{doc['episode_seconds']['median']:.1f}",
        DASH if tracking is None else f"{tracking['point']:.3f}",
    ]


def imitation_section(groups: Sequence[RunGroup], results_root: Path) -> list[str]:
    """A row per full-budget run whose score file has an imitation distance, by card and version."""
    rows = [
        _run_row(group, doc, Path(results_root))
        for group in groups
        if group.budget == FULL_BUDGET
        for doc in sorted(group.docs, key=lambda d: d["run_id"])
        if doc.get("imitation_distance")
    ]
    if not rows:
        return ["No full-budget run has an imitation distance yet.\n"]
    return markdown_table(_COLUMNS, rows)
