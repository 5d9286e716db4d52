"""Which env batch trains fastest here? A few updates of the card at each candidate `training.envs` (all
seeds together where the simulator trains them so), timed, with the compile apart and a size that runs
out of device memory recorded as such. A lent machine's budget decides how many sizes are tried: the
next size is skipped when the time left is less than 1.5 x the last size's compile plus updates.

The measured updates are the training's own (`learning.loop.run_update` on the card with that many
envs), so with the compilation cache on, a training run of the chosen size loads the program the probe
compiled instead of compiling it again.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import jax

from ampbench.cards import ExperimentCard, card_from_dict
from ampbench.learning import loop
from ampbench.learning.update import init_train_state, schedule
from ampbench.sim import get_simulator
from ampbench.sim.protocol import is_batched

SKIP_FACTOR = 1.5


def _sized(card: ExperimentCard, envs: int) -> ExperimentCard:
    return card_from_dict(
        card.model_dump(mode="json"), source=f"card '{card.name}'", overrides=(f"training.envs={envs}",)
    )


def _out_of_memory(error: Exception) -> bool:
    return "RESOURCE_EXHAUSTED" in str(error) or "out of memory" in str(error).lower()


def _peak_device_bytes() -> int | None:
    stats = jax.devices()[0].memory_stats() or {}
    return stats.get("peak_bytes_in_use")


def time_size(card: ExperimentCard, backend: str, seeds: Sequence[int], updates: int) -> dict[str, Any]:
    """One size: the first update (compile included) and `updates` more, timed."""
    simulator = get_simulator(backend)
    seeds = tuple(seeds) if simulator.trains_seeds_together else tuple(seeds[:1])
    started = time.perf_counter()
    envs = [simulator.training_env(card, seed=seed) for seed in seeds]
    try:
        batch = loop.rollouts_for(envs, card, seeds)
        state = batch.join([init_train_state(env, card, seed) for env, seed in zip(envs, seeds, strict=True)])
        references = [loop.draw_references(env, card, seed, 0) for env, seed in zip(envs, seeds, strict=True)]
        imitations = [
            loop.imitation_reference_for(env, card, seed) for env, seed in zip(envs, seeds, strict=True)
        ]
        ends = [time.perf_counter()]
        for update in range(updates + 1):
            state, _, references = loop.run_update(
                envs, card, seeds, update, state, batch, references, imitations
            )
            jax.block_until_ready(state)
            ends.append(time.perf_counter())
    finally:
        for env in envs:
            if is_batched(env):
                env.close()
    per_update = schedule(card)[0] * len(seeds)
    timed = ends[2:]
    update_seconds = (timed[-1] - ends[1]) / len(timed)
    return {
        "envs": card.training.envs,
        "seeds_in_process": len(seeds),
        "status": "ok",
        "build_seconds": ends[0] - started,
        "first_update_seconds": ends[1] - ends[0],
        "compile_seconds": max(0.0, ends[1] - ends[0] - update_seconds),
        "update_seconds": update_seconds,
        "env_steps_per_second": per_update / update_seconds,
        "peak_device_bytes": _peak_device_bytes(),
        "wall_seconds": ends[-1] - started,
    }


def probe_sizes(
    card: ExperimentCard,
    *,
    backend: str,
    seeds: Sequence[int],
    sizes: Sequence[int],
    updates: int,
    seconds: float,
) -> list[dict[str, Any]]:
    """A row per size (ascending): measured, out of memory, or skipped for the time left."""
    if updates < 1:
        raise ValueError(f"probe: updates must be >= 1, found {updates}")
    rows: list[dict[str, Any]] = []
    started, last_cost = time.monotonic(), 0.0
    for envs in sorted(set(sizes)):
        left = seconds - (time.monotonic() - started)
        if rows and left < SKIP_FACTOR * last_cost:
            rows.append({"envs": envs, "status": f"skipped: {left:.0f} s of the probe budget left"})
            continue
        try:
            row = time_size(_sized(card, envs), backend, seeds, updates)
        except Exception as error:
            if not _out_of_memory(error):
                raise
            rows.append({"envs": envs, "status": "out of memory"})
            break  # a larger batch will not fit either
        last_cost = row["wall_seconds"]
        rows.append(row)
    return rows


def fastest(rows: Sequence[dict[str, Any]]) -> int:
    """The measured size with the most env steps per second."""
    measured = [row for row in rows if row["status"] == "ok"]
    if not measured:
        raise ValueError("probe: no size was measured")
    return max(measured, key=lambda row: row["env_steps_per_second"])["envs"]


def table(rows: Sequence[dict[str, Any]], device: str) -> str:
    """The probe as a markdown table, with the device it ran on."""
    lines = [
        f"Training speed by env batch on {device}: env steps per second of all seeds together, after the "
        "first update (whose time beyond a typical update's is the compile).",
        "",
        "| envs per seed | seeds in one process | env steps/s | compile s | update s | peak device MiB "
        "| status |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        if row["status"] != "ok":
            lines.append(f"| {row['envs']} | | | | | | {row['status']} |")
            continue
        peak = row["peak_device_bytes"]
        lines.append(
            f"| {row['envs']} | {row['seeds_in_process']} | {row['env_steps_per_second']:,.0f} | "
            f"{row['compile_seconds']:.0f} | {row['update_seconds']:.2f} | "
            f"{'' if peak is None else f'{peak / 2**20:,.0f}'} | ok |"
        )
    return "\n".join(lines) + "\n"
