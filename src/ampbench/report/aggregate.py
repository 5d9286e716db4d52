"""A phase over many runs and cards, as RL benchmarks report it (rliable; Agarwal et al., "Deep RL at
the Edge of the Statistical Precipice", 2021): each run's score on each card of the phase, pooled into an
interquartile mean with a stratified bootstrap interval (runs resampled within each card) and a
performance profile (the fraction of runs scoring above each threshold), per backend. This sits beside
the per-card tables' Student-t over seeds; it is what compares backends or recipes across a whole phase.

The score is the headline push's unconditional success rate (a fall before the push fails): in [0, 1]
on every card, so cards pool without normalising.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ampbench.report.groups import RunGroup, markdown_table, push_success_at
from ampbench.scoring import stats

BOOTSTRAP_REPS = 2000
ALPHA = 0.05
RNG_SEED = 0
"""The bootstrap's generator seed, so a report rendered twice from the same score files is the same."""
THRESHOLDS = np.linspace(0.0, 1.0, 21)


def headline_score(doc: dict[str, Any]) -> float | None:
    cell = doc["protocol"]["headline_push"]
    if cell is None:
        return None
    entry = push_success_at(cell["force"], cell["duration"], "unconditional")(doc)
    return None if entry is None or entry.get("point") is None else float(entry["point"])


@dataclass(frozen=True)
class PhaseAggregate:
    """One phase on one backend by one trainer at one budget: scores by card, and their aggregates."""

    phase: str
    backend: str
    budget: str
    trainer: str
    scores: dict[str, list[float]]
    """card label -> one headline score per run"""

    @property
    def runs(self) -> int:
        return sum(len(values) for values in self.scores.values())

    def iqm(self) -> tuple[float, float, float]:
        rng = np.random.default_rng(RNG_SEED)
        return stats.stratified_bootstrap_ci(
            self.scores, stats.iqm, reps=BOOTSTRAP_REPS, alpha=ALPHA, rng=rng
        )

    def mean(self) -> tuple[float, float, float]:
        rng = np.random.default_rng(RNG_SEED)
        return stats.stratified_bootstrap_ci(self.scores, np.mean, reps=BOOTSTRAP_REPS, alpha=ALPHA, rng=rng)

    def profile(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = np.random.default_rng(RNG_SEED)
        return stats.performance_profile(self.scores, THRESHOLDS, reps=BOOTSTRAP_REPS, alpha=ALPHA, rng=rng)


def phase_aggregates(groups: Sequence[RunGroup]) -> list[PhaseAggregate]:
    """The groups pooled by (phase, backend, budget, trainer), each card's runs that have a headline score.
    A card with several versions in the results (edited, or changed by an overlay such as a control) is
    a different experiment per version: each version stands alone, never pooled with the phase."""
    pooled: dict[tuple[str, str, str, str, str], dict[str, list[float]]] = {}
    for group in groups:
        values = [score for score in map(headline_score, group.docs) if score is not None]
        if values:
            key = (
                group.phase,
                group.backend,
                group.budget,
                group.trainer,
                group.label if group.version else "",
            )
            pooled.setdefault(key, {})[group.label] = values
    return [PhaseAggregate(*key[:4], scores) for key, scores in pooled.items()]


def _interval_text(interval: tuple[float, float, float]) -> str:
    point, low, high = interval
    return f"{point:.2f} [{low:.2f}, {high:.2f}]"


def plot_profiles(aggregates: Sequence[PhaseAggregate], out_png: Path) -> Path:
    """The performance profiles of one phase, a line and band per backend (and budget, trainer)."""
    figure = Figure(figsize=(6, 4))
    axes = figure.add_subplot()
    for aggregate in aggregates:
        fraction, low, high = aggregate.profile()
        label = f"{aggregate.backend}: {', '.join(aggregate.scores)}"
        (line,) = axes.step(THRESHOLDS, fraction, where="post", label=f"{label} ({aggregate.runs} runs)")
        axes.fill_between(THRESHOLDS, low, high, step="post", alpha=0.2, color=line.get_color())
    axes.set(
        xlabel="headline push success rate τ",
        ylabel="fraction of runs with score > τ",
        ylim=(-0.02, 1.02),
        title=f"{aggregates[0].phase}: performance profile",
    )
    axes.legend(fontsize="small")
    out_png.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(out_png, dpi=100)
    return out_png


def aggregate_section(groups: Sequence[RunGroup], plots_dir: Path) -> list[str]:
    """The README's lines: a table of every phase's aggregates and a profile plot per phase."""
    aggregates = phase_aggregates(groups)
    if not aggregates:
        return ["No run has a headline push score yet.\n"]
    rows = [
        [
            a.phase,
            a.backend,
            a.budget + (f" [{a.trainer}]" if a.trainer != "ampbench" else ""),
            ", ".join(a.scores),
            str(a.runs),
            _interval_text(a.iqm()),
            _interval_text(a.mean()),
        ]
        for a in aggregates
    ]
    header = ["phase", "backend", "budget", "cards", "runs", "IQM [95% CI]", "mean [95% CI]"]
    lines = [*markdown_table(header, rows), ""]
    for phase in dict.fromkeys(a.phase for a in aggregates):
        png = plot_profiles([a for a in aggregates if a.phase == phase], plots_dir / f"profile__{phase}.png")
        lines.append(f"![{phase} performance profile]({png.relative_to(plots_dir.parent).as_posix()})\n")
    return lines
