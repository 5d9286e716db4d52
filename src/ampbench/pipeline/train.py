"""Training, composed forwards: the card and backend name build the simulator's env, the card's trainer
trains on it, and the run folder records it all.

    card + backend -> sim.get_simulator(backend).training_env(card, seed)
                   -> learning.loop.train_seeds (the project's PPO + AMP; MJX's seeds in one compiled
                      update)  or  learning.skrl_amp.train (skrl, Isaac Lab only)
                   -> run folder: card.json, provenance.json, checkpoints/, tb/
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from pathlib import Path

from ampbench.cards import ExperimentCard
from ampbench.core.provenance import provenance
from ampbench.core.runs import create_run, latest_checkpoint, new_run_dir, run_lock
from ampbench.pipeline.memory import check_fits
from ampbench.pipeline.runs import load_run
from ampbench.sim import get_simulator
from ampbench.sim.protocol import Simulator, is_batched


def train_seeds(
    card: ExperimentCard,
    simulator: Simulator,
    run_dirs: Sequence[Path],
    *,
    seeds: Sequence[int],
    resume: bool,
    minutes: float | None = None,
) -> list[Path]:
    """Train `seeds` into their `run_dirs` (resuming each from its last checkpoint with `resume`); returns
    the last checkpoints. A simulator whose envs are pure JAX (MJX) trains the seeds together, in one
    process and one compiled update; host simulators (MuJoCo C, Isaac Lab) and skrl one after another.
    With `minutes`, each training (all seeds together, or each seed alone) stops after that much wall
    clock with a checkpoint that resumes like any other. Holds every run folder's lock throughout."""
    from ampbench.learning import loop, skrl_amp

    if card.trainer == "skrl":
        skrl_amp.check_card(card)
    with contextlib.ExitStack() as stack:
        for run_dir in run_dirs:
            Path(run_dir).mkdir(parents=True, exist_ok=True)
            stack.enter_context(run_lock(run_dir))
        if simulator.trains_seeds_together and card.trainer == "ampbench":
            envs = [simulator.training_env(card, seed=seed) for seed in seeds]
            trained = loop.train_seeds(
                envs, card, seeds=seeds, run_dirs=run_dirs, resume=resume, minutes=minutes
            )
            return [result.checkpoint for result in trained]
        checkpoints = []
        for seed, run_dir in zip(seeds, run_dirs, strict=True):
            env = simulator.training_env(card, seed=seed)
            try:
                if card.trainer == "skrl":
                    env.direct.begin(seed, None)
                    checkpoint = skrl_amp.train(
                        env.direct, card, run_dir, seed, resume=resume, minutes=minutes
                    )
                else:
                    checkpoint = loop.train(
                        env, card, seed=seed, run_dir=run_dir, resume=resume, minutes=minutes
                    ).checkpoint
                checkpoints.append(checkpoint)
            finally:
                if is_batched(env):
                    env.close()
        return checkpoints


def start_runs(
    card: ExperimentCard,
    *,
    backend: str,
    seeds: Sequence[int],
    runs_root: Path,
    overlays: tuple[str, ...] = (),
    overrides: tuple[str, ...] = (),
    minutes: float | None = None,
) -> list[Path]:
    """Train the seeds into fresh run folders, one each (see `train_seeds`); returns the folders."""
    unknown = sorted(set(seeds) - set(card.training.seeds))
    if unknown:
        raise ValueError(
            f"card {card.name}: seeds {unknown} are not in training.seeds {list(card.training.seeds)}"
        )
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"card {card.name}: seeds {list(seeds)} name a seed twice")
    if card.trainer != "ampbench" and backend != "isaaclab":
        raise ValueError(f"card {card.name}: trainer={card.trainer} runs on the isaaclab backend only")
    simulator = get_simulator(backend)
    check_fits(card, seeds=len(seeds) if simulator.trains_seeds_together else 1)
    run_dirs = []
    for seed in seeds:
        run_dir = new_run_dir(runs_root, card, backend, seed)
        prov = provenance(
            card,
            backend=backend,
            backend_versions=simulator.versions(),
            device=simulator.device(),
            seed=seed,
            overlays=overlays,
            overrides=overrides,
        )
        create_run(run_dir, card, prov)
        run_dirs.append(run_dir)
    train_seeds(card, simulator, run_dirs, seeds=seeds, resume=False, minutes=minutes)
    return run_dirs


def resume_runs(run_dirs: Sequence[Path], minutes: float | None = None) -> list[Path]:
    """Continue runs from their last checkpoints with the card, backend and seed each was started with.
    Runs of one card and backend continue together (see `train_seeds`), others one after another."""
    groups: dict[tuple[str, str], list[tuple[Path, ExperimentCard, int]]] = {}
    for run_dir in run_dirs:
        card, prov = load_run(run_dir)
        latest_checkpoint(run_dir)
        key = (json.dumps(card.model_dump(mode="json"), sort_keys=True), prov["backend"])
        groups.setdefault(key, []).append((Path(run_dir), card, int(prov["seed"])))
    for (_, backend), members in groups.items():
        card = members[0][1]
        train_seeds(
            card,
            get_simulator(backend),
            [run_dir for run_dir, _, _ in members],
            seeds=[seed for _, _, seed in members],
            resume=True,
            minutes=minutes,
        )
    return list(run_dirs)
