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

import contextlib
import json
import operator
import time
import zipfile
from collections.abc import Callable, Sequence
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
from ampbench.core.stop import deadline_after, stop_due
from ampbench.learning import policy_file
from ampbench.learning.checkpoint import (
    env_state_name,
    is_travelling,
    prune_checkpoints,
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


class _SeedAxis:
    """How a batch holds its seeds' trees: one seed's as is, several stacked on a leading axis."""

    seeds: tuple[int, ...]

    def join(self, per_seed: Sequence[Any]) -> Any:
        if len(self.seeds) == 1:
            return per_seed[0]
        return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *per_seed)

    def split(self, tree: Any) -> list[Any]:
        if len(self.seeds) == 1:
            return [tree]
        return [jax.tree_util.tree_map(operator.itemgetter(i), tree) for i in range(len(self.seeds))]


class FusedRollouts(_SeedAxis):
    """`JaxEnv` batches and their updates: rollout and learning in one compiled call (traced once per
    card and code, `program_cache`). Several seeds are one program: their envs, batches, train states,
    keys and reference draws stacked on a leading axis and the update vmapped over it."""

    def __init__(self, envs: Sequence[JaxEnv], card: ExperimentCard, seeds: Sequence[int]):
        self.card, self.seeds = card, tuple(seeds)
        envs_per_seed, ppo, amp = card.training.envs, card.ppo, card.amp

        def reset(env, key):
            return reset_envs(env, envs_per_seed, key)

        def update(env, *args):
            return update_step(env, ppo, amp, *args)

        name = "" if len(self.seeds) == 1 else f"_seeds{len(self.seeds)}"
        if len(self.seeds) == 1:
            env = envs[0]
        else:
            env, axes = type(envs[0]).stack_seeds(envs)
            reset = jax.vmap(reset, in_axes=(axes, 0))
            update = jax.vmap(update, in_axes=(axes, 0, 0, 0, 0))
        self.placed_env = committed(env)
        reset = program_cache.cached_jit("reset_envs" + name, reset, env, static_key=f"envs={envs_per_seed}")
        keys = self.join([update_keys(seed, 0)[0] for seed in self.seeds])
        self.carry = reset(self.placed_env, committed(keys))
        self._update = program_cache.cached_jit(
            "update_step" + name, update, env, static_key=repr((ppo, amp))
        )

    def snapshot(self) -> list[RolloutCarry]:
        return self.split(self.carry)

    def restore(self, saved: Sequence[RolloutCarry]) -> None:
        self.carry = self.join(saved)

    def update(self, state: TrainState, keys: Sequence[jax.Array], references: Sequence[np.ndarray]):
        key, reference = self.join(keys), self.join([jnp.asarray(r) for r in references])
        state, carry, key, reference = committed((state, self.carry, key, reference))
        new_state, self.carry, metrics, health = self._update(self.placed_env, state, carry, key, reference)
        return new_state, metrics, health


class HostRollouts(_SeedAxis):
    """A `BatchedEnv`'s batch and updates: rollout on the host, then the compiled learning step. One
    seed: host envs train their seeds one after another."""

    def __init__(self, env: BatchedEnv, card: ExperimentCard, seed: int):
        if env.num_envs != card.training.envs:
            raise ValueError(
                f"card {card.name}: env has {env.num_envs} envs, training.envs is {card.training.envs}"
            )
        self.env, self.card, self.seeds = env, card, (seed,)
        zeros = np.zeros(env.num_envs, np.float32)
        self.carry = HostCarry(env.reset(seed), zeros, zeros.copy())

    def snapshot(self) -> list[dict[str, Any]]:
        return [{"env": self.env.state_dict(), "carry": self.carry}]

    def restore(self, saved: Sequence[dict[str, Any]]) -> None:
        self.env.load_state_dict(saved[0]["env"])
        self.carry = saved[0]["carry"]

    def update(self, state: TrainState, keys: Sequence[jax.Array], references: Sequence[np.ndarray]):
        rollout_key = jax.random.split(keys[0], 3)[0]
        state = committed(state)
        self.carry, tr = host_rollout(self.env, self.card.ppo, state, self.carry, rollout_key)
        return learn_step(self.card.ppo, self.card.amp, state, tr, keys[0], jnp.asarray(references[0]))


def rollouts_for(
    envs: Sequence[TrainingEnv], card: ExperimentCard, seeds: Sequence[int]
) -> FusedRollouts | HostRollouts:
    """The envs' batch, freshly reset, with the update that suits it."""
    if not is_batched(envs[0]):
        return FusedRollouts(envs, card, seeds)
    if len(envs) != 1:
        raise ValueError(f"card {card.name}: a host env trains one seed at a time, not {list(seeds)}")
    return HostRollouts(envs[0], card, seeds[0])


def _start(
    envs: Sequence[TrainingEnv],
    card: ExperimentCard,
    seeds: Sequence[int],
    checkpoint_dirs: Sequence[Path],
    resume: bool,
) -> tuple[TrainState, FusedRollouts | HostRollouts, int]:
    """(train state, env batch, first update): fresh, or from each seed's checkpoints/latest and its env
    batch (seeds trained together resume together, from one update)."""
    states = [init_train_state(env, card, seed) for env, seed in zip(envs, seeds, strict=True)]
    batch = rollouts_for(envs, card, seeds)
    if not resume:
        for checkpoint_dir in checkpoint_dirs:
            if (checkpoint_dir / "latest").exists():
                raise RunError(
                    f"{checkpoint_dir}: holds checkpoints already; resume it or choose a new run folder"
                )
        return batch.join(states), batch, 0
    firsts, saved = [], []
    for i, (checkpoint_dir, seed, template) in enumerate(
        zip(checkpoint_dirs, seeds, batch.snapshot(), strict=True)
    ):
        checkpoint = latest_checkpoint(checkpoint_dir.parent)
        states[i], first = restore_checkpoint(checkpoint, states[i], seed)
        _repair_after_crash(checkpoint)
        env_path = checkpoint_dir / env_state_name(first)
        if env_path.is_file():
            saved.append(restore_env_state(env_path, template))
        elif is_travelling(checkpoint):
            print(f"{checkpoint}: a travelling checkpoint, without its env batch; new episodes start")
            saved.append(template)
        else:
            raise RunError(
                f"{env_path}: the env batch of the latest checkpoint is missing; without it the run cannot "
                "continue where it stopped"
            )
        firsts.append(first)
    if len(set(firsts)) != 1:
        stops = ", ".join(f"seed {seed} at update {first}" for seed, first in zip(seeds, firsts, strict=True))
        raise RunError(f"card {card.name}: the runs stopped at different updates ({stops}); resume each one")
    batch.restore(saved)
    return batch.join(states), batch, firsts[0]


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
    envs: Sequence[TrainingEnv],
    card: ExperimentCard,
    seeds: Sequence[int],
    update: int,
    state: TrainState,
    batch: FusedRollouts | HostRollouts,
    references: Sequence[np.ndarray],
    imitations: Sequence[ImitationEstimate],
) -> tuple[TrainState, list[dict[str, float]], list[np.ndarray]]:
    """One update of every seed with its finiteness check; raises before anything of the diverged update
    is kept. Returns each seed's scalars (with the rollout's imitation distance, `imitation/frechet`, and
    its floor) and next update's reference draws, made on the host while the compiled update runs. The
    card's log std schedule is applied first, at the env steps each seed took before this update."""
    state = with_scheduled_log_std(state, card.ppo, update * schedule(card)[0])
    keys = [update_keys(seed, update)[1] for seed in seeds]
    new_state, metrics, health = batch.update(state, keys, references)
    upcoming = [draw_references(env, card, seed, update + 1) for env, seed in zip(envs, seeds, strict=True)]
    metrics, health = jax.device_get((metrics, health))
    per_seed = []
    for seed, imitation, seed_metrics, seed_health in zip(
        seeds, imitations, batch.split(metrics), batch.split(health), strict=True
    ):
        raise_if_diverged(update, seed_health, seed)
        policy = FeatureMoments(
            seed_metrics[POLICY_AMP_MEAN], seed_metrics[POLICY_AMP_COVARIANCE], imitation.rows
        )
        per_seed.append(
            {
                **host_scalars(seed_metrics),
                "imitation/frechet": imitation.reference.distance(policy),
                "imitation/floor": imitation.floor,
            }
        )
    return new_state, per_seed, upcoming


@dataclass
class Throughput:
    """This process's training speed: the first update (which compiles, unless the persistent cache
    had it) apart from the rest, and the wall clock with everything (compile, checkpoints, logging)."""

    steps_per_update: int  # of every seed in the process together
    seeds: int = 1
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
        """Env steps per second (of all seeds together) of the updates after the first (of the first while
        it is the only one)."""
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
            "seeds_in_process": self.seeds,
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


def _log(writer: SummaryWriter, scalars: dict[str, float], env_steps: int, throughput: Throughput) -> dict:
    """One seed's scalars of an update, with the process's speed, into its TensorBoard folder."""
    scalars = {
        **scalars,
        "perf/steps_per_second": throughput.update_rate,
        "perf/wall_steps_per_second": throughput.wall_rate,
    }
    for name, value in scalars.items():
        writer.add_scalar(name, value, global_step=env_steps)
    return scalars


def _show(bar: tqdm, per_seed: Sequence[dict[str, float]], env_steps: int, throughput: Throughput) -> None:
    """The progress bar: env steps of each seed, the process's speed, and the seeds' mean episode length
    and reward."""
    bar.update(env_steps - bar.n)
    eta = (bar.total - env_steps) * throughput.seeds / throughput.update_rate
    postfix = {"steps/s": f"{throughput.update_rate:.0f}", "eta": tqdm.format_interval(eta)}
    lengths = [scalars["episode/length"] for scalars in per_seed if "episode/length" in scalars]
    if lengths:
        postfix["ep_len"] = f"{np.mean(lengths):.0f}"
    postfix["reward"] = f"{np.mean([scalars['reward/total'] for scalars in per_seed]):.3f}"
    bar.set_postfix(postfix)


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
    See `train_seeds`."""
    return train_seeds(
        [env], card, seeds=[seed], run_dirs=[run_dir], resume=resume, progress_fn=progress_fn, minutes=minutes
    )[0]


def train_seeds(
    envs: Sequence[TrainingEnv],
    card: ExperimentCard,
    *,
    seeds: Sequence[int],
    run_dirs: Sequence[str | Path],
    resume: bool,
    progress_fn: ProgressFn | None = None,
    minutes: float | None = None,
) -> list[TrainResult]:
    """Train seeds together, one env (built with its seed) and run folder each, into the folders a run of
    each seed alone writes; `resume` continues every one from its checkpoints/latest. Several seeds need
    `JaxEnv`s: one compiled update steps them all.

    `progress_fn(env_steps, scalars)` is called after every update for each seed (after its checkpoint, if
    one was due). With `minutes`, the first update that ends past that wall-clock budget writes a
    checkpoint and stops; so does the first update after a stop signal (`core.stop`).
    """
    deadline = deadline_after(minutes)
    for env, seed in zip(envs, seeds, strict=True):
        check_env_and_card(env, card, seed)
    run_dirs = [Path(run_dir) for run_dir in run_dirs]
    checkpoint_dirs = [run_dir / "checkpoints" for run_dir in run_dirs]
    per_update, updates = schedule(card)
    throughput = Throughput(per_update * len(seeds), seeds=len(seeds))
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    state, batch, first = _start(envs, card, seeds, checkpoint_dirs, resume)
    for env, checkpoint_dir in zip(envs, checkpoint_dirs, strict=True):
        atomic_write_json(checkpoint_dir / POLICY_CONFIG, policy_config(env, card))
    if envs[0].task.constant_amp_columns:
        columns = envs[0].task.constant_amp_columns
        print(
            f"card {card.name}: {len(columns)} AMP feature columns never move in the clips and are masked "
            f"(amp.constant_feature_std {card.amp.constant_feature_std}): {', '.join(columns)}"
        )
    histories: list[list[dict[str, float]]] = [[] for _ in seeds]
    purge_step = first * per_update + 1 if first else None  # past the resumed checkpoint's own record
    with contextlib.ExitStack() as stack:
        writers = [
            stack.enter_context(SummaryWriter(str(run_dir / "tb"), purge_step=purge_step))
            for run_dir in run_dirs
        ]
        bar = stack.enter_context(
            tqdm(
                total=updates * per_update,
                initial=first * per_update,
                unit="step",
                unit_scale=True,
                bar_format=PROGRESS_FORMAT,
            )
        )
        done = first
        references = [draw_references(env, card, seed, first) for env, seed in zip(envs, seeds, strict=True)]
        imitations = [imitation_reference_for(env, card, seed) for env, seed in zip(envs, seeds, strict=True)]
        for update in range(first, updates):
            update_started = time.perf_counter()
            state, per_seed, references = run_update(
                envs, card, seeds, update, state, batch, references, imitations
            )
            throughput.add(time.perf_counter() - update_started)
            done = update + 1
            out_of_time = stop_due(deadline)
            if done % card.training.checkpoint_every == 0 or done == updates or out_of_time:
                for seed, run_dir, snapshot, seed_state in zip(
                    seeds, run_dirs, batch.snapshot(), batch.split(state), strict=True
                ):
                    save_env_state(run_dir / "checkpoints", snapshot, update=done)
                    checkpoint = save_checkpoint(run_dir / "checkpoints", seed_state, update=done, seed=seed)
                    write_policy_file(checkpoint)
                    prune_checkpoints(run_dir / "checkpoints")
                    write_timing(run_dir, started_at, throughput)
            for writer, history, scalars in zip(writers, histories, per_seed, strict=True):
                logged = _log(writer, scalars, done * per_update, throughput)
                history.append(scalars)
                if progress_fn is not None:
                    progress_fn(done * per_update, logged)
            _show(bar, per_seed, done * per_update, throughput)
            if out_of_time:
                break
    return [
        TrainResult(seed_state, latest_checkpoint(run_dir), done, done * per_update, history)
        for seed_state, run_dir, history in zip(batch.split(state), run_dirs, histories, strict=True)
    ]
