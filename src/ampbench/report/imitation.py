"""Imitation run by run: each trained run's imitation distance with its interval over evaluation episodes,
beside its discriminator's logits on policy samples over the last part of training (mean and spread), so a
card's runs can be read against its controls (style weight 0) seed by seed. The headline table pools a
card's seeds; whether every AMP seed sits below every control seed, with intervals apart, needs the seeds
one by one."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ampbench.report.groups import (
    DASH,
    FULL_BUDGET,
    RunGroup,
    imitation_distance,
    markdown_table,
    tracking_mean,
)
from ampbench.scoring.score_files import learning_curves_beside

POLICY_LOGIT, POLICY_LOGIT_SPREAD = "disc/logit_policy", "disc/logit_policy_std"
LAST_SHARE = 0.1
"""The share of training, by env steps, over which the logits are averaged: the discriminator as training
left it, not one noisy last update."""

_COLUMNS = (
    "card", "backend", "run", "seed", "env steps", "imitation distance (95% CI, over episodes)",
    f"policy logit, last {LAST_SHARE:.0%} of training: mean", "spread (std)", "median episode s",
    "tracking error (m/s)",
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


def _logit_texts(curves_path: Path) -> list[str]:
    """The last-share mean of the policy logit and of its spread; a dash where a run's curves do not have
    it (runs trained before the spread was logged, runs without committed curves)."""
    curves = json.loads(curves_path.read_text())["curves"] if curves_path.is_file() else {}
    tags = (POLICY_LOGIT, POLICY_LOGIT_SPREAD)
    means = [last_share_mean(curves[tag]) if tag in curves else None for tag in tags]
    return [DASH if mean is None else f"{mean:.2f}" for mean in means]


def _distance_text(doc: dict[str, Any]) -> str:
    distance = imitation_distance(doc)
    return f"{distance['point']:,.1f} [{distance['low']:,.1f}, {distance['high']:,.1f}]"


def _run_row(group: RunGroup, doc: dict[str, Any], results_root: Path) -> list[str]:
    seed = doc["provenance"].get("training", {}).get("seed")
    env_steps = (doc.get("budget") or {}).get("env_steps")
    tracking = tracking_mean(doc)
    return [
        group.label,
        group.backend,
        doc["run_id"],
        DASH if seed is None else str(seed),
        DASH if env_steps is None else f"{env_steps / 1e6:.1f}M",
        _distance_text(doc),
        *_logit_texts(learning_curves_beside(results_root, doc)),
        f"{doc['episode_seconds']['median']:.1f}",
        DASH if tracking is None else f"{tracking['point']:.3f}",
    ]


def imitation_section(groups: Sequence[RunGroup], results_root: Path) -> list[str]:
    """The section's lines: what it shows, then a row per full-budget run whose score file has an imitation
    distance, by card and version (smoke and short runs are left out: they say nothing of imitation)."""
    rows = [
        _run_row(group, doc, results_root)
        for group in groups
        if group.budget == FULL_BUDGET
        for doc in sorted(group.docs, key=lambda d: d["run_id"])
        if imitation_distance(doc)
    ]
    intro = (
        "Each run's imitation distance (the Fréchet distance of its AMP features from the clips', as in the"
        " headline) with its own interval over evaluation episodes, and its discriminator's logits on"
        f" policy samples over the last {LAST_SHARE:.0%} of training (from its learning curves): their"
        " mean, and their spread over each update's policy samples. A mean far below zero says the"
        " discriminator tells policy from clip; a spread of several logits says its style reward still"
        " ranks the policy's states, and one near zero that it pays every state alike. Read a card's runs"
        " against its controls (style weight 0, e.g. a `task_only` overlay): two runs differ beyond"
        " evaluation noise where their intervals do not overlap; the headline's interval over runs says"
        " how far seeds spread.\n"
    )
    if not rows:
        return [intro, "No full-budget run has an imitation distance yet.\n"]
    return [intro, *markdown_table(_COLUMNS, rows)]
