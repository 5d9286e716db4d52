"""A phase on a SLURM cluster, through submitit: every (card, backend, seed) training is a job, its scoring
a job that starts when the training ends well (`afterok`), and a last job renders results/README.md once
every score has landed (`afterany`).

Each job runs one `ampbench` command (in the project's container image where `container` names an engine,
else in the submitting venv) and decides what to do when it starts, from the run folders as they are
then: a training job trains a new run or resumes the newest started one, as `ampbench reproduce` does
on one machine. Before SLURM preempts or times out a job it sends a signal (submitit asks for SIGUSR2 90 s
ahead; `scancel --signal=USR1` does the same by hand): the job tells its `ampbench train` to stop after
the update in flight with a checkpoint (`core.stop`), then has submitit requeue it; the requeued job
resumes the run from that checkpoint. Resume is exact, so the run ends on the checkpoint an uninterrupted
run ends on.

Job ids go to `<runs>/.slurm/<phase>.json` (submitit's scripts and logs beside it), so submitting again
sends only what is neither done nor queued, and `--status` lists each job's state. The run and results
folders must be on a file system every node sees. Cluster settings (partition, GPUs, time limit, account,
extra sbatch options, container) come from the command line or a launcher file, never from the card:
they do not change a result.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ampbench.cards import load_card
from ampbench.core import containers
from ampbench.core.files import atomic_write_json
from ampbench.core.runs import latest_checkpoint
from ampbench.motion.fetch import data_dir
from ampbench.pipeline.reproduce import Job, check_clips, find_run, run_state, scored_already

LIVE_STATES = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "REQUEUED",
        "REQUEUE_HOLD",
        "REQUEUE_FED",
        "RESIZING",
        "SUSPENDED",
        "STOPPED",
        "SIGNALING",
        "STAGE_OUT",
    }
)
"""squeue's states of a job that has not ended (a requeued job is PENDING again)."""


class LauncherError(ValueError):
    """Settings or a cluster that cannot run the phase; the message names the file, key or command."""


class ContainerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    engine: Literal["podman", "docker"]
    image: str = Field(min_length=1)
    """The project's image as the cluster's engine knows it, e.g. `ampbench-mjx:0.1.0-<commit>-cpu`
    (`nox -s build` makes it)."""


class SlurmSettings(BaseModel):
    """How jobs are asked of SLURM. Every field is optional on the command line and in a launcher file
    (YAML, the same keys); the command line wins."""

    model_config = ConfigDict(extra="forbid", strict=True)
    partition: str | None = None
    account: str | None = None
    gpus_per_job: int = Field(0, ge=0)
    cpus_per_job: int = Field(1, ge=1)
    time_minutes: int = Field(240, ge=5)
    """Each job's time limit; a training that needs longer is requeued and resumes (submitit requeues a
    timed-out job up to 3 times; preemptions do not count)."""
    sbatch: dict[str, str] = Field(default_factory=dict)
    """Extra sbatch options without their dashes, e.g. {qos: normal, constraint: a100}."""
    container: ContainerSettings | None = None


def load_settings(path: Path | None, overrides: dict[str, object]) -> SlurmSettings:
    """The launcher file's settings (when given) with the command line's non-None values over them."""
    values: dict[str, object] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as error:
            raise LauncherError(f"{path}: cannot read the launcher file: {error}") from None
        if not isinstance(loaded, dict):
            raise LauncherError(f"{path}: a launcher file is a mapping of settings, e.g. `partition: gpu`")
        values.update(loaded)
    values.update({key: value for key, value in overrides.items() if value not in (None, {}, [])})
    try:
        return SlurmSettings.model_validate(values)
    except ValidationError as error:
        where = path or "the command line"
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" for item in error.errors()
        )
        raise LauncherError(f"{where}: {problems}") from None


# ---- what a job runs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """The folders a job's command names: the host's, or, in a container, where they are mounted (the
    folders resolved, as `submit` makes them; a card or run path may be relative to the job's folder)."""

    cards_dir: Path
    runs_root: Path
    results_root: Path
    container: ContainerSettings | None = None
    cache: Path = Path(".cache/containers")
    """The images' compilation caches (XLA, Warp), as the nox sessions keep them."""

    def card(self, path: Path) -> str:
        if self.container is None:
            return str(Path(path).resolve())
        return f"{containers.WORKDIR}/benchmarks/{Path(path).resolve().relative_to(self.cards_dir)}"

    def run(self, run_dir: Path) -> str:
        if self.container is None:
            return str(Path(run_dir).resolve())
        return f"{containers.WORKDIR}/runs/{Path(run_dir).resolve().relative_to(self.runs_root)}"

    @property
    def runs(self) -> str:
        return str(self.runs_root.resolve()) if self.container is None else f"{containers.WORKDIR}/runs"

    @property
    def results(self) -> str:
        return str(self.results_root.resolve()) if self.container is None else f"{containers.WORKDIR}/results"

    def command(self, args: Sequence[str]) -> list[str]:
        """`ampbench ARGS` in this venv, or in the image with the folders mounted."""
        if self.container is None:
            return [sys.executable, "-m", "ampbench.cli", *args]
        engine, image = self.container.engine, self.container.image
        mounts = [
            *containers.workspace_mounts(
                runs=self.runs_root, results=self.results_root, clips=data_dir(), cache=self.cache
            ),
            containers.Mount(self.cards_dir, f"{containers.WORKDIR}/benchmarks", read_only=True),
        ]
        digest = containers.image_digest(engine, image)
        if digest is None:
            raise LauncherError(f"{engine} on {os.uname().nodename} has no image {image}")
        env = containers.provenance_env(image, digest, containers.engine_version(engine))
        host = replace(containers.read_host(engine), tty=False)
        return containers.run_command(host, image, args, mounts=mounts, env=env)


def run_forwarding_stop(command: Sequence[str]) -> tuple[int, int | None]:
    """Run `command`, passing on the stop signals this process gets as SIGTERM (ampbench train then stops
    after its update with a checkpoint); returns its exit code and the first signal received, if any."""
    from ampbench.core.stop import STOP_SIGNALS

    child = subprocess.Popen(list(command))
    received: list[int] = []

    def forward(signum: int, frame: object) -> None:
        received.append(signum)
        child.send_signal(signal.SIGTERM)

    previous = {signum: signal.signal(signum, forward) for signum in STOP_SIGNALS}
    try:
        code = child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return code, (received[0] if received else None)


@dataclass(frozen=True)
class PhaseJob:
    """One SLURM job of a phase (submitit's callable): `train`, `score` or `report`."""

    kind: Literal["train", "score", "report"]
    place: Place
    smoke: bool
    job: Job | None = None

    def __call__(self) -> str:
        print(f"ampbench {self.kind}: {self.job.label() if self.job else 'results/README.md'}", flush=True)
        if self.kind == "report":
            self._run(["report", "--results", self.place.results])
            return "report rendered"
        card_path = self.job.card_path
        card = load_card(card_path, overlays=("smoke",) if self.smoke else ())
        run_dir = find_run(self.place.runs_root, card, self.job.backend, self.job.seed)
        state = run_state(run_dir, card)
        if self.kind == "train":
            if state == "finished":
                return f"trained already: {run_dir}"
            if state == "started":
                args = ["train", "--resume", self.place.run(run_dir)]
            else:
                args = [
                    "train",
                    self.place.card(card_path),
                    "--backend",
                    self.job.backend,
                    "--seed",
                    str(self.job.seed),
                    "--runs",
                    self.place.runs,
                ]
                args += ["--smoke"] if self.smoke else []
            self._run(args)
            return f"trained {find_run(self.place.runs_root, card, self.job.backend, self.job.seed)}"
        if state != "finished":
            raise RuntimeError(f"{self.job.label()}: no finished run to score (state {state})")
        if scored_already(run_dir, self.place.results_root, card, self.job.backend):
            return f"scored already: {run_dir}"
        self._run(
            [
                "score",
                self.place.run(run_dir),
                "--results",
                self.place.results,
                "--no-render",  # as `ampbench reproduce` scores on one machine
                *(["--smoke"] if self.smoke else []),
            ]
        )
        return f"scored {run_dir}"

    def _run(self, args: list[str]) -> None:
        """Run `ampbench ARGS`; when the job is told to stop, let the command stop (a training writes its
        checkpoint first), then have submitit requeue the job, which starts over from the run folders."""
        submitit_handler = signal.getsignal(signal.SIGUSR2)
        code, stopped_by = run_forwarding_stop(self.place.command(args))
        if stopped_by is not None and callable(submitit_handler):
            submitit_handler(signal.SIGUSR2, None)  # calls `checkpoint`, requeues, exits
        if code != 0:
            raise RuntimeError(f"`ampbench {' '.join(args)}` exited with {code}")

    def checkpoint(self, *args: object, **kwargs: object):
        """submitit's requeue: the same job again; it resumes the run from its last checkpoint."""
        import submitit

        return submitit.helpers.DelayedSubmission(self)


# ---- submitting -----------------------------------------------------------------------------------


def state_file(runs_root: Path, phase: str, smoke: bool) -> Path:
    return Path(runs_root) / ".slurm" / f"{phase}{'-smoke' if smoke else ''}.json"


def job_key(job: Job) -> str:
    return f"{job.card.name}/{job.backend}/seed{job.seed}"


def slurm_states(job_ids: Sequence[str]) -> dict[str, str]:
    """squeue's state of each job id it still knows (ended jobs drop out after slurmctld's MinJobAge)."""
    if not job_ids:
        return {}
    try:
        listed = subprocess.run(
            ["squeue", "--noheader", "--states=all", "--format=%A %T"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        raise LauncherError(f"squeue failed ({error}); is this a SLURM login node?") from None
    states = dict(line.split() for line in listed.splitlines() if line.strip())
    return {job_id: states[job_id] for job_id in job_ids if job_id in states}


@dataclass
class Progress:
    """Where one (card, backend, seed) stands: its run, its score and its recorded jobs."""

    job: Job
    run_dir: Path | None
    run: str
    scored: bool
    jobs: dict[str, str] = field(default_factory=dict)
    """kind -> SLURM job id, as last submitted."""

    @property
    def done(self) -> bool:
        return self.run == "finished" and self.scored


def progress(jobs: Sequence[Job], runs_root: Path, results_root: Path, recorded: dict) -> list[Progress]:
    rows = []
    for job in jobs:
        run_dir = find_run(runs_root, job.card, job.backend, job.seed)
        run = run_state(run_dir, job.card)
        scored = run == "finished" and bool(scored_already(run_dir, results_root, job.card, job.backend))
        rows.append(Progress(job, run_dir, run, scored, dict(recorded.get(job_key(job), {}))))
    return rows


def missing(rows: Sequence[Progress], states: dict[str, str]) -> list[Progress]:
    """The rows to submit: not done, and with no recorded job that is still queued or running."""

    def live(row: Progress) -> bool:
        return any(states.get(job_id) in LIVE_STATES for job_id in row.jobs.values())

    return [row for row in rows if not row.done and not live(row)]


def _executor(settings: SlurmSettings, logs: Path):
    try:
        import submitit
    except ImportError:
        raise LauncherError("--launcher slurm needs submitit: pip install -e '.[slurm]'") from None

    executor = submitit.AutoExecutor(folder=logs / "%j", cluster="slurm")
    executor.update_parameters(
        timeout_min=settings.time_minutes,
        cpus_per_task=settings.cpus_per_job,
        slurm_partition=settings.partition,
        slurm_account=settings.account,
        gpus_per_node=settings.gpus_per_job or None,
    )
    return executor


def submit(
    phase: str,
    jobs: Sequence[Job],
    settings: SlurmSettings,
    *,
    smoke: bool,
    cards_dir: Path,
    runs_root: Path,
    results_root: Path,
    echo: Callable[[str], None] = print,
) -> list[Progress]:
    """Submit the training and scoring jobs that are missing and a report job after them; returns the
    rows submitted. With nothing missing, renders results/README.md here and submits nothing."""
    check_clips(jobs)
    place = Place(
        Path(cards_dir).resolve(),
        Path(runs_root).resolve(),
        Path(results_root).resolve(),
        settings.container,
        cache=Path(".cache/containers").resolve(),
    )
    path = state_file(runs_root, phase, smoke)
    recorded = json.loads(path.read_text()) if path.is_file() else {}
    rows = progress(jobs, runs_root, results_root, recorded)
    ids = [job_id for row in rows for job_id in row.jobs.values()]
    todo = missing(rows, slurm_states(ids))
    if not todo:
        done = sum(row.done for row in rows)
        if done < len(rows):
            echo(f"{phase}: nothing to submit ({done} of {len(rows)} done, the rest queued or running)")
            return []
        from ampbench.report.tables import render_results

        echo(
            f"{phase}: nothing to submit, all {done} trained and scored; wrote {render_results(results_root)}"
        )
        return []
    executor = _executor(settings, path.parent / "logs")
    score_ids = []
    for row in todo:
        key = job_key(row.job)
        sbatch = dict(settings.sbatch)
        row.jobs = {}
        if row.run != "finished":
            executor.update_parameters(name=f"train-{key}", slurm_additional_parameters=sbatch)
            row.jobs["train"] = executor.submit(PhaseJob("train", place, smoke, row.job)).job_id
            # A failed training cancels its scoring rather than leaving it pending for ever.
            sbatch = {**sbatch, "dependency": f"afterok:{row.jobs['train']}", "kill-on-invalid-dep": "yes"}
        executor.update_parameters(name=f"score-{key}", slurm_additional_parameters=sbatch)
        row.jobs["score"] = executor.submit(PhaseJob("score", place, smoke, row.job)).job_id
        score_ids.append(row.jobs["score"])
        recorded[key] = row.jobs
        echo(f"  {key}: " + ", ".join(f"{kind} job {job_id}" for kind, job_id in row.jobs.items()))
    executor.update_parameters(
        name=f"report-{phase}",
        gpus_per_node=None,
        slurm_additional_parameters={**settings.sbatch, "dependency": "afterany:" + ":".join(score_ids)},
    )
    recorded["report"] = {"report": executor.submit(PhaseJob("report", place, smoke)).job_id}
    echo(f"  report job {recorded['report']['report']} after the scores")
    atomic_write_json(path, recorded)
    return todo


def status(jobs: Sequence[Job], *, phase: str, smoke: bool, runs_root: Path, results_root: Path) -> str:
    """A table of each (card, backend, seed): its run, its score and the state of its SLURM jobs."""
    path = state_file(runs_root, phase, smoke)
    recorded = json.loads(path.read_text()) if path.is_file() else {}
    rows = progress(jobs, runs_root, results_root, recorded)
    ids = [job_id for row in rows for job_id in row.jobs.values()]
    report_ids = list(recorded.get("report", {}).values())
    states = slurm_states(ids + report_ids) if (ids or report_ids) else {}
    lines = [f"{'card/backend/seed':40} {'run':22} {'scored':7} jobs"]
    for row in rows:
        run = row.run
        if run == "started":
            run = f"started ({latest_checkpoint(row.run_dir).stem})"
        jobs_text = (
            ", ".join(f"{kind} {job_id} {states.get(job_id, 'ended')}" for kind, job_id in row.jobs.items())
            or "-"
        )
        lines.append(f"{job_key(row.job):40} {run:22} {'yes' if row.scored else 'no':7} {jobs_text}")
    for job_id in report_ids:
        lines.append(f"{'report':40} {'':22} {'':7} report {job_id} {states.get(job_id, 'ended')}")
    return "\n".join(lines)
