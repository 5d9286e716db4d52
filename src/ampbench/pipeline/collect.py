"""The torque recorder: play a trained policy and keep what it did as torque-motion clips.

Each env's episode, its first second after the reset left out and cut at a fall or at a travelled
distance, becomes one clip in the project's clip format with `joint_torques`; the episodes together are
one folder clip in the cache, so a torque-feature card trains on several episodes. The policy plays with
its training action noise by default, so the discriminator cannot tell reference torques from a
training policy's by noise alone. Backend-neutral: the run's own simulator plays the policy through an
evaluation `Rollout`, as scoring does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ampbench.cards import with_overlays
from ampbench.core.runs import latest_checkpoint, run_lock
from ampbench.learning.policy import load_players
from ampbench.motion.clip import MotionClip
from ampbench.motion.clip_files import save_clip
from ampbench.motion.convert.csvio import clip_to_csv
from ampbench.motion.loader import clip_path
from ampbench.pipeline.runs import load_run
from ampbench.report.plots import plot_torque_profile
from ampbench.scoring.falls import fall_step_of
from ampbench.sim import get_simulator
from ampbench.sim.records import EvalScenario, Rollout

MIN_FRAMES = 10
ACTION_NOISE = {True: "noisy_policy", False: "deterministic_policy"}


def episode_span(rollout: Rollout, env: int, distance: float | None, skip_seconds: float) -> tuple[int, int]:
    """(first, end) frames to keep for one env: from `skip_seconds` after the reset (its transient left
    out) up to its fall, or until it has travelled `distance` metres."""
    first = round(skip_seconds / rollout.dt)
    fall = fall_step_of(rollout)[env]
    end = fall if fall >= 0 else rollout.steps
    if distance is not None:
        travelled = np.linalg.norm(
            rollout.root_position[env, :, :2] - rollout.root_position[env, :1, :2], axis=-1
        )
        reached = np.flatnonzero(travelled >= distance)
        if reached.size:
            end = min(end, int(reached[0]) + 1)
    return first, int(end)


def rollout_clip(rollout: Rollout, env: int, frames: slice, source: str, action_noise: str) -> MotionClip:
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
        action_noise=action_noise,
        source=source,
    )


RECORDING_MARKER = "RECORDED_BY_COLLECT"
"""Written into every clip folder `collect` makes: `--force` replaces only folders that hold it."""


def check_replaceable(cache_dir: Path, name: str, force: bool) -> None:
    """Refuse a clip name that exists, unless `force` and it is a recording of collect's own: fetched or
    converted clips are never deleted."""
    single = cache_dir.with_suffix(".npz")
    if not (cache_dir.exists() or single.exists()):
        return
    if not force:
        raise FileExistsError(f"{cache_dir} exists (clip '{name}'); choose another --name or pass --force")
    if single.exists() or not (cache_dir / RECORDING_MARKER).is_file():
        raise FileExistsError(
            f"{cache_dir}: clip '{name}' was not recorded by ampbench collect (no {RECORDING_MARKER} in it); "
            "--force replaces only recordings, so choose another --name"
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
    action_noise: bool = True,
    skip_seconds: float = 1.0,
) -> list[Path]:
    """Record `envs` episodes into `run_dir/recordings/<name>/` and into the clip cache as the folder clip
    `name` (one clip per episode that lasts MIN_FRAMES past `skip_seconds`); plot the longest one's
    torque profile. `action_noise` plays the policy as it trained (mean + its std x noise), so that the
    recorded torques carry the same noise as a training policy's (`AmpConfig.reference_torques`)."""
    cache_dir = clip_path(name, data_dir).with_suffix("")
    check_replaceable(cache_dir, name, force)
    with run_lock(run_dir):
        card, provenance = load_run(run_dir)
        checkpoint = latest_checkpoint(run_dir)
        scenario = EvalScenario(
            name=f"collect/{name}",
            seed=seed,
            envs=envs,
            episode_seconds=seconds,
            skill=skill,
            action_noise=action_noise,
        )
        simulator = get_simulator(provenance["backend"])
        rollout = simulator.rollout(with_overlays(card, ("eval",)), load_players(checkpoint), scenario)
        out_dir = Path(run_dir) / "recordings" / name
        clips = {}
        for env in range(rollout.envs):
            first, end = episode_span(rollout, env, distance, skip_seconds)
            if end - first >= MIN_FRAMES:
                source = f"{checkpoint} env {env} frames {first}-{end}"
                clips[f"env{env:03d}.npz"] = rollout_clip(
                    rollout, env, slice(first, end), source, ACTION_NOISE[action_noise]
                )
        if not clips:
            raise RuntimeError(
                f"{run_dir}: no recorded episode lasted {MIN_FRAMES} frames past the first {skip_seconds} s; "
                "no clip worth keeping"
            )
        if force:  # only a recording of collect's own (check_replaceable)
            for old in cache_dir.glob("*.npz"):
                old.unlink()
        cache_dir.mkdir(parents=True, exist_ok=True)
        (cache_dir / RECORDING_MARKER).write_text(f"recorded by ampbench collect from {checkpoint}\n")
        written = []
        for file_name, clip in clips.items():
            for folder in (out_dir, cache_dir):
                save_clip(clip, folder / file_name)
                written.append(folder / file_name)
            if csv:
                clip_to_csv(clip, (out_dir / file_name).with_suffix(".csv"))
                written.append((out_dir / file_name).with_suffix(".csv"))
        longest = max(clips, key=lambda file_name: clips[file_name].num_frames)
        plot = plot_torque_profile(out_dir / longest, out_dir / "torques.png")
        return [*written, plot]
