"""The evaluation protocol as data: which episodes a backend must play to score a card.

A pure function of the card, so every backend receives exactly the same list. Per evaluation seed:
one unpushed scenario (`unpushed`, `evaluation.episode_seconds` long) and one scenario per cell of the
push grid, force x duration x body x azimuth, named like `push/pelvis/f50/d0.10/az090`. Scenario names
do not contain the seed: the same cell on every seed shares a name, and the seed is a field.

Push timing: the push starts `settle_seconds` after reset plus a per-env uniform delay in
[0, `PUSH_START_JITTER_SECONDS`]; one second covers about one gait cycle of walking, so pushes land at
random gait phases. The episode then lasts until `window_seconds` after the latest possible push end:
settle + jitter + duration + window. The force-0 cell is a real scenario: it measures falls that
happen in the same window without any push (the policy's own fall rate), never a fall caused by a push.

Gait-phase pushes (`evaluation.gait_pushes`): one scenario per gait event x azimuth, named like
`gait/mid_stance/pelvis/f50/d0.10/az090`; each env's push starts at the event's first occurrence in
the wait after the warm-up (no push if it does not come), and the episode lasts warm-up + wait +
duration + window. Endurance
(`evaluation.endurance`, named `endurance`): long episodes under the card's own random training
pushes (none for a card that trains without).
"""

from __future__ import annotations

from ampbench.cards import EvalPushGrid, ExperimentCard
from ampbench.sim.records import EvalScenario, ScheduledPush
from ampbench.task.gait import GAIT_EVENTS

PUSH_START_JITTER_SECONDS = 1.0
UNPUSHED = "unpushed"
ENDURANCE = "endurance"
GAIT_PREFIX = "gait/"


def _tag(value: float, decimals: int) -> str:
    """Fixed decimals when that is exact (`0.10`, `090`), otherwise the shortest exact form (`0.125`)."""
    fixed = f"{value:.{decimals}f}"
    return fixed if float(fixed) == value else f"{value:g}"


def push_scenario_name(body: str, force: float, duration: float, azimuth_deg: float) -> str:
    """Stable name of a push cell, used in file names and tables, e.g. `push/pelvis/f50/d0.10/az090`."""
    force_tag = f"{force:g}"
    azimuth_tag = f"{azimuth_deg:03.0f}" if float(azimuth_deg).is_integer() else f"{azimuth_deg:g}"
    return f"push/{body}/f{force_tag}/d{_tag(duration, 2)}/az{azimuth_tag}"


def _check_unique_names(cells: list[ScheduledPush]) -> None:
    names = [push_scenario_name(p.body, p.force, p.duration, p.azimuth_deg) for p in cells]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(
            f"evaluation.push_grid gives repeated cells {repeated}: forces, durations, bodies and azimuths "
            "must each list distinct values"
        )


def _push_cells(grid: EvalPushGrid, smoke: bool) -> list[ScheduledPush]:
    azimuths = grid.azimuths[:1] if smoke else grid.azimuths
    return [
        ScheduledPush(
            body=body, force=force, duration=duration, azimuth_deg=azimuth, start_seconds=grid.settle_seconds
        )
        for body in grid.bodies
        for duration in grid.durations
        for force in grid.forces
        for azimuth in azimuths
    ]


def push_scenario(push: ScheduledPush, seed: int, envs: int, grid: EvalPushGrid) -> EvalScenario:
    """Every push episode lasts as long as the longest push needs, so one compiled rollout serves the grid."""
    return EvalScenario(
        name=push_scenario_name(push.body, push.force, push.duration, push.azimuth_deg),
        seed=seed,
        envs=envs,
        episode_seconds=push.start_seconds
        + PUSH_START_JITTER_SECONDS
        + max(grid.durations)
        + grid.window_seconds,
        push=push,
        start_jitter_seconds=PUSH_START_JITTER_SECONDS,
    )


def _gait_scenarios(card: ExperimentCard, seed: int, smoke: bool) -> list[EvalScenario]:
    cfg = card.evaluation.gait_pushes
    if not cfg.enabled:
        return []
    azimuths = cfg.azimuths[:1] if smoke else cfg.azimuths
    seconds = cfg.warmup_seconds + cfg.wait_seconds + cfg.duration + cfg.window_seconds
    return [
        EvalScenario(
            name=GAIT_PREFIX
            + event
            + "/"
            + push_scenario_name(cfg.body, cfg.force, cfg.duration, azimuth).removeprefix("push/"),
            seed=seed,
            envs=card.evaluation.envs,
            episode_seconds=seconds,
            push=ScheduledPush(cfg.body, cfg.force, cfg.duration, azimuth, start_seconds=cfg.warmup_seconds),
            start_jitter_seconds=cfg.wait_seconds,
            gait_event=event,
        )
        for event in GAIT_EVENTS
        for azimuth in azimuths
    ]


def _endurance_scenario(card: ExperimentCard, seed: int) -> list[EvalScenario]:
    cfg = card.evaluation.endurance
    if not cfg.enabled:
        return []
    return [
        EvalScenario(
            name=ENDURANCE, seed=seed, envs=cfg.envs, episode_seconds=cfg.seconds, random_pushes=True
        )
    ]


def kept_whole(scenario: EvalScenario) -> bool:
    """Whether scoring keeps this scenario's records whole (unpushed and endurance episodes: tracking,
    imitation, strides and survival read every step) rather than reducing them to push outcomes as they
    come: what bounds scoring's memory."""
    return scenario.push is None


def evaluation_scenarios(card: ExperimentCard, *, smoke: bool = False) -> list[EvalScenario]:
    """Every scenario the card's evaluation asks for, seed by seed (unpushed first, then the grid, the
    gait-phase pushes and the endurance episodes).

    `smoke` keeps the first evaluation seed and the first azimuth only: enough to prove the pipeline
    on a CPU, never a result.
    """
    evaluation = card.evaluation
    grid = evaluation.push_grid
    seeds = evaluation.seeds[:1] if smoke else evaluation.seeds
    cells = _push_cells(grid, smoke)
    _check_unique_names(cells)
    scenarios = []
    for seed in seeds:
        scenarios.append(
            EvalScenario(
                name=UNPUSHED, seed=seed, envs=evaluation.envs, episode_seconds=evaluation.episode_seconds
            )
        )
        scenarios.extend(push_scenario(push, seed, evaluation.envs, grid) for push in cells)
        scenarios.extend(_gait_scenarios(card, seed, smoke))
        scenarios.extend(_endurance_scenario(card, seed))
    return scenarios
