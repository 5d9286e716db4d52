"""Scoring, composed forwards: the run's policy file is loaded as a policy, a simulator (the run's own
backend, or the one asked for) plays it through the evaluation scenarios, and scoring turns the
`Rollout`s into scores.json.

No simulator-specific code here: a simulator speaks only `EvalScenario` in, `Rollout` out, so any backend
scores any backend's policy.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from ampbench.cards import ExperimentCard, with_overlays
from ampbench.core.curves import read_scalars, window_means
from ampbench.core.files import atomic_write_json, file_sha256
from ampbench.core.provenance import CORE_PACKAGES, container, git_commit, hardware, package_versions
from ampbench.core.runs import latest_checkpoint, run_lock
from ampbench.learning.checkpoint import read_checkpoint
from ampbench.learning.policy import load_players
from ampbench.learning.update import schedule
from ampbench.motion.clip import ClipError
from ampbench.motion.loader import MotionLibrary, load_library
from ampbench.pipeline.memory import check_scoring_fits
from ampbench.pipeline.runs import load_run
from ampbench.robot.model import build_mj_model, humanoid_spec
from ampbench.scoring.breaking import breaking_points
from ampbench.scoring.imitation import ClipDistribution
from ampbench.scoring.metrics import pose_strides
from ampbench.scoring.scenarios import evaluation_scenarios
from ampbench.scoring.score import finite_or_none, score_rollouts
from ampbench.scoring.score_files import LEARNING_CURVES, write_scores
from ampbench.sim import get_simulator
from ampbench.task.humanoid import HumanoidTask
from ampbench.task.imitation import clip_reference

REFERENCE_SEED = 0
"""Seed of the clip draw a score file's imitation distance is measured against (and of its floor)."""


def imitation_references(card: ExperimentCard, library: MotionLibrary) -> dict[str, tuple[np.ndarray, float]]:
    """Joint angles (model DOF order) of each skill's first clip, for the DTW imitation error."""
    dof_names = humanoid_spec(card.humanoid.model).dof_names
    references = {}
    for skill, clip in zip(library.skills, library.clips, strict=True):
        if skill not in references:
            order = [clip.dof_names.index(name) for name in dof_names]
            references[skill] = (clip.dof_positions[:, order], 1.0 / clip.fps)
    return references


def clip_strides(card: ExperimentCard, library: MotionLibrary) -> dict[str, dict[str, float | None]]:
    """Stride period (s) and length (m) of each skill's first clip, measured as a policy's are: the card's
    gait foot, played at the control rate for an evaluation episode (a loop clip loops)."""
    gait, dt = card.evaluation.gait_pushes, card.simulator.control_dt
    root = humanoid_spec(card.humanoid.model).body_names[0]
    foot, pelvis = library.body_names.index(gait.foot), library.body_names.index(root)
    measured = {}
    for index, (skill, clip) in enumerate(zip(library.skills, library.clips, strict=True)):
        if skill in measured:
            continue
        seconds = card.evaluation.episode_seconds if clip.loop else clip.duration
        state = library.state_at(index, np.arange(0.0, seconds, dt))
        period, length = pose_strides(
            state.body_positions[None, :, foot],
            state.body_positions[None, :, pelvis],
            state.body_rotations[None, :, pelvis],
            state.body_linear_velocities[None, :, pelvis],
            np.ones((1, len(state.body_positions)), bool),
            dt,
            gait.contact_height,
        )
        measured[skill] = {"period_s": finite_or_none(period[0]), "length_m": finite_or_none(length[0])}
    return measured


def clip_distribution(card: ExperimentCard, library: MotionLibrary) -> ClipDistribution:
    """The clips' AMP feature distribution, for the imitation distance."""
    task = HumanoidTask(card, library, build_mj_model(card.simulator, card.humanoid))
    settings, rng = card.evaluation.imitation, np.random.default_rng(REFERENCE_SEED)
    with_clips = [skill for skill in task.skill_names if skill in library.skills]
    skills = with_clips if len(with_clips) > 1 else ()
    by_skill = {skill: clip_reference(task, settings, rng, skill) for skill in skills}
    return ClipDistribution(task, clip_reference(task, settings, rng), by_skill)


def score_run(
    run_dir: Path, *, results_root: Path, smoke: bool = False, on: str | None = None
) -> tuple[dict[str, Any], Path]:
    """Evaluate the run's latest checkpoint under the `eval` overlay and write its score file; `on`
    scores it on another backend than it trained on (same protocol, same policy file)."""
    with run_lock(run_dir):
        return _score_locked(run_dir, results_root=results_root, smoke=smoke, on=on)


def _score_locked(
    run_dir: Path, *, results_root: Path, smoke: bool, on: str | None
) -> tuple[dict[str, Any], Path]:
    card, run_provenance = load_run(run_dir)
    checkpoint = latest_checkpoint(run_dir)
    trained_on = run_provenance["backend"]
    scored_on = on or trained_on
    simulator = get_simulator(scored_on)
    check_scoring_fits(card)
    eval_card = with_overlays(card, ("eval",))
    player = load_players(checkpoint)
    # played one scenario at a time as scoring reads them: only the unpushed and endurance ones are kept
    scenarios = evaluation_scenarios(eval_card, smoke=smoke)
    rollouts = (simulator.rollout(eval_card, player, scenario) for scenario in scenarios)
    try:  # the clip-based figures (imitation error and distance, the clips' strides) need the clips
        library = load_library(card.mocap)
    except ClipError:
        library = None
    document = score_rollouts(
        card,
        rollouts,
        references=None if library is None else imitation_references(card, library),
        clips=None if library is None else clip_distribution(card, library),
        clip_strides=None if library is None else clip_strides(card, library),
    )
    document["breaking_point"] = breaking_points(
        eval_card, lambda scenario: simulator.rollout(eval_card, player, scenario), smoke=smoke
    )
    document["budget"] = training_budget(card, checkpoint)
    # The run's own hash (its card.json as trained): a field added to the schema since fills in its default
    # and changes `content_hash`, not the run, so a rescore keeps the run in its card version's group.
    document["card_hash"] = run_provenance["card_hash"]
    provenance = {
        "card_hash": run_provenance["card_hash"],
        "commit": run_provenance["commit"],
        "scoring_commit": git_commit(),
        "versions": {**package_versions(CORE_PACKAGES), **simulator.versions()},
        "hardware": hardware(),
        "device": simulator.device(),
        "container": container(),
        "checkpoint": str(checkpoint.relative_to(run_dir)),
        "checkpoint_sha256": file_sha256(checkpoint),
        "training": run_provenance,
        "smoke_protocol": smoke,
    }
    path = write_scores(
        document, results_root, card, trained_on, Path(run_dir).name, provenance, scored_on=scored_on
    )
    if scored_on == trained_on:
        write_learning_curves(run_dir, path.parent / LEARNING_CURVES, card.simulator.control_dt)
    return document, path


def training_budget(card: ExperimentCard, checkpoint: Path) -> dict[str, Any]:
    """How far the scored checkpoint trained: its env steps against the card's (a run stopped by
    `--minutes`, or scored mid-way, is a partial result and the tables say so)."""
    if checkpoint.suffix == ".msgpack":  # ampbench's trainer: update index x steps per update
        per_update, updates = schedule(card)
        done, planned = int(read_checkpoint(checkpoint)["update"]) * per_update, updates * per_update
    else:  # skrl's `policy_agent_<timesteps>`: control steps of the whole batch
        envs = card.training.envs
        done, planned = int(checkpoint.stem.rsplit("_", 1)[1]) * envs, card.training.steps // envs * envs
    return {"env_steps": done, "card_env_steps": planned, "fraction": done / planned}


CURVE_TAGS = (
    "episode/length",
    "reward/style",
    "reward/task",
    "disc/logit_reference",
    "disc/logit_policy",
    "disc/logit_policy_std",
    "disc/accuracy_reference",
    "disc/accuracy_policy",
    "env/velocity_error",
    "imitation/frechet",
    "imitation/floor",
    "ppo/action_std",
    "ppo/learning_rate",
    "perf/steps_per_second",
    "perf/wall_steps_per_second",
)
"""The training scalars kept beside a score file, so the report draws learning curves from results/."""
CURVE_MAX_POINTS = 500
"""Points per kept curve: a 30M-step run logs ~7,000 per tag (4.4 MB of JSON for all); 500 window means
draw the same curve in a tenth of the space. Figures such as a last-10% mean come from the run's
TensorBoard files, which keep every record."""


def write_learning_curves(run_dir: Path, path: Path, control_dt: float) -> Path:
    """The run's CURVE_TAGS against env steps, from its TensorBoard files, as JSON beside its scores;
    what could not be read is said on stderr and kept in the file (`skipped`)."""
    skipped: list[str] = []
    scalars = read_scalars(run_dir, skipped)
    for message in skipped:
        print(f"ampbench: {run_dir}/tb/{message}", file=sys.stderr)
    curves = {tag: window_means(*scalars[tag], CURVE_MAX_POINTS) for tag in CURVE_TAGS if tag in scalars}
    atomic_write_json(
        path, {"run": Path(run_dir).name, "control_dt": control_dt, "curves": curves, "skipped": skipped}
    )
    return path
