"""Score files grouped into runs of one card on one backend, and intervals combined over a group's runs.

Several runs (training seeds) of one card and backend are combined by a Student-t interval over the
runs' values; a single run shows its own interval over evaluation episodes, and every cell says which
(n runs, or "1 run, over episodes").
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ampbench.scoring import stats
from ampbench.scoring.score_files import PROJECT_TRAINER, load_scores, trained_by

PHASE_ORDER = ("baseline", "phase1", "phase2", "phase3", "torque")
DASH = "—"
Interval = tuple[float, float, float]
RATE = (0.0, 1.0)
"""Bounds of a success rate: an interval over few runs is cut to them."""


@dataclass(frozen=True)
class Combined:
    """A metric over a group's runs: its interval, how many runs have the metric, and of how many."""

    point: float
    low: float
    high: float
    runs: int
    of_runs: int


@dataclass(frozen=True)
class RunGroup:
    """All score documents of one card on one backend by one trainer at one budget (smoke runs never mix
    with real ones, nor skrl-trained runs with the project trainer's)."""

    phase: str
    card: str
    backend: str
    budget: str
    docs: tuple[dict[str, Any], ...]
    trainer: str = PROJECT_TRAINER
    version: str = ""  # the card's hash prefix, where results hold more than one version of the card

    @property
    def label(self) -> str:
        return card_label(self.card, self.budget, self.trainer, self.version)

    @property
    def stem(self) -> str:
        budget = (
            "" if self.budget == FULL_BUDGET else "__" + re.sub(r"[^A-Za-z0-9]+", "-", self.budget).strip("-")
        )
        trainer = "" if self.trainer == PROJECT_TRAINER else f"__{self.trainer}"
        version = f"__{self.version}" if self.version else ""
        return f"{self.card}__{self.backend}{budget}{trainer}{version}"


FULL_BUDGET = "full"


def card_label(card: str, budget: str, trainer: str, version: str = "") -> str:
    """The card as the tables name it: `phase2`, `phase2 (smoke)`, `phase2 (smoke) [skrl]`, and
    `phase2 #0e042fdd` where the results hold runs of more than one version of the card."""
    label = card if budget == FULL_BUDGET else f"{card} ({budget})"
    label = label if trainer == PROJECT_TRAINER else f"{label} [{trainer}]"
    return f"{label} #{version}" if version else label


def card_versions(docs: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Per card hash, the version to label its runs with: its first 8 hex digits where the score files
    hold more than one hash for that card name and trainer (an edited card: its runs are never pooled
    with the older ones), else nothing. `trainer: skrl` is a card field, so its runs hash apart anyway."""
    hashes: dict[tuple[str, str], set[str]] = {}
    # a version made by overlays or `--set` is named by them too, e.g. `task_only-03499723`
    named: dict[str, str] = {}
    for doc in docs:
        hashes.setdefault((doc["card"], trained_by(doc)), set()).add(doc["card_hash"])
        training = doc["provenance"].get("training", {})
        made_by = [name for name in training.get("overlays", []) if name != "smoke"]
        named[doc["card_hash"]] = "".join(f"{part}-" for part in made_by + training.get("overrides", []))
    return {h: (named[h] + h[:8] if len(found) > 1 else "") for found in hashes.values() for h in found}


def run_budget(doc: dict[str, Any]) -> str:
    """`smoke` for a run trained with the smoke overlay (its numbers prove the pipeline, not a result);
    else what falls short of a full result: the share of the card's env steps trained (`3% of steps`)
    and scoring on the smoke grid; `full` when nothing does."""
    overlays = doc["provenance"].get("training", {}).get("overlays", [])
    if "smoke" in overlays:
        return "smoke"
    short = []
    budget = doc.get("budget")
    if budget and budget["env_steps"] < budget["card_env_steps"]:
        short.append(f"{math.floor(100 * budget['fraction'])}% of steps")
    if doc["provenance"].get("smoke_protocol"):
        short.append("smoke grid")
    return ", ".join(short) or FULL_BUDGET


def _sort_key(group: RunGroup) -> tuple[int, str, bool, str, str]:
    phase = PHASE_ORDER.index(group.phase) if group.phase in PHASE_ORDER else len(PHASE_ORDER)
    return phase, group.card, group.budget != FULL_BUDGET, group.budget, group.backend


def collect_scores(results_root: Path) -> list[RunGroup]:
    """Every `<card>/<backend>/<run-id>/scores.json` under `results_root`, by card, backend, trainer and
    budget."""
    groups: dict[tuple[str, str, str, str, str], list[dict[str, Any]]] = {}
    for path in sorted(Path(results_root).glob("*/*/*/scores.json")):
        doc = load_scores(path)
        card, backend, run_id = path.parts[-4:-1]
        if (doc["card"], doc["backend"], doc["run_id"]) != (card, backend, run_id):
            raise ValueError(
                f"{path}: file says card/backend/run_id = {doc['card']}/{doc['backend']}/{doc['run_id']}, "
                f"its folder says {card}/{backend}/{run_id}"
            )
        key = (card, backend, trained_by(doc), run_budget(doc), doc["card_hash"])
        groups.setdefault(key, []).append(doc)
    versions = card_versions([doc for docs in groups.values() for doc in docs])
    result = [
        RunGroup(docs[0]["phase"], card, backend, budget, tuple(docs), trainer, versions[card_hash])
        for (card, backend, trainer, budget, card_hash), docs in groups.items()
    ]
    return sorted(result, key=_sort_key)


def _interval_of(entry: dict[str, Any] | None) -> Interval | None:
    if entry is None or entry.get("point") is None:
        return None
    return entry["point"], entry["low"], entry["high"]


def run_points(docs: Sequence[dict[str, Any]], pick: Callable[[dict], dict | None]) -> list[float]:
    """The metric's point value in each run that has it."""
    return [i[0] for i in (_interval_of(pick(doc)) for doc in docs) if i is not None]


def combined_interval(
    docs: Sequence[dict[str, Any]],
    pick: Callable[[dict], dict | None],
    bounds: tuple[float, float] = (-math.inf, math.inf),
) -> Combined | None:
    """One run with the metric: its own interval (over evaluation episodes). Several: the mean of the
    runs' values with a Student-t interval over runs, cut to the metric's `bounds` (a rate's [0, 1]).

    The spread of a few runs can understate what is known: a rate (an entry with `successes` and `n`)
    is never shown narrower than the Wilson interval of all runs' episodes pooled, and runs that all
    agree keep the widest of their own intervals rather than a zero-width one."""
    entries = [entry for entry in (pick(doc) for doc in docs) if _interval_of(entry) is not None]
    if not entries:
        return None
    intervals = [_interval_of(entry) for entry in entries]
    if len(intervals) == 1:
        return Combined(*intervals[0], runs=1, of_runs=len(docs))
    point, low, high = stats.t_interval([point for point, _, _ in intervals])
    low, high = max(low, bounds[0]), min(high, bounds[1])
    if all("successes" in entry and entry.get("n") for entry in entries):
        _, pooled_low, pooled_high = stats.proportion_interval(
            sum(e["successes"] for e in entries), sum(e["n"] for e in entries)
        )
        low, high = min(low, pooled_low), max(high, pooled_high)
    elif math.isclose(low, high, rel_tol=1e-9, abs_tol=1e-12):  # agreeing runs (to rounding)
        low, high = min(i[1] for i in intervals), max(i[2] for i in intervals)
    return Combined(point, low, high, runs=len(intervals), of_runs=len(docs))


def format_combined(combined: Combined | None, digits: int) -> str:
    """A table cell, `point [low, high] (what the interval is over)`, or a dash where no run has it."""
    if combined is None:
        return DASH
    c = combined
    of = f" of {c.of_runs}" if c.runs != c.of_runs else ""
    if c.runs == 1:
        over = "1 run, over episodes" if not of else f"1{of} runs has it, over its episodes"
    else:
        over = f"n={c.runs}{of} runs"
    return f"{c.point:.{digits}f} [{c.low:.{digits}f}, {c.high:.{digits}f}] ({over})"


def episode_mean(doc: dict) -> dict | None:
    return doc["episode_seconds"]["mean"]


def tracking_mean(doc: dict) -> dict | None:
    return doc["tracking_error"]["mean"] if doc["tracking_error"] else None


def imitation_mean(doc: dict) -> dict | None:
    return doc["imitation_error"]["mean"] if doc["imitation_error"] else None


def imitation_distance(doc: dict) -> dict | None:
    """The Fréchet distance of the policy's AMP features from the clips' (absent in older score files)."""
    return doc.get("imitation_distance")


def stride_mean(key: str) -> Callable[[dict], dict | None]:
    """The mean stride `period_s` or `length_m` of a score file (absent in older ones)."""

    def pick(doc: dict) -> dict | None:
        summary = (doc.get("strides") or {}).get(key)
        return summary["mean"] if summary else None

    return pick


def push_success_at(force: float, duration: float, key: str = "success") -> Callable[[dict], dict | None]:
    """`success` (episodes that reached the push) or `unconditional` (every episode) at one cell."""

    def pick(doc: dict) -> dict | None:
        for entry in doc["push_success"]:
            if math.isclose(entry["force"], force) and math.isclose(entry["duration"], duration):
                return entry[key]
        return None

    return pick


def push_keys(docs: Sequence[dict[str, Any]]) -> list[tuple[float, float]]:
    """Every (force, duration) push cell the runs were scored at, sorted."""
    return sorted({(entry["force"], entry["duration"]) for doc in docs for entry in doc["push_success"]})


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """The lines of a markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]
