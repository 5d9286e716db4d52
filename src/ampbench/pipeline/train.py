"""Training, composed forwards: the card and backend name build the simulator's env, the card's trainer
trains on it, and the run folder records it all.

    card + backend -> sim.get_simulator(backend).training_env(card, seed)
                   -> learning.loop.train (the project's PPO + AMP)  or  learning.skrl_amp.train (skrl,
                      Isaac Lab only)
                   -> run folder: card.json, provenance.json, checkpoints/, tb/
"""

from __future__ import annotations

from pathlib import Path

from ampbench.cards import ExperimentCard
from ampbench.core.provenance import provenance
from ampbench.core.runs import create_run, latest_checkpoint, new_run_dir, run_lock
from ampbench.pipeline.memory import check_fits
from ampbench.pipeline.runs import load_run
from ampbench.sim import get_simulator
from ampbench.sim.protocol import Simulator, is_batched


def train_seed(
    card: ExperimentCard,
    simulator: Simulator,
    run_dir: Path,
    *,
    seed: int,
    resume: bool,
    minutes: float | None = None,
) -> Path:
    """Train one seed into `run_dir` (resuming from its last checkpoint with `resume`); returns the last
    checkpoint. With `minutes`, stops after that much wall clock with a checkpoint that resumes like any
    other. Holds the run folder's lock throughout."""
    from ampbench.learning import loop, skrl_amp

    if card.trainer == "skrl":
        skrl_amp.check_card(card)
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    with run_lock(run_dir):
        env = simulator.training_env(card, seed=seed)
        try:
            if card.trainer == "skrl":
                env.direct.begin(seed, None)
                return skrl_amp.train(env.direct, card, run_dir, seed, resume=resume, minutes=minutes)
            trained = loop.train(env, card, seed=seed, run_dir=run_dir, resume=resume, minutes=minutes)
            return trained.checkpoint
        finally:
            if is_batched(env):
                env.close()


def start_runs(
    card: ExperimentCard,
    *,
    backend: str,
    seeds: tuple[int, ...],
    runs_root: Path,
    overlays: tuple[str, ...] = (),
    overrides: tuple[str, ...] = (),
    minutes: float | None = None,
) -> list[Path]:
    """Train each seed into a fresh run folder (each for at most `minutes` of wall clock); returns them."""
    unknown = sorted(set(seeds) - set(card.training.seeds))
    if unknown:
        raise ValueError(
            f"card {card.name}: seeds {unknown} are not in training.seeds {list(card.training.seeds)}"
        )
    if card.trainer != "ampbench" and backend != "isaaclab":
        raise ValueError(f"card {card.name}: trainer={card.trainer} runs on the isaaclab backend only")
    check_fits(card)
    simulator = get_simulator(backend)
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
        train_seed(card, simulator, run_dir, seed=seed, resume=False, minutes=minutes)
        run_dirs.append(run_dir)
    return run_dirs


def resume_run(run_dir: Path, minutes: float | None = None) -> Path:
    """Continue a run from its last checkpoint with the card, backend and seed it was started with."""
    card, prov = load_run(run_dir)
    latest_checkpoint(run_dir)
    simulator = get_simulator(prov["backend"])
    train_seed(card, simulator, run_dir, seed=int(prov["seed"]), resume=True, minutes=minutes)
    return run_dir
