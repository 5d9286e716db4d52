"""`compare` puts two backends side by side and tests their differences with Welch's t-test over runs;
`transfer_matrix` shows each card trained on one backend and scored on another."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

from ampbench.report.groups import (
    RATE,
    RunGroup,
    card_label,
    card_versions,
    collect_scores,
    combined_interval,
    episode_mean,
    format_combined,
    imitation_distance,
    imitation_mean,
    markdown_table,
    push_keys,
    push_success_at,
    run_budget,
    run_points,
    stride_mean,
    tracking_mean,
)
from ampbench.scoring import stats
from ampbench.scoring.score_files import PROJECT_TRAINER, load_scores, trained_by

Metric = tuple[str, Callable[[dict], dict | None], int, tuple[float, float]]
"""(label, pick, digits, bounds) of a compared metric."""


def _compare_metrics(groups: Sequence[RunGroup]) -> list[Metric]:
    keys = sorted({key for g in groups for key in push_keys(g.docs)})
    unbounded = (-math.inf, math.inf)
    metrics = [
        ("episode s", episode_mean, 1, unbounded),
        ("tracking error (m/s)", tracking_mean, 3, unbounded),
    ]
    if any(doc["imitation_error"] for g in groups for doc in g.docs):
        metrics.append(("imitation error (rad)", imitation_mean, 3, unbounded))
    if any(imitation_distance(doc) for g in groups for doc in g.docs):
        metrics.append(("imitation distance", imitation_distance, 2, unbounded))
    if any(doc.get("strides") for g in groups for doc in g.docs):
        metrics.append(("stride period (s)", stride_mean("period_s"), 2, unbounded))
        metrics.append(("stride length (m)", stride_mean("length_m"), 2, unbounded))
    for f, d in keys:
        metrics.append((f"push success {f:g} N x {d:g} s", push_success_at(f, d), 2, RATE))
        metrics.append(
            (
                f"push success {f:g} N x {d:g} s, all episodes",
                push_success_at(f, d, "unconditional"),
                2,
                RATE,
            )
        )
    return metrics


def _difference_text(first: list[float], second: list[float], digits: int) -> str:
    """Welch's test over runs of second - first, or why there is none."""
    if len(first) < 2 or len(second) < 2:
        return f"no test: needs 2+ runs per backend (have {len(first)} and {len(second)})"
    d = stats.welch_difference(first, second)
    if math.isnan(d.p_value):
        return f"{d.difference:+.{digits}f}; no test: every run of each backend gives the same value"
    return f"{d.difference:+.{digits}f} [{d.low:+.{digits}f}, {d.high:+.{digits}f}], p = {d.p_value:.3f}"


def compare(results_root: Path, backends: tuple[str, str] = ("mjx", "isaaclab")) -> str:
    """Markdown table of the same cards on two backends: each side over its runs, and the difference
    (second - first) with its Welch interval and p-value over runs."""
    if len(backends) != 2:
        raise ValueError(f"compare takes exactly two backends, found {list(backends)}")
    first, second = backends
    groups = [g for g in collect_scores(results_root) if g.backend in backends]
    if not groups:
        return f"No score files for backends {first} or {second} under {results_root}.\n"
    by_card: dict[str, dict[str, RunGroup]] = {}
    for g in groups:
        by_card.setdefault(g.label, {})[g.backend] = g
    rows = []
    for card, sides in by_card.items():
        for label, pick, digits, bounds in _compare_metrics(list(sides.values())):
            a, b = (combined_interval(sides[n].docs, pick, bounds) if n in sides else None for n in backends)
            points = [run_points(sides[n].docs, pick) if n in sides else [] for n in backends]
            rows.append(
                [
                    card,
                    label,
                    format_combined(a, digits),
                    format_combined(b, digits),
                    _difference_text(*points, digits),
                ]
            )
    header = ("card", "metric", first, second, f"{second} - {first} [95% CI], Welch over runs")
    return "\n".join(markdown_table(header, rows)) + "\n\n" + transfer_matrix(results_root)


def _scores_by_train_and_score_backend(
    results_root: Path,
) -> dict[tuple[str, str, str, str], list[dict]]:
    """(card label, trained on, trainer, scored on) -> score documents: own scores and `on-<backend>/`
    ones."""
    found: dict[tuple[str, str, str, str], list[dict]] = {}
    root = Path(results_root)
    paths = sorted([*root.glob("*/*/*/scores.json"), *root.glob("*/*/*/on-*/scores.json")])
    docs = [load_scores(path) for path in paths]
    versions = card_versions(docs)
    for doc in docs:
        label = card_label(doc["card"], run_budget(doc), PROJECT_TRAINER, versions[doc["card_hash"]])
        key = (label, doc["backend"], trained_by(doc), doc.get("scored_on", doc["backend"]))
        found.setdefault(key, []).append(doc)
    return found


def transfer_matrix(results_root: Path) -> str:
    """Markdown: per card, rows = trained on (backend, trainer), columns = scored on (backend), mean
    episode seconds [95% CI] over runs (seeds), or over one run's episodes.

    The diagonal is each simulator's own score; off the diagonal, what a policy keeps when moved to
    another simulator under the same protocol and fall rule (the transfer gap).
    """
    found = _scores_by_train_and_score_backend(results_root)
    if not found:
        return f"No score files under {results_root}.\n"
    scored_on = sorted({key[3] for key in found})
    rows = []
    for card, trained, trainer in sorted({key[:3] for key in found}):
        cells = []
        for target in scored_on:
            docs = found.get((card, trained, trainer, target), [])
            interval = combined_interval(docs, episode_mean) if docs else None
            cells.append(format_combined(interval, 2))
        rows.append([card, trained, trainer, *cells])
    header = ("card", "trained on", "trainer", *(f"scored on {name}" for name in scored_on))
    title = "Mean episode seconds [95% CI], trained on (rows) x scored on (columns):\n\n"
    return title + "\n".join(markdown_table(header, rows)) + "\n"
