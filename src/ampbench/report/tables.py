"""`render_results`: `results/README.md` (phase x card x backend tables) and its plots, from score files only,
so no number in a report exists without a run."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ampbench.report.aggregate import aggregate_section
from ampbench.report.compare import transfer_matrix
from ampbench.report.groups import (
    DASH,
    RATE,
    RunGroup,
    collect_scores,
    combined_interval,
    episode_mean,
    format_combined,
    imitation_distance,
    imitation_mean,
    markdown_table,
    push_keys,
    push_success_at,
    stride_mean,
    tracking_mean,
)
from ampbench.report.imitation import imitation_section
from ampbench.report.plots import plot_links
from ampbench.scoring import stats
from ampbench.scoring.breaking import bracket_text
from ampbench.scoring.falls import FALL_RULE


def _headline_push_text(docs: Sequence[dict[str, Any]]) -> str:
    """Unconditional success at the card's headline push cell (a fall before the push fails)."""
    cell = docs[0]["protocol"]["headline_push"]
    if cell is None:
        return DASH
    combined = combined_interval(
        docs, push_success_at(cell["force"], cell["duration"], "unconditional"), RATE
    )
    return f"{cell['force']:g} N x {cell['duration']:g} s: {format_combined(combined, 2)}"


def _max_impulse_text(docs: Sequence[dict[str, Any]]) -> str:
    """Weakest direction per body, averaged over the runs where it is defined (n of them shown)."""
    per_body: dict[str, list[float | None]] = {}
    for doc in docs:
        for body, impulse in doc["max_impulse_survived"]["by_body"].items():
            per_body.setdefault(body, []).append(impulse)
    capped = {body for doc in docs for body in doc["max_impulse_survived"].get("capped", ())}
    texts = []
    for body, values in sorted(per_body.items()):
        defined = [v for v in values if v is not None]
        if not defined:
            texts.append(f"{body} undefined (no valid episode)")
        else:
            runs = f" (n={len(defined)} of {len(values)} runs)" if len(values) > 1 else ""
            above = "> " if body in capped else ""  # the grid's top cell survived: a cap, not a value
            texts.append(f"{body} {above}{np.mean(defined):.1f}{runs}")
    return ", ".join(texts) or DASH


def _breaking_text(docs: Sequence[dict[str, Any]]) -> str:
    """Per body, the weakest direction's breaking push of each run (`ampbench.scoring.breaking`)."""
    per_body: dict[str, list[str]] = {}
    for doc in docs:
        weakest: dict[str, dict[str, Any]] = {}
        for entry in doc.get("breaking_point", ()):
            if entry["bound"] is None:
                continue
            known = weakest.get(entry["body"])
            if known is None or entry["survived_impulse"] < known["survived_impulse"]:
                weakest[entry["body"]] = entry
        for body, entry in weakest.items():
            text = bracket_text(entry["survived_force"], entry["failed_force"])
            per_body.setdefault(body, []).append(f"{text} x {entry['duration']:g} s")
    return "; ".join(f"{body} {', '.join(texts)}" for body, texts in sorted(per_body.items())) or DASH


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


def _floor_text(docs: Sequence[dict[str, Any]]) -> str:
    """The clips' own level for the runs' sample sizes: a distance near it is as close as a sample of the
    clips gets."""
    floors = [doc["imitation_distance"]["floor"] for doc in docs if doc.get("imitation_distance")]
    return f" ({np.mean(floors):.2f})" if floors else ""


def _commits_text(docs: Sequence[dict[str, Any]]) -> str:
    return ", ".join(sorted({_short_commit(doc["provenance"]["commit"]) for doc in docs}))


def _headline_rows(groups: Sequence[RunGroup]) -> list[list[str]]:
    return [
        [
            g.phase,
            g.label,
            g.backend,
            str(len(g.docs)),
            format_combined(combined_interval(g.docs, episode_mean), 1),
            _headline_push_text(g.docs),
            _max_impulse_text(g.docs),
            _breaking_text(g.docs),
            format_combined(combined_interval(g.docs, tracking_mean), 3) + _defined_text(g.docs),
            format_combined(combined_interval(g.docs, imitation_mean), 3),
            format_combined(combined_interval(g.docs, imitation_distance), 2) + _floor_text(g.docs),
            _expectations_text(g.docs),
            _commits_text(g.docs),
        ]
        for g in groups
    ]


def _push_rows(groups: Sequence[RunGroup]) -> list[list[str]]:
    rows = []
    for g in groups:
        for force, duration in push_keys(g.docs):
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
                    format_combined(combined_interval(g.docs, push_success_at(force, duration), RATE), 2),
                    str(sum(e["n"] for e in entries)),
                    format_combined(
                        combined_interval(g.docs, push_success_at(force, duration, "unconditional"), RATE), 2
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
                    format_combined(combined_interval(g.docs, _gait_success_at(event, "success"), RATE), 2),
                    str(sum(e["n"] for e in entries)),
                    format_combined(
                        combined_interval(g.docs, _gait_success_at(event, "unconditional"), RATE), 2
                    ),
                    str(sum(e["n_all"] for e in entries)),
                    str(sum(e["not_pushed"] for e in entries)),
                ]
            )
    return rows


def _stride_rows(groups: Sequence[RunGroup]) -> list[list[str]]:
    """Stride period and length of the card's gait foot in unpushed episodes, beside the clips'."""
    rows = []
    for g in groups:
        docs = [doc for doc in g.docs if doc.get("strides")]
        if not docs:
            continue
        strides = docs[0]["strides"]
        clip = {skill: values for doc in docs for skill, values in doc["strides"]["clip"].items()}

        defined = [
            doc["strides"]["period_s"]["defined_fraction"] for doc in docs if doc["strides"]["period_s"]
        ]
        rows.append(
            [
                g.phase,
                g.label,
                g.backend,
                strides["foot"],
                format_combined(combined_interval(docs, stride_mean("period_s")), 2),
                _clip_stride_text(clip, "period_s"),
                format_combined(combined_interval(docs, stride_mean("length_m")), 2),
                _clip_stride_text(clip, "length_m"),
                f"{np.mean(defined):.0%}" if defined else "0%",
            ]
        )
    return rows


def _clip_stride_text(clip: dict[str, dict[str, float | None]], key: str) -> str:
    values = [f"{skill} {v[key]:.2f}" for skill, v in clip.items() if v[key] is not None]
    return ", ".join(values) or DASH


def _gait_success_at(event: str, key: str) -> Callable[[dict], dict | None]:
    """`success` or `unconditional` of one gait event's entry, as `push_success_at` for a cell."""

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
                format_combined(combined_interval(g.docs, _endurance_mean), 1),
                seconds,
                steps,
                DASH if expected is None else f"{expected:g}",
                str(sum(doc["endurance"]["n"] for doc in docs)),
            ]
        )
    return rows


_HEADLINE = (
    "phase", "card", "backend", "runs", "episode s (95% CI)", "push success, all episodes (95% CI)",
    "max impulse survived (N·s)", "breaking push (weakest direction)", "tracking error (m/s)",
    "imitation error (rad)", "imitation distance (floor)", "expectations met", "commit",
)  # fmt: skip
_PUSH = (
    "phase", "card", "backend", "force (N)", "duration (s)", "impulse (N·s)", "Δv (m/s)",
    "success if up at push (95% CI)", "n up at push", "success, all episodes (95% CI)", "n all",
)  # fmt: skip

_GAIT = (
    "phase", "card", "backend", "gait event", "push", "success if up at push (95% CI)", "n up at push",
    "success, all episodes (95% CI)", "n all", "no event",
)  # fmt: skip
_STRIDES = (
    "phase", "card", "backend", "foot", "stride period s (95% CI)", "clip's", "stride length m (95% CI)",
    "clip's", "episodes with a stride",
)  # fmt: skip
_ENDURANCE = (
    "phase", "card", "backend", "episode limit (s)", "mean s up, capped at the limit (95% CI)",
    "mean time to fall, constant hazard (s, 95% CI)", "the same, 100 Hz steps",
    "design's expected, 100 Hz steps", "episodes",
)  # fmt: skip


def _down_below() -> str:
    """The intro's statement of the fall rule's heights, read from `scoring.falls.FALL_RULE`."""
    below = FALL_RULE.below
    hands = {below.get("left_hand"), below.get("right_hand")}
    if set(below) != {"pelvis", "head", "left_hand", "right_hand"} or len(hands) != 1:
        raise ValueError(
            f"the results intro states a fall rule on pelvis, head and both hands at one height; "
            f"fall rule v{FALL_RULE.version} has {dict(below)}: update the intro's wording"
        )
    return (
        f"the pelvis origin is below {below['pelvis']:g} m, the head origin below {below['head']:g} m, "
        f"a hand origin below {below['left_hand']:g} m"
    )


_INTRO = """# Results

Generated by `ampbench report` from the score files `<card>/<backend>/<run-id>/scores.json` in this
folder; do not edit by hand. Every interval is 95% and says what it is over: "n=k runs" is a
Student-t interval over k training runs (seeds); "1 run, over episodes" is that run's interval over its
evaluation episodes (continuous metrics: percentile bootstrap within each evaluation seed; success
rates: Wilson score), which says nothing about seed-to-seed spread. Falls are judged by the scorer's
fall rule, the same for every card and backend and named with its version in each score file: down
when {down_below}, or the
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
"""The README's opening; `{down_below}` takes the fall rule's heights from `scoring.falls` (`_down_below`)."""


def _watch_lines(groups: Sequence[RunGroup], results_root: Path) -> list[str]:
    """Each run's filmstrips (`ampbench render`: the policy opaque, its clip a blue ghost to its left)
    with links to the videos."""
    lines = []
    for g in groups:
        for doc in g.docs:
            folder = Path(g.card) / g.backend / doc["run_id"]
            for name in ("unpushed", "push"):
                strip, video = folder / f"{name}.png", folder / f"{name}.mp4"
                if (results_root / strip).is_file():
                    link = f" ([video]({video.as_posix()}))" if (results_root / video).is_file() else ""
                    lines.append(f"- {g.label} / {g.backend} / {doc['run_id']}, {name}{link}:\n")
                    lines.append(f"  ![{g.label} {name}]({strip.as_posix()})\n")
    return lines or ["No videos yet: `ampbench render RUN_DIR` (or `ampbench score`) adds them.\n"]


def _readme(groups: Sequence[RunGroup], plots_dir: Path) -> str:
    intro = _INTRO.format(down_below=_down_below())
    if not groups:
        return intro + "\nNo results yet: no score files were found; scoring a trained run adds one.\n"
    sections = [
        intro,
        "## Headline\n",
        *markdown_table(_HEADLINE, _headline_rows(groups)),
        "\n## Strides beside the clip's\n",
        "One foot's strides in the unpushed episodes after settling, from touchdown to touchdown (the"
        " foot's body origin below the card's gait contact height, the rule that times gait pushes):"
        " the period, and the pelvis's ground path over a stride; the clip's measured the same way on"
        " the clip played for an evaluation episode. An episode with fewer than two touchdowns has no"
        " stride.\n",
        *markdown_table(_STRIDES, _stride_rows(groups)),
        "\n## Imitation, run by run\n",
        *imitation_section(groups, plots_dir.parent),
        "\n## Push success (pooled over bodies and directions)\n",
        *markdown_table(_PUSH, _push_rows(groups)),
        "\n## Push success by gait phase\n",
        "Pushes started at an event of one foot after a warm-up (touchdown, mid-stance, liftoff,"
        ' mid-swing; detected from body poses); "no event" counts episodes that stayed up but never'
        " reached the event.\n",
        *markdown_table(_GAIT, _gait_rows(groups)),
        "\n## Endurance under the card's training pushes\n",
        "Long episodes with the card's own random training pushes (none for a card that trains"
        " without). The mean episode length is capped at the limit; the mean time to a fall (total"
        " time up / falls, assuming a constant fall rate) is not, and is also given in steps of a"
        " 100 Hz env, the unit of the design's expected lengths.\n",
        *markdown_table(_ENDURANCE, _endurance_rows(groups)),
        "\n## Interquartile mean over runs, by phase\n",
        "Every run's unconditional success at its card's headline push, pooled over the phase's cards:"
        " the interquartile mean and mean with 95% stratified-bootstrap intervals (runs resampled within"
        " each card), and the phase's performance profile (rliable's conventions). Short runs pool only"
        " with runs of the same budget.\n",
        *aggregate_section(groups, plots_dir),
        "\n## Plots\n",
        *plot_links(groups, plots_dir, plots_dir.parent),
        "\n## Policies beside their clips\n",
        *_watch_lines(groups, plots_dir.parent),
        "\n## Trained on x scored on\n",
        transfer_matrix(plots_dir.parent),
    ]
    return "\n".join(sections) + "\n"


REPORT_PLOTS = ("*__survival.png", "*__push_success.png", "*__learning.png", "profile__*.png")
"""The names of the plots `render_results` draws: one of these that the README no longer links is a
plot of an earlier report (a run rescored, a card edited) and goes; any other file in plots/ stays."""


def render_results(results_root: Path) -> Path:
    """Write `results_root/README.md` and `results_root/plots/*.png` from the score files found, and
    remove the plots of earlier reports that this one no longer links."""
    results_root = Path(results_root)
    results_root.mkdir(parents=True, exist_ok=True)
    readme = results_root / "README.md"
    plots_dir = results_root / "plots"
    text = _readme(collect_scores(results_root), plots_dir)
    readme.write_text(text)
    linked = set(re.findall(r"plots/([^)\s]+\.png)", text))
    for pattern in REPORT_PLOTS:
        for stale in plots_dir.glob(pattern):
            if stale.name not in linked:
                stale.unlink()
    return readme
