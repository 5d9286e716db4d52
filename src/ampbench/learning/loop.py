"""The PPO + AMP training loop: one card in, checkpoints, TensorBoard scalars and a policy out, whatever
simulates the env.

Shape of Brax's PPO trainer (a jitted update built from `lax.scan`s, `progress_fn(step, metrics)`), with
the card as the only configuration. Two kinds of env drive the same update (`learning.update`): a
`JaxEnv` (MJX: single-env pure functions, rolled out inside the one compiled update) and a `BatchedEnv`
(MuJoCo C, Isaac Lab: batches stepped on the host, the policy jitted, the learning step compiled apart).
Every update's keys and reference draws derive from (seed, update index), and checkpoints hold the env
batch too, so a resumed run continues exactly.
"""

from __future__ import annotations

import json
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tensorboardX import SummaryWriter
from tqdm import tqdm

import ampbench
from ampbench.cards import ExperimentCard
from ampbench.core import compile_cache, program_cache
from ampbench.core.files import atomic_write_json
from ampbench.core.runs import RunError, latest_checkpoint
from ampbench.learning import policy_file
from ampbench.learning.checkpoint import (
    env_state_name,
    prune_env_states,
    restore_checkpoint,
    restore_env_state,
    save_checkpoint,
    save_env_state,
)
from ampbench.learning.policy import POLICY_CONFIG, policy_config, policy_file_path, write_policy_file
from ampbench.learning.update import (
    POLICY_AMP_COVARIANCE,
    POLICY_AMP_MEAN,
    HostCarry,
    RolloutCarry,
    TrainState,
    check_env_and_card,
    host_rollout,
    host_scalars,
    init_train_state,
    learn_step,
    raise_if_diverged,
    reference_rng,
    reset_envs,
    schedule,
    update_keys,
    update_step,
    with_scheduled_log_std,
)
from ampbench.sim.protocol import BatchedEnv, JaxEnv, TrainingEnv, is_batched
from ampbench.task.imitation import FeatureMoments, ImitationReference, clip_reference

TIMING = "timing.json"
IMITATION_STREAM = 0x1A17  # the seed's generator for the imitation reference, apart from the update draws
# tqdm's own rate and ETA would count the first update's compile; the postfix carries ours.
PROGRESS_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"
ProgressFn = Callable[[int, dict[str, float]], None]


@dataclass(frozen=True)
class TrainResult:
    state: TrainState
    checkpoint: Path
    updates: int
    env_steps: int
    history: list[dict[str, float]]


def committed(tree: Any) -> Any:
    """The arrays of `tree` committed to the default device. A fresh or restored state holds uncommitted
    arrays and an update's outputs are committed; a compiled update keys on that, so without this the
    second update compiles the whole update again."""
    return jax.device_put(tree, jax.devices()[0])


class FusedRollouts:
    """A `JaxEnv`'s batch and updates: rollout and learning in one compiled call (traced once per card
    and code, `program_cache`)."""

    def __init__(self, env: JaxEnv, card: ExperimentCard, seed: int):
        self.env, self.card = env, card
        self.placed_env = committed(env)
        envs, ppo, amp = card.training.envs, card.ppo, card.amp
        reset = program_cache.cached_jit(
            "reset_envs", lambda env, key: reset_envs(env, envs, key), env, static_key=f"envs={envs}"
        )
        self.carry = reset(self.placed_env, committed(update_keys(seed, 0)[0]))
        self._update = program_cache.cached_jit(
            "update_step",
            lambda env, *args: update_step(env, ppo, amp, *args),
            env,
            static_key=repr((ppo, amp)),
        )

    def snapshot(self) -> RolloutCarry:
        return self.carry

    def restore(self, saved: RolloutCarry) -> None:
        self.carry = saved

    def update(self, state: TrainState, key: jax.Array, reference: jax.Array):
        state, carry, key, reference = committed((state, self.carry, key, reference))
        new_state, self.carry, metrics, health = self._update(self.placed_env, state, carry, key, reference)
        return new_state, metrics, health


class HostRollouts:
    """A `BatchedEnv`'s batch and updates: rollout on the host, then the compiled learning step."""

    def __init__(self, env: BatchedEnv, card: ExperimentCard, seed: int):
        if env.num_envs != card.training.envs:
            raise ValueError(
                f"card {card.name}: env has {env.num_envs} envs, training.envs is {card.training.envs}"
            )
        self.env, self.card = env, card
        zeros = np.zeros(env.num_envs, np.float32)
        self.carry = HostCarry(env.reset(seed), zeros, zeros.copy())

    def snapshot(self) -> dict[str, Any]:
        return {"env": self.env.state_dict(), "carry": self.carry}

    def restore(self, saved: dict[str, Any]) -> None:
        self.env.load_state_dict(saved["env"])
        self.carry = saved["carry"]

    def update(self, state: TrainState, key: jax.Array, reference: jax.Array):
        rollout_key = jax.random.split(key, 3)[0]
        state = committed(state)
        self.carry, tr = host_rollout(self.env, self.card.ppo, state, self.carry, rollout_key)
        return learn_step(self.card.ppo, self.card.amp, state, tr, key, reference)


def rollouts_for(env: TrainingEnv, card: ExperimentCard, seed: int) -> FusedRollouts | HostRollouts:
    """The env's batch, freshly reset, with the update that suits it."""
    return HostRollouts(env, card, seed) if is_batched(env) else FusedRollouts(env, card, seed)


def _start(
    env: TrainingEnv, card: ExperimentCard, seed: int, checkpoint_dir: Path, resume: bool
) -> tuple[TrainState, FusedRollouts | HostRollouts, int]:
    """(train state, env batch, first update): fresh, or from checkpoints/latest and its env batch."""
    state = init_train_state(env, card, seed)
    batch = rollouts_for(env, card, seed)
    if not resume:
        if (checkpoint_dir / "latest").exists():
            raise RunError(
                f"{checkpoint_dir}: holds checkpoints already; resume it or choose a new run folder"
            )
        return state, batch, 0
    checkpoint = latest_checkpoint(checkpoint_dir.parent)
    state, first = restore_checkpoint(checkpoint, state, seed)
    _repair_after_crash(checkpoint)
    env_path = checkpoint_dir / env_state_name(first)
    if not env_path.is_file():
        raise RunError(
            f"{env_path}: the env batch of the latest checkpoint is missing; without it the run cannot "
            "continue where it stopped"
        )
    batch.restore(restore_env_state(env_path, batch.snapshot()))
    return state, batch, first


def _repair_after_crash(checkpoint: Path) -> None:
    """What a kill can leave behind: the resumed checkpoint's policy file missing or unreadable (the
    process died between moving `latest` and writing it) is written again, orphan `.tmp` files of
    interrupted atomic writes are removed."""
    for orphan in checkpoint.parent.glob(".*.tmp"):
        orphan.unlink(missing_ok=True)
    try:
        policy_file.read(policy_file_path(checkpoint))
    except (OSError, ValueError, zipfile.BadZipFile):
        write_policy_file(checkpoint)


def draw_references(env: TrainingEnv, card: ExperimentCard, seed: int, update: int) -> np.ndarray:
    """Update `update`'s fresh reference AMP observations (2 x its transitions), drawn on the host."""
    return env.reference_amp_observations(
        reference_rng(seed, update), 2 * card.training.envs * card.ppo.rollout_steps
    )


@dataclass(frozen=True)
class ImitationEstimate:
    """The clips' AMP feature distribution each rollout is compared with, and the floor for a rollout's
    number of rows."""

    reference: ImitationReference
    floor: float
    rows: int


def imitation_reference_for(env: TrainingEnv, card: ExperimentCard, seed: int) -> ImitationEstimate:
    """The trainer's imitation reference, from draws of the seed's own generator."""
    rng = np.random.default_rng([seed, IMITATION_STREAM])
    reference = clip_reference(env.task, card.evaluation.imitation, rng)
    rows = schedule(card)[0]
    return ImitationEstimate(reference, reference.floor(env.reference_amp_observations(rng, rows)), rows)


def run_update(
    env: TrainingEnv,
    card: ExperimentCard,
    seed: int,
    update: int,
    state: TrainState,
    batch: FusedRollouts | HostRollouts,
    reference: np.ndarray,
    imitation: ImitationEstimate,
) -> tuple[TrainState, dict[str, float], np.ndarray]:
    """One update with its finiteness check; raises before anything of the diverged update is kept.
    Returns the next update's reference draw too, made on the host while the compiled update runs.
    The card's log std schedule is applied first, at the env steps taken before this update; the
    scalars include the rollout's imitation distance (`imitation/frechet`, and its floor)."""
    state = with_scheduled_log_std(state, card.ppo, update * schedule(card)[0])
    new_state, metrics, health = batch.update(state, update_keys(seed, update)[1], jnp.asarray(reference))
    upcoming = draw_references(env, card, seed, update + 1)
    metrics, health = jax.device_get((metrics, health))
    raise_if_diverged(update, health)
    policy = FeatureMoments(metrics[POLICY_AMP_MEAN], metrics[POLICY_AMP_COVARIANCE], imitation.rows)
    scalars = {
        **host_scalars(metrics),
        "imitation/frechet": imitation.reference.distance(policy),
        "imitation/floor": imitation.floor,
    }
    return new_state, scalars, upcoming


@dataclass
class Throughput:
    """This process's training speed: the first update (which compiles, unless the persistent cache
    had it) apart from the rest, and the wall clock with everything (compile, checkpoints, logging)."""

    steps_per_update: int
    started: float = field(default_factory=time.monotonic)
    update_seconds: list[float] = field(default_factory=list)
    cache_at_start: dict[str, int] = field(default_factory=compile_cache.counts)
    programs_at_start: dict[str, int] = field(default_factory=program_cache.counts)
    first_update_done: float = 0.0

    def add(self, seconds: float) -> None:
        if not self.update_seconds:
            self.first_update_done = time.monotonic()
        self.update_seconds.append(seconds)

    @property
    def update_rate(self) -> float:
        """Env steps per second of the updates after the first (of the first while it is the only one)."""
        timed = self.update_seconds[1:] or self.update_seconds
        return self.steps_per_update * len(timed) / sum(timed)

    @property
    def wall_rate(self) -> float:
        return self.steps_per_update * len(self.update_seconds) / (time.monotonic() - self.started)

    @property
    def compile_seconds(self) -> float:
        """First update's time beyond a typical update's: compiling, or loading from the cache."""
        return max(0.0, self.update_seconds[0] - self.steps_per_update / self.update_rate)

    def record(self) -> dict[str, Any]:
        now = compile_cache.counts()
        return {
            "seconds_to_first_update": self.first_update_done - ampbench.IMPORTED_AT,
            "first_update_seconds": self.update_seconds[0],
            "compile_seconds": self.compile_seconds,
            "updates": len(self.update_seconds),
            "update_env_steps_per_second": self.update_rate,
            "wall_env_steps_per_second": self.wall_rate,
            "compile_cache": {key: now[key] - self.cache_at_start[key] for key in now},
            "traced_programs": {
                key: count - self.programs_at_start[key] for key, count in program_cache.counts().items()
            },
        }


def write_timing(run_dir: Path, started_at: str, throughput: Throughput) -> None:
    """`timing.json`: one entry per start of the run (a resume adds one), rewritten at each checkpoint."""
    path = run_dir / TIMING
    starts = json.loads(path.read_text())["starts"] if path.is_file() else []
    starts = [entry for entry in starts if entry["started_at"] != started_at]
    starts.append({"started_at": started_at, **throughput.record()})
    atomic_write_json(path, {"starts": starts})


def _report(
    writer: SummaryWriter,
    bar: tqdm,
    progress_fn: ProgressFn | None,
    scalars: dict[str, float],
    env_steps: int,
    throughput: Throughput,
) -> None:
    scalars = {
        **scalars,
        "perf/steps_per_second": throughput.update_rate,
        "perf/wall_steps_per_second": throughput.wall_rate,
    }
    for name, value in scalars.items():
        writer.add_scalar(name, value, global_step=env_steps)
    bar.update(env_steps - bar.n)
    eta = (bar.total - env_steps) / throughput.update_rate
    postfix = {"steps/s": f"{throughput.update_rate:.0f}", "eta": tqdm.format_interval(eta)}
    if "episode/length" in scalars:
        postfix["ep_len"] = f"{scalars['episode/length']:.0f}"
    postfix["reward"] = f"{scalars['reward/total']:.3f}"
    bar.set_postfix(postfix)
    if progress_fn is not None:
        progress_fn(env_steps, scalars)


def train(
    env: TrainingEnv,
    card: ExperimentCard,
    *,
    seed: int,
    run_dir: str | Path,
    resume: bool,
    progress_fn: ProgressFn | None = None,
    minutes: float | None = None,
) -> TrainResult:
    """Train one seed into `run_dir` (checkpoints/, tb/); `resume` continues from checkpoints/latest.

    `progress_fn(env_steps, scalars)` is called after every update (after its checkpoint, if one was due).
    With `minutes`, the first update that ends past that wall-clock budget writes a checkpoint and stops.
    """
    deadline = None if minutes is None else time.monotonic() + 60.0 * minutes
    check_env_and_card(env, card, seed)
    checkpoint_dir = Path(run_dir) / "checkpoints"
    per_update, updates = schedule(card)
    throughput, started_at = Throughput(per_update), datetime.now(UTC).isoformat(timespec="seconds")
    state, batch, first = _start(env, card, seed, checkpoint_dir, resume)
    atomic_write_json(checkpoint_dir / POLICY_CONFIG, policy_config(env, card))
    if env.task.constant_amp_columns:
        print(
            f"card {card.name}: {len(env.task.constant_amp_columns)} AMP feature columns never move in the "
            f"clips and are masked (amp.constant_feature_std {card.amp.constant_feature_std}): "
            f"{', '.join(env.task.constant_amp_columns)}"
        )
    history: list[dict[str, float]] = []
    purge_step = first * per_update + 1 if first else None  # past the resumed checkpoint's own record
    with (
        SummaryWriter(str(Path(run_dir) / "tb"), purge_step=purge_step) as writer,
        tqdm(
            total=updates * per_update,
            initial=first * per_update,
            unit="step",
            unit_scale=True,
            bar_format=PROGRESS_FORMAT,
        ) as bar,
    ):
        done = first
        reference = draw_references(env, card, seed, first)
        imitation = imitation_reference_for(env, card, seed)
        for update in range(first, updates):
            update_started = time.perf_counter()
            state, scalars, reference = run_update(
                env, card, seed, update, state, batch, reference, imitation
            )
            throughput.add(time.perf_counter() - update_started)
            done = update + 1
            out_of_time = deadline is not None and time.monotonic() >= deadline
            if done % card.training.checkpoint_every == 0 or done == updates or out_of_time:
                save_env_state(checkpoint_dir, batch.snapshot(), update=done)
                write_policy_file(save_checkpoint(checkpoint_dir, state, update=done, seed=seed))
                prune_env_states(checkpoint_dir)
                write_timing(Path(run_dir), started_at, throughput)
            history.append(scalars)
            _report(writer, bar, progress_fn, scalars, done * per_update, throughput)
            if out_of_time:
                break
    return TrainResult(state, latest_checkpoint(Path(run_dir)), done, done * per_update, history)
