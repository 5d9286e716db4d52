"""The torque recorder (note A, stage 1): play a trained policy and keep what it did as torque-motion clips.

Each env's episode, cut at a fall or at a travelled distance, becomes one clip in the project's clip
format with `joint_torques`, so a torque-feature card can train on it. Backend-neutral: it asks the run's
backend for an evaluation `Rollout` like the scorer does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ampbench.backends import get_backend
from ampbench.backends.protocol import EvalScenario, Rollout
from ampbench.cards import with_overlays
from ampbench.motion.clip import MotionClip, save_clip
from ampbench.motion.csvio import clip_to_csv
from ampbench.motion.loader import clip_path
from ampbench.report import plot_torque_profile
from ampbench.runs import latest_checkpoint, load_run

MIN_FRAMES = 10


def episode_end(rollout: Rollout, env: int, distance: float | None) -> int:
    """Frames to keep for one env: up to its fall, or until it has travelled `distance` metres."""
    end = rollout.fall_step[env] if rollout.fall_step[env] >= 0 else rollout.steps
    if distance is not None:
        travelled = np.linalg.norm(
            rollout.root_position[env, :, :2] - rollout.root_position[env, :1, :2], axis=-1
        )
        reached = np.flatnonzero(travelled >= distance)
        if reached.size:
            end = min(end, int(reached[0]) + 1)
    return int(end)


def rollout_clip(rollout: Rollout, env: int, end: int, source: str) -> MotionClip:
    frames = slice(0, end)
    return MotionClip(
        fps=1.0 / rollout.dt,
        dof_names=rollout.dof_names,
        body_names=rollout.body_names,
        dof_positions=rollout.dof_positions[env, frames],
        dof_velocities=rollout.dof_velocities[env, frames],
        body_positions=rollout.body_positions[env, frames],
        body_rotations=rollout.body_rotations[env, frames],
        body_linear_velocities=rollout.body_linear_velocities[env, frames],
        body_angular_velocities=rollout.body_angular_velocities[env, frames],
        joint_torques=rollout.joint_torques[env, frames],
        source=source,
    )


def collect(
    run_dir: Path,
    *,
    name: str,
    envs: int,
    seconds: float,
    distance: float | None = None,
    skill: str | None = None,
    csv: bool = False,
    seed: int = 0,
    data_dir: Path | None = None,
    force: bool = False,
) -> list[Path]:
    """Record `envs` episodes into `run_dir/recordings/<name>/`; the longest also becomes clip `name`
    in the clip cache, and its torque profile is plotted beside the recordings."""
    cache_path = clip_path(name, data_dir)
    if cache_path.exists() and not force:
        raise FileExistsError(f"{cache_path} exists (clip '{name}'); choose another --name or pass --force")
    card, provenance = load_run(run_dir)
    checkpoint = latest_checkpoint(run_dir)
    scenario = EvalScenario(
        name=f"collect/{name}", seed=seed, envs=envs, episode_seconds=seconds, skill=skill
    )
    rollout = get_backend(provenance["backend"]).rollout(with_overlays(card, ("eval",)), checkpoint, scenario)
    out_dir = Path(run_dir) / "recordings" / name
    written, longest = [], None
    for env in range(rollout.envs):
        end = episode_end(rollout, env, distance)
        if end < MIN_FRAMES:
            continue
        clip = rollout_clip(rollout, env, end, source=f"{checkpoint} env {env}")
        path = out_dir / f"env{env:03d}.npz"
        save_clip(clip, path)
        written.append(path)
        if csv:
            clip_to_csv(clip, path.with_suffix(".csv"))
            written.append(path.with_suffix(".csv"))
        if longest is None or clip.num_frames > longest.num_frames:
            longest = clip
    if longest is None:
        raise RuntimeError(
            f"{run_dir}: every recorded episode fell within {MIN_FRAMES} frames; no clip worth keeping"
        )
    save_clip(longest, cache_path)
    plot = plot_torque_profile(cache_path, out_dir / "torques.png")
    return [*written, cache_path, plot]
