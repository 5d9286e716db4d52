"""Watch a policy, composed forwards: the run's policy is played by a simulator (its own backend, or the
one asked for) for one unpushed episode and one at the card's headline push, and each recording is drawn
beside its clip (`ampbench.render.video`) into an MP4 and a PNG filmstrip next to the run's score file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ampbench.cards import ExperimentCard, with_overlays
from ampbench.core.runs import latest_checkpoint
from ampbench.learning.policy import load_players
from ampbench.motion.loader import load_library
from ampbench.pipeline.runs import load_run
from ampbench.render.video import (
    FrameRenderer,
    Poses,
    filmstrip,
    ghost_qpos,
    push_arrows,
    rollout_qpos,
    write_image,
    write_video,
)
from ampbench.robot.model import build_mj_model
from ampbench.scoring.score_files import result_folder
from ampbench.sim import get_simulator
from ampbench.sim.records import EvalScenario, Rollout, ScheduledPush


def watch_scenarios(card: ExperimentCard) -> list[EvalScenario]:
    """One env unpushed and, where the card names a headline push, one pushed at it halfway through (from
    the side: the grid's first body, azimuth 90), on the first evaluation seed."""
    settings, evaluation = card.evaluation.render, card.evaluation
    seed = evaluation.seeds[0]
    scenarios = [EvalScenario(name="unpushed", seed=seed, envs=1, episode_seconds=settings.seconds)]
    if evaluation.headline_push is not None:
        push = ScheduledPush(
            body=evaluation.push_grid.bodies[0],
            force=evaluation.headline_push.force,
            duration=evaluation.headline_push.duration,
            azimuth_deg=90.0,
            start_seconds=settings.seconds / 2,
        )
        scenarios.append(
            EvalScenario(name="push", seed=seed, envs=1, episode_seconds=settings.seconds, push=push)
        )
    return scenarios


def poses_of(card: ExperimentCard, rollout: Rollout, library, stride: int) -> Poses:
    """The recording's env 0 every `stride` steps, the ghost of the first clip of the skill it was
    commanded, and the push arrow."""
    policy = rollout_qpos(rollout, 0)
    skill = card.commands.bands[int(np.argmax(rollout.command[0, 0, 1:]))].skill
    clip_index = library.skills.index(skill)
    ghost = ghost_qpos(library, clip_index, policy, rollout.dof_names, rollout.dt)
    arrows = push_arrows(rollout, 0, card.evaluation.render.arrow_m_per_newton)
    return Poses(policy[::stride], ghost[::stride], arrows[::stride])


def render_run(run_dir: Path, *, results_root: Path, on: str | None = None) -> list[Path]:
    """Write `unpushed.mp4/.png` (and `push.mp4/.png`) into the run's results folder; returns the paths."""
    card, run_provenance = load_run(run_dir)
    trained_on = run_provenance["backend"]
    scored_on = on or trained_on
    simulator = get_simulator(scored_on)
    eval_card = with_overlays(card, ("eval",))
    player = load_players(latest_checkpoint(run_dir))
    library = load_library(card.mocap)
    settings = card.evaluation.render
    stride = max(1, round(1.0 / (settings.fps * card.simulator.control_dt)))
    folder = result_folder(results_root, card, trained_on, Path(run_dir).name, scored_on)
    folder.mkdir(parents=True, exist_ok=True)
    renderer = FrameRenderer(build_mj_model(card.simulator, card.humanoid), settings)
    written = []
    try:
        for scenario in watch_scenarios(eval_card):
            rollout = simulator.rollout(eval_card, player, scenario)
            frames = renderer.frames(poses_of(card, rollout, library, stride))
            fps = 1.0 / (stride * card.simulator.control_dt)
            written.append(write_video(folder / f"{scenario.name}.mp4", frames, fps))
            written.append(
                write_image(folder / f"{scenario.name}.png", filmstrip(frames, settings.filmstrip_frames))
            )
    finally:
        renderer.close()
    return written
