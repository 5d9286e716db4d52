"""Reproduce a phase: every card of the phase, for each chosen backend and seed, trained into a run
folder and scored into results/, picking up where an earlier attempt stopped.

A card belongs to the phase its own `phase` field names (`baseline`, `phase1`, `phase2`, `phase3`,
`torque`). For each (card, backend, seed) the newest run folder of that card content (its hash, so a
smoke run and a full run never mix) and seed decides what happens: none or one without a checkpoint ->
train a new run; a checkpoint short of the card's last update -> resume it; finished -> keep it. A run
whose score file already names its final checkpoint is not scored again. `ampbench reproduce` runs this;
`nox -s <phase>` runs that command in a container (or a local venv) and then `ampbench report`.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ampbench.cards import ExperimentCard, load_card
from ampbench.core.backends import BACKENDS
from ampbench.core.files import file_sha256
from ampbench.core.runs import RunError, latest_checkpoint
from ampbench.core.stop import stop_signal
from ampbench.pipeline.train import resume_runs, start_runs
from ampbench.sim import default_backend

PHASES: tuple[str, ...] = typing.get_args(ExperimentCard.model_fields["phase"].annotation)


class PhaseError(ValueError):
    """A phase that cannot be reproduced as asked; the message says what is missing and how to get it."""


@dataclass(frozen=True)
class Job:
    card_path: Path
    card: ExperimentCard
    backend: str
    seed: int

    def label(self) -> str:
        return f"{self.card.name} on {self.backend}, seed {self.seed}"


def phase_cards(
    phase: str, cards_dir: Path, overlays: tuple[str, ...] = ()
) -> list[tuple[Path, ExperimentCard]]:
    """The cards in `cards_dir` whose `phase` is `phase`, by file name, with `overlays` applied."""
    if phase not in PHASES:
        raise PhaseError(f"phase must be one of {', '.join(PHASES)}, not {phase!r}")
    cards = [(path, load_card(path, overlays=overlays)) for path in sorted(Path(cards_dir).glob("*.yaml"))]
    chosen = [(path, card) for path, card in cards if card.phase == phase]
    if not chosen:
        raise PhaseError(f"no card in {cards_dir} has phase {phase!r}")
    return chosen


def plan(
    cards: Sequence[tuple[Path, ExperimentCard]], backends: Sequence[str], seeds: int | None
) -> list[Job]:
    """One job per card, backend and seed: the first `seeds` of each card's training.seeds (all of them
    when None), card by card; with no backends, each card's `default_backend`."""
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown:
        raise PhaseError(f"unknown backend(s) {unknown}; choose from {', '.join(BACKENDS)}")
    jobs = []
    for path, card in cards:
        available = card.training.seeds
        if seeds is not None and not 1 <= seeds <= len(available):
            raise PhaseError(
                f"{path}: --seeds {seeds} asks for more seeds than the card trains "
                f"(training.seeds = {list(available)}); choose 1 to {len(available)}"
            )
        chosen = available if seeds is None else available[:seeds]
        on = backends or (default_backend(card),)
        jobs += [Job(path, card, backend, seed) for backend in on for seed in chosen]
    return jobs


def find_run(runs_root: Path, card: ExperimentCard, backend: str, seed: int) -> Path | None:
    """The newest run folder of exactly this card content, backend and seed, or None."""
    folder = Path(runs_root) / card.name / backend
    found = []
    for provenance_file in sorted(folder.glob("*/provenance.json")):
        try:
            prov = json.loads(provenance_file.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if prov.get("card_hash") == card.content_hash() and prov.get("seed") == seed:
            found.append((prov.get("created", ""), provenance_file.parent))
    return max(found)[1] if found else None


def run_state(run_dir: Path | None, card: ExperimentCard) -> str:
    """`new` (no run or no checkpoint yet), `started` or `finished` (its latest checkpoint is the card's
    last update)."""
    from ampbench.learning.checkpoint import checkpoint_name
    from ampbench.learning.update import schedule

    if run_dir is None:
        return "new"
    try:
        checkpoint = latest_checkpoint(run_dir)
    except RunError:
        return "new"
    return "finished" if checkpoint.name == checkpoint_name(schedule(card)[1]) else "started"


def missing_clips(card: ExperimentCard) -> list[str]:
    from ampbench.motion.loader import clip_files

    return [ref.name for ref in card.mocap.clips if not clip_files(ref.name)]


def check_clips(jobs: Sequence[Job]) -> None:
    """Every card's clips are in the clip cache, before anything trains."""
    missing = {job.card.name: missing_clips(job.card) for job in jobs}
    missing = {name: clips for name, clips in missing.items() if clips}
    if not missing:
        return
    recorded = sorted({clip for clips in missing.values() for clip in clips if clip.startswith("recorded/")})
    how = "run `ampbench data fetch` for the public clips"
    if recorded:
        how += (
            f"; {recorded} are recorded from a trained policy: reproduce its phase first, then "
            "record each with `ampbench collect RUN_DIR --name <clip>` (the card's description says which "
            "policy its clips come from)"
        )
    raise PhaseError(f"clips missing from the clip cache: {missing}; {how}")


def train_job(job: Job, runs_root: Path, overlays: tuple[str, ...], echo: Callable[[str], None]) -> Path:
    """The job's finished run folder: kept, resumed or newly trained."""
    run_dir = find_run(runs_root, job.card, job.backend, job.seed)
    state = run_state(run_dir, job.card)
    if state == "finished":
        echo(f"  trained already: {run_dir}")
        return run_dir
    if state == "started":
        echo(f"  resuming {run_dir} from {latest_checkpoint(run_dir).name}")
        (resumed,) = resume_runs([run_dir])
        return resumed
    echo("  training a new run")
    (new_dir,) = start_runs(
        job.card, backend=job.backend, seeds=(job.seed,), runs_root=runs_root, overlays=overlays
    )
    return new_dir


def scored_already(run_dir: Path, results_root: Path, card: ExperimentCard, backend: str) -> Path | None:
    """The run's score file when it scored the run's current latest checkpoint."""
    path = Path(results_root) / card.name / backend / Path(run_dir).name / "scores.json"
    if not path.is_file():
        return None
    try:
        scored = json.loads(path.read_text())["provenance"]["checkpoint_sha256"]
    except (OSError, KeyError, TypeError, json.JSONDecodeError):
        return None
    return path if scored == file_sha256(latest_checkpoint(run_dir)) else None


def score_job(job: Job, run_dir: Path, results_root: Path, smoke: bool, echo: Callable[[str], None]) -> bool:
    """Score the run unless its score file is current; False when a card expectation fails."""
    from ampbench.pipeline.score import score_run

    existing = scored_already(run_dir, results_root, job.card, job.backend)
    if existing is not None:
        echo(f"  scored already: {existing}")
        document = json.loads(existing.read_text())
    else:
        echo(f"  scoring {run_dir} ({'smoke grid' if smoke else 'evaluation protocol'})")
        document, path = score_run(run_dir, results_root=results_root, smoke=smoke)
        echo(f"  wrote {path}")
    failed = [item for item in document["expectations"] if not item["passed"]]
    for item in failed:
        echo(f"  FAIL  {item['metric']} = {item['value']} (expected >= {item['at_least']})")
    return not failed


def reproduce(
    phase: str,
    *,
    backends: Sequence[str],
    seeds: int | None = None,
    smoke: bool = False,
    cards_dir: Path = Path("benchmarks"),
    runs_root: Path = Path("runs"),
    results_root: Path = Path("results"),
    echo: Callable[[str], None] = print,
) -> bool:
    """Train and score every job of the phase; True when every card expectation held."""
    overlays = ("smoke",) if smoke else ()
    jobs = plan(phase_cards(phase, cards_dir, overlays), backends, seeds)
    check_clips(jobs)
    passed = True
    for number, job in enumerate(jobs, 1):
        echo(f"[{phase} {number}/{len(jobs)}] {job.label()} ({job.card_path}{', smoke' if smoke else ''})")
        run_dir = train_job(job, runs_root, overlays, echo)
        if stop_signal() is not None:
            echo(f"stopped by a signal with {run_dir} checkpointed; the same command resumes it")
            return False
        passed &= score_job(job, run_dir, results_root, smoke, echo)
    return passed
