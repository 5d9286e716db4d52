"""Results tables and plots, built from score files only, so no number in a report exists without a run.

`render_results` writes `results/README.md` (phase x card x backend) and PNGs under `results/plots/`;
`compare` puts two backends side by side; `plot_torque_profile` draws a collected clip's torques.
Several runs (training seeds) of one card and backend are combined by a Student-t interval over
the runs' values; a single run shows its own interval over evaluation episodes, and every cell says
which (n runs, or "1 run, over episodes"). `compare` tests backend differences with Welch's t-test.
Plots use matplotlib's `Figure` directly (Agg
canvas), so no global pyplot state or display is involved.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ampbench.motion.clip import load_clip
from ampbench.scoring import stats
from ampbench.scoring.score import LEARNING_CURVES, PROJECT_TRAINER, load_scores, trained_by

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
        budget = "" if self.budget == FULL_BUDGET else f"__{self.budget}"
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
    for doc in docs:
        hashes.setdefault((doc["card"], trained_by(doc)), set()).add(doc["card_hash"])
    return {h: (h[:8] if len(found) > 1 else "") for found in hashes.values() for h in found}


def run_budget(doc: dict[str, Any]) -> str:
    """`smoke` for a run trained with the smoke overlay (its numbers prove the pipeline, not a result)."""
    overlays = doc["provenance"].get("training", {}).get("overlays", [])
    return "smoke" if "smoke" in overlays else FULL_BUDGET


def _sort_key(group: RunGroup) -> tuple[int, str, str, str]:
    phase = PHASE_ORDER.index(group.phase) if group.phase in PHASE_ORDER else len(PHASE_ORDER)
    return phase, group.card, group.budget, group.backend


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


def _format(combined: Combined | None, digits: int) -> str:
    if combined is None:
        return DASH
    c = combined
    of = f" of {c.of_runs}" if c.runs != c.of_runs else ""
    if c.runs == 1:
        over = "1 run, over episodes" if not of else f"1{of} runs has it, over its episodes"
    else:
        over = f"n={c.runs}{of} runs"
    return f"{c.point:.{digits}f} [{c.low:.{digits}f}, {c.high:.{digits}f}] ({over})"


def _episode_mean(doc: dict) -> dict | None:
    return doc["episode_seconds"]["mean"]


def _tracking_mean(doc: dict) -> dict | None:
    return doc["tracking_error"]["mean"] if doc["tracking_error"] else None


def _imitation_mean(doc: dict) -> dict | None:
    return doc["imitation_error"]["mean"] if doc["imitation_error"] else None


def _push_success_at(force: float, duration: float, key: str = "success") -> Callable[[dict], dict | None]:
    """`success` (episodes that reached the push) or `unconditional` (every episode) at one cell."""

    def pick(doc: dict) -> dict | None:
        for entry in doc["push_success"]:
            if math.isclose(entry["force"], force) and math.isclose(entry["duration"], duration):
                return entry[key]
        return None

    return pick


def _headline_push_text(docs: Sequence[dict[str, Any]]) -> str:
    """Unconditional success at the card's headline push cell (a fall before the push fails)."""
    cell = docs[0]["protocol"]["headline_push"]
    if cell is None:
        return DASH
    combined = combined_interval(
        docs, _push_success_at(cell["force"], cell["duration"], "unconditional"), RATE
    )
    return f"{cell['force']:g} N x {cell['duration']:g} s: {_format(combined, 2)}"


def _push_keys(docs: Sequence[dict[str, Any]]) -> list[tuple[float, float]]:
    return sorted({(entry["force"], entry["duration"]) for doc in docs for entry in doc["push_success"]})


def _max_impulse_text(docs: Sequence[dict[str, Any]]) -> str:
    """Weakest direction per body, averaged over the runs where it is defined (n of them shown)."""
    per_body: dict[str, list[float | None]] = {}
    for doc in docs:
        for body, impulse in doc["max_impulse_survived"]["by_body"].items():
            per_body.setdefault(body, []).append(impulse)
    texts = []
    for body, values in sorted(per_body.items()):
        defined = [v for v in values if v is not None]
        if not defined:
            texts.append(f"{body} undefined (no valid episode)")
        else:
            runs = f" (n={len(defined)} of {len(values)} runs)" if len(values) > 1 else ""
            texts.append(f"{body} {np.mean(defined):.1f}{runs}")
    return ", ".join(texts) or DASH


def _defined_text(docs: Sequence[dict[str, Any]]) -> str:
    """The share of episodes tracking error rests on (those up after settling), where not all."""
    shares = [doc["tracking_error"]["defined_fraction"] for doc in docs if doc["tracking_error"]]
    return f", over {np.mean(shares):.0%} of episodes" if shares and np.mean(shares) < 1 else ""


def _expectations_text(docs: Sequence[dict[str, Any]]) -> str:
    if not any(doc["expectations"] for doc in docs):
        return DASH
    passed = sum(all(e["passed"] for e in doc["expectations"]) for doc in docs)
    return f"{passed}/{len(docs)} runs"


def _short_commit(commit: str) -> str:
    """First 10 hex digits, keeping the `-dirty` mark of a run from uncommitted code."""
    head, dirty, _ = str(commit).partition("-dirty")
    return head[:10] + dirty


def _commits_text(docs: Sequence[dict[str, Any]]) -> str:
    return ", ".join(sorted({_short_commit(doc["provenance"]["commit"]) for doc in docs}))


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _headline_rows(groups: Sequence[RunGroup]) -> list[list[str]]:
    return [
        [
            g.phase,
            g.label,
            g.backend,
            str(len(g.docs)),
            _format(combined_interval(g.docs, _episode_mean), 1),
            _headline_push_text(g.docs),
            _max_impulse_text(g.docs),
            _format(combined_interval(g.docs, _tracking_mean), 3) + _defined_text(g.docs),
            _format(combined_interval(g.docs, _imitation_mean), 3),
            _expectations_text(g.docs),
            _commits_text(g.docs),
        ]
        for g in groups
    ]


def _push_rows(groups: Sequence[RunGroup]) -> list[list[str]]:
    rows = []
    for g in groups:
        for force, duration in _push_keys(g.docs):
            entries = [
                e
                for doc in g.docs
                for e in doc["push_success"]
                if (e["force"], e["duration"]) == (force, duration)
            ]
            delta_v = [e["delta_v"] for e in entries if e["delta_v"] is not None]
            n_all = sum(e["n_all"] for e in entries)
            rows.append(
                [
                    g.phase,
                    g.label,
                    g.backend,
                    f"{force:g}",
                    f"{duration:g}",
                    f"{force * duration:.2f}",
                    f"{np.mean(delta_v):.3f}" if delta_v else DASH,
                    _format(combined_interval(g.docs, _push_success_at(force, duration), RATE), 2),
                    str(sum(e["n"] for e in entries)),
                    _format(
                        combined_interval(g.docs, _push_success_at(force, duration, "unconditional"), RATE), 2
                    ),
                    str(n_all),
                ]
            )
    return rows


def _gait_rows(groups: Sequence[RunGroup]) -> list[list[str]]:
    """Push success per gait event (pooled over the gait scenarios' azimuths), per card and backend."""
    rows = []
    for g in groups:
        events = [e["event"] for e in g.docs[0].get("gait_push_success") or []]
        for event in events:
            entries = [e for doc in g.docs for e in doc["gait_push_success"] if e["event"] == event]
            rows.append(
                [
                    g.phase,
                    g.label,
                    g.backend,
                    event,
                    f"{entries[0]['force']:g} N x {entries[0]['duration']:g} s on {entries[0]['body']}",
                    _format(combined_interval(g.docs, _gait_success_at(event, "success"), RATE), 2),
                    str(sum(e["n"] for e in entries)),
                    _format(combined_interval(g.docs, _gait_success_at(event, "unconditional"), RATE), 2),
                    str(sum(e["n_all"] for e in entries)),
                    str(sum(e["not_pushed"] for e in entries)),
                ]
            )
    return rows


def _gait_success_at(event: str, key: str) -> Callable[[dict], dict | None]:
    """`success` or `unconditional` of one gait event's entry, as `_push_success_at` for a cell."""

    def pick(doc: dict) -> dict | None:
        entry = next((e for e in doc.get("gait_push_success") or [] if e["event"] == event), None)
        return None if entry is None else entry[key]

    return pick


def _endurance_mean(doc: dict) -> dict | None:
    return doc["endurance"]["mean"] if doc.get("endurance") else None


def _time_to_fall_text(docs: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """Constant-hazard mean time to a fall over the runs' endurance episodes pooled: (seconds [CI], the
    same in 100 Hz steps)."""
    exposure = sum(doc["endurance"]["exposure_seconds"] for doc in docs)
    falls = sum(doc["endurance"]["falls"] for doc in docs)
    mean, low, high = stats.mean_time_to_fall(exposure, falls)
    pooled = "" if len(docs) == 1 else f", pooled over {len(docs)} runs' episodes"
    if falls == 0:
        return f"> {low:.0f} s (no fall in {exposure:.0f} s{pooled})", f"> {low * 100:.0f}"
    return f"{mean:.0f} [{low:.0f}, {high:.0f}] ({falls} falls{pooled})", f"{mean * 100:.0f}"


def _endurance_rows(groups: Sequence[RunGroup]) -> list[list[str]]:
    """Survival under each card's own training pushes, in seconds and 100 Hz steps, beside the design's
    expected episode length."""
    rows = []
    for g in groups:
        docs = [doc for doc in g.docs if doc.get("endurance")]
        if not docs:
            continue
        expected = docs[0]["endurance"]["expected_steps_100hz"]
        seconds, steps = _time_to_fall_text(docs)
        rows.append(
            [
                g.phase,
                g.label,
                g.backend,
                f"{docs[0]['endurance']['episode_limit_seconds']:g}",
                _format(combined_interval(g.docs, _endurance_mean), 1),
                seconds,
                steps,
                DASH if expected is None else f"{expected:g}",
                str(sum(doc["endurance"]["n"] for doc in docs)),
            ]
        )
    return rows


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


def _plot_links(groups: Sequence[RunGroup], plots_dir: Path, results_root: Path) -> list[str]:
    links = []
    for g in groups:
        stem = g.stem
        survival = plot_survival(g, plots_dir / f"{stem}__survival.png")
        parts = [f"[survival](plots/{survival.name})"]
        push = plot_push_success(g, plots_dir / f"{stem}__push_success.png")
        if push is not None:
            parts.append(f"[push success vs impulse](plots/{push.name})")
        for doc in g.docs:
            curves = results_root / g.card / g.backend / doc["run_id"] / LEARNING_CURVES
            if curves.is_file():
                png = plot_learning_curves(curves, plots_dir / f"{stem}__{doc['run_id']}__learning.png")
                parts.append(f"[learning curves {doc['run_id']}](plots/{png.name})")
        links.append(f"- {g.label} / {g.backend}: " + ", ".join(parts))
    return links + _backend_curve_links(groups, plots_dir, results_root)


_CURVE_PANELS = (
    ("episode length (s)", (("episode/length", "ended episodes"),), "seconds"),
    ("reward per step", (("reward/style", "style"), ("reward/task", "task")), None),
    ("discriminator logit", (("disc/logit_reference", "reference"), ("disc/logit_policy", "policy")), None),
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
            curves = results_root / g.card / g.backend / doc["run_id"] / LEARNING_CURVES
            if curves.is_file():
                by_card.setdefault(g.card, {}).setdefault(f"{g.backend} {doc['run_id']}", curves)
    links = []
    for card, runs in sorted(by_card.items()):
        if len({label.split()[0] for label in runs}) > 1:
            png = plot_learning_curves(runs, plots_dir / f"{card}__backends__learning.png")
            links.append(f"- {card}: [learning curves on every backend](plots/{png.name})")
    return links


_HEADLINE = (
    "phase", "card", "backend", "runs", "episode s (95% CI)", "push success, all episodes (95% CI)",
    "max impulse survived (N·s)", "tracking error (m/s)", "imitation error (rad)", "expectations met",
    "commit",
)  # fmt: skip
_PUSH = (
    "phase", "card", "backend", "force (N)", "duration (s)", "impulse (N·s)", "Δv (m/s)",
    "success if up at push (95% CI)", "n up at push", "success, all episodes (95% CI)", "n all",
)  # fmt: skip

_GAIT = (
    "phase", "card", "backend", "gait event", "push", "success if up at push (95% CI)", "n up at push",
    "success, all episodes (95% CI)", "n all", "no event",
)  # fmt: skip
_ENDURANCE = (
    "phase", "card", "backend", "episode limit (s)", "mean s up, capped at the limit (95% CI)",
    "mean time to fall, constant hazard (s, 95% CI)", "the same, 100 Hz steps",
    "design's expected, 100 Hz steps", "episodes",
)  # fmt: skip

_INTRO = """# Results

Generated by `ampbench report` from the score files `<card>/<backend>/<run-id>/scores.json` in this
folder; do not edit by hand. Every interval is 95% and says what it is over: "n=k runs" is a
Student-t interval over k training runs (seeds); "1 run, over episodes" is that run's interval over its
evaluation episodes (continuous metrics: percentile bootstrap within each evaluation seed; success
rates: Wilson score), which says nothing about seed-to-seed spread. Falls are judged by the scorer's
fall rule, the same for every card and backend and named with its version in each score file: down
when the pelvis origin is below 0.5 m, the head origin below 0.8 m, a hand origin below 0.1 m, or the
physics step was not finite; an episode falls at its first down step after it has been up (an episode
that starts lying down is judged from when it first stands; one that never stands falls at once).
Episode seconds come from unpushed episodes (censored at the time limit). A push succeeds when the
robot does not fall before the push end plus the card's window. "Success if up at push" counts only
episodes still up when their push started; "all episodes" counts a fall before the push as a failure
(the headline column shows it at the card's headline push cell); an episode still lying from a get-up
reset when its push starts is no trial, and fails the all-episodes rate. Max impulse survived: per
body, the weakest direction's largest impulse up to which success stays at or above the threshold
named in each score file, averaged over runs; a direction whose smallest impulse has no valid episode
is undefined and left out. Rows marked "(smoke)" come from runs trained with the smoke overlay on a
small budget: they show that the pipeline runs end to end, not how well a policy walks, and they are
never pooled with full runs. Rows marked "[skrl]" were trained by skrl's AMP instead of the project's
trainer (the card's `trainer`) and are never pooled with the project trainer's runs; in the trained-on x
scored-on matrix the trainer is a column of its own. A card edited between runs gets one row per
version, marked "#" and the first digits of the card's hash; versions are never pooled.
"""


def _readme(groups: Sequence[RunGroup], plots_dir: Path) -> str:
    if not groups:
        return _INTRO + "\nNo results yet: no score files were found; scoring a trained run adds one.\n"
    sections = [
        _INTRO,
        "## Headline\n",
        *_table(_HEADLINE, _headline_rows(groups)),
        "\n## Push success (pooled over bodies and directions)\n",
        *_table(_PUSH, _push_rows(groups)),
        "\n## Push success by gait phase\n",
        "Pushes started at an event of one foot after a warm-up (touchdown, mid-stance, liftoff,"
        ' mid-swing; detected from body poses); "no event" counts episodes that stayed up but never'
        " reached the event.\n",
        *_table(_GAIT, _gait_rows(groups)),
        "\n## Endurance under the card's training pushes\n",
        "Long episodes with the card's own random training pushes (none for a card that trains"
        " without). The mean episode length is capped at the limit; the mean time to a fall (total"
        " time up / falls, assuming a constant fall rate) is not, and is also given in steps of a"
        " 100 Hz env, the unit of the design's expected lengths.\n",
        *_table(_ENDURANCE, _endurance_rows(groups)),
        "\n## Plots\n",
        *_plot_links(groups, plots_dir, plots_dir.parent),
        "\n## Trained on x scored on\n",
        transfer_matrix(plots_dir.parent),
    ]
    return "\n".join(sections) + "\n"


def render_results(results_root: Path) -> Path:
    """Write `results_root/README.md` and `results_root/plots/*.png` from the score files found."""
    results_root = Path(results_root)
    results_root.mkdir(parents=True, exist_ok=True)
    readme = results_root / "README.md"
    readme.write_text(_readme(collect_scores(results_root), results_root / "plots"))
    return readme


Metric = tuple[str, Callable[[dict], dict | None], int, tuple[float, float]]
"""(label, pick, digits, bounds) of a compared metric."""


def _compare_metrics(groups: Sequence[RunGroup]) -> list[Metric]:
    keys = sorted({key for g in groups for key in _push_keys(g.docs)})
    unbounded = (-math.inf, math.inf)
    metrics = [
        ("episode s", _episode_mean, 1, unbounded),
        ("tracking error (m/s)", _tracking_mean, 3, unbounded),
    ]
    if any(doc["imitation_error"] for g in groups for doc in g.docs):
        metrics.append(("imitation error (rad)", _imitation_mean, 3, unbounded))
    for f, d in keys:
        metrics.append((f"push success {f:g} N x {d:g} s", _push_success_at(f, d), 2, RATE))
        metrics.append(
            (
                f"push success {f:g} N x {d:g} s, all episodes",
                _push_success_at(f, d, "unconditional"),
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
                [card, label, _format(a, digits), _format(b, digits), _difference_text(*points, digits)]
            )
    header = ("card", "metric", first, second, f"{second} - {first} [95% CI], Welch over runs")
    return "\n".join(_table(header, rows)) + "\n\n" + transfer_matrix(results_root)


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
            interval = combined_interval(docs, _episode_mean) if docs else None
            cells.append(_format(interval, 2))
        rows.append([card, trained, trainer, *cells])
    header = ("card", "trained on", "trainer", *(f"scored on {name}" for name in scored_on))
    title = "Mean episode seconds [95% CI], trained on (rows) x scored on (columns):\n\n"
    return title + "\n".join(_table(header, rows)) + "\n"


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
