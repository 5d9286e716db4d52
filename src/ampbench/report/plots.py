"""Plots from score files and clips: push success vs impulse, survival, learning curves, torque profiles.

Plots use matplotlib's `Figure` directly (Agg canvas), so no global pyplot state or display is involved.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ampbench.motion.clip_files import load_clip
from ampbench.report.groups import FULL_BUDGET, RunGroup
from ampbench.scoring.score_files import learning_curves_beside


def _pooled_success(docs: Sequence[dict[str, Any]]) -> dict[tuple[str, float], list[tuple[float, float]]]:
    """(body, duration) -> [(impulse, success rate)] pooled over azimuths and runs, weighted by n."""
    counts: dict[tuple[str, float, float], list[float]] = {}
    for doc in docs:
        for cell in doc["push_cells"]:
            if cell["n"] and cell["success"]["point"] is not None:
                tally = counts.setdefault((cell["body"], cell["duration"], cell["impulse"]), [0.0, 0.0])
                tally[0] += cell["success"]["point"] * cell["n"]
                tally[1] += cell["n"]
    lines: dict[tuple[str, float], list[tuple[float, float]]] = {}
    for (body, duration, impulse), (successes, n) in sorted(counts.items()):
        lines.setdefault((body, duration), []).append((impulse, successes / n))
    return lines


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path


def plot_push_success(group: RunGroup, out_png: Path) -> Path | None:
    """Success rate vs impulse, one line per body and duration; None when the runs have no pushes."""
    lines = _pooled_success(group.docs)
    if not lines:
        return None
    figure = Figure(figsize=(6, 4))
    axes = figure.add_subplot()
    for (body, duration), points in lines.items():
        impulse, success = zip(*points, strict=True)
        axes.plot(impulse, success, marker="o", label=f"{body}, {duration:g} s")
    axes.set(
        xlabel="impulse (N·s)",
        ylabel="success rate",
        ylim=(-0.02, 1.02),
        title=f"{group.label} ({group.backend})",
    )
    axes.legend(fontsize="small")
    return _save(figure, out_png)


def plot_survival(group: RunGroup, out_png: Path) -> Path:
    """Kaplan-Meier survival of unpushed episodes, one step curve per run."""
    figure = Figure(figsize=(6, 4))
    axes = figure.add_subplot()
    for doc in group.docs:
        km = doc["episode_seconds"]["km"]
        axes.step(km["times"], km["survival"], where="post", label=doc["run_id"])
    axes.set(
        xlabel="time (s)", ylabel="survival", ylim=(-0.02, 1.02), title=f"{group.label} ({group.backend})"
    )
    axes.legend(fontsize="small")
    return _save(figure, out_png)


def plot_links(groups: Sequence[RunGroup], plots_dir: Path, results_root: Path) -> list[str]:
    """Draw each group's plots into `plots_dir` and return the README's markdown lines linking them."""
    links = []
    for g in groups:
        stem = g.stem
        survival = plot_survival(g, plots_dir / f"{stem}__survival.png")
        parts = [f"[survival](plots/{survival.name})"]
        push = plot_push_success(g, plots_dir / f"{stem}__push_success.png")
        if push is not None:
            parts.append(f"[push success vs impulse](plots/{push.name})")
        for doc in g.docs:
            curves = learning_curves_beside(results_root, doc)
            if curves.is_file():
                png = plot_learning_curves(curves, plots_dir / f"{stem}__{doc['run_id']}__learning.png")
                parts.append(f"[learning curves {doc['run_id']}](plots/{png.name})")
        links.append(f"- {g.label} / {g.backend}: " + ", ".join(parts))
    return links + _backend_curve_links(groups, plots_dir, results_root)


_CURVE_PANELS = (
    ("episode length (s)", (("episode/length", "ended episodes"),), "seconds"),
    ("reward per step", (("reward/style", "style"), ("reward/task", "task")), None),
    (
        "discriminator logit",
        (
            ("disc/logit_reference", "reference"),
            ("disc/logit_policy", "policy"),
            ("disc/logit_policy_std", "policy spread (std)"),
        ),
        None,
    ),
    ("velocity error (m/s)", (("env/velocity_error", "|v_forward - command|"),), None),
    ("action std", (("ppo/action_std", "std"),), None),
    (
        "env steps / s",
        (
            ("perf/steps_per_second", "updates"),
            ("perf/wall_steps_per_second", "wall clock"),
        ),
        None,
    ),
)


def plot_learning_curves(curves_json: Path | dict[str, Path], out_png: Path) -> Path:
    """Learning curves from the `learning_curves.json` files the harness writes beside scores: one run,
    or several (label -> file, e.g. one card trained on each backend) drawn on the same axes."""
    runs = curves_json if isinstance(curves_json, dict) else {"": curves_json}
    figure = Figure(figsize=(12, 6.5))
    panels = [figure.add_subplot(2, 3, panel) for panel in range(1, len(_CURVE_PANELS) + 1)]
    for run_label, path in runs.items():
        data = json.loads(Path(path).read_text())
        curves, dt = data["curves"], float(data["control_dt"])
        for axes, (_, series, unit) in zip(panels, _CURVE_PANELS, strict=True):
            for tag, label in series:
                if tag in curves:
                    steps = np.asarray(curves[tag]["env_steps"], dtype=float)
                    values = np.asarray(curves[tag]["values"], dtype=float)
                    name = f"{run_label}: {label}" if run_label else label
                    axes.plot(steps, values * dt if unit == "seconds" else values, label=name, linewidth=0.8)
    for axes, (title, _, _) in zip(panels, _CURVE_PANELS, strict=True):
        axes.set_title(title, fontsize="small")
        axes.set_xlabel("env steps", fontsize="x-small")
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize="xx-small")
    title = " vs ".join(runs) if len(runs) > 1 else json.loads(Path(runs[""]).read_text())["run"]
    figure.suptitle(f"{title}: training curves", fontsize="small")
    return _save(figure, Path(out_png))


def _backend_curve_links(groups: Sequence[RunGroup], plots_dir: Path, results_root: Path) -> list[str]:
    """One plot per card trained on more than one backend: each backend's first run on the same axes."""
    by_card: dict[str, dict[str, Path]] = {}
    for g in groups:
        if g.budget != FULL_BUDGET:
            continue
        for doc in g.docs:
            curves = learning_curves_beside(results_root, doc)
            if curves.is_file():
                by_card.setdefault(g.card, {}).setdefault(f"{g.backend} {doc['run_id']}", curves)
    links = []
    for card, runs in sorted(by_card.items()):
        if len({label.split()[0] for label in runs}) > 1:
            png = plot_learning_curves(runs, plots_dir / f"{card}__backends__learning.png")
            links.append(f"- {card}: [learning curves on every backend](plots/{png.name})")
    return links


def _joint_of(dof_name: str) -> str:
    """`left_hip_x` -> `left_hip`: the three hinges of a ball-like joint form one group."""
    return re.sub(r"_[xyz]$", "", dof_name)


def plot_torque_profile(clip_path: Path, out_png: Path) -> Path:
    """Torque vs time of a collected clip, one panel per joint (its x/y/z hinges as lines)."""
    clip = load_clip(clip_path)
    if clip.joint_torques is None:
        raise ValueError(f"{clip_path}: key 'joint_torques' is missing; collect the clip with torques saved")
    groups: dict[str, list[int]] = {}
    for index, name in enumerate(clip.dof_names):
        groups.setdefault(_joint_of(name), []).append(index)
    columns = 3
    rows = math.ceil(len(groups) / columns)
    figure = Figure(figsize=(4 * columns, 2.2 * rows))
    time = np.arange(clip.num_frames) / clip.fps
    for panel, (joint, indices) in enumerate(groups.items(), start=1):
        axes = figure.add_subplot(rows, columns, panel)
        for index in indices:
            axes.plot(time, clip.joint_torques[:, index], label=clip.dof_names[index])
        axes.set_title(joint, fontsize="small")
        axes.set_xlabel("time (s)", fontsize="x-small")
        axes.set_ylabel("torque (N·m)", fontsize="x-small")
        axes.legend(fontsize="xx-small")
    return _save(figure, Path(out_png))
