"""Will a card's training fit this machine? A coarse estimate of the arrays a run holds, checked before
any run folder is made, so a card that cannot fit fails at once with the numbers instead of hours later
(or by the kernel's OOM killer).

Counted (float32): each env's simulator state (`ENV_STATE_BYTES`, the MJX batch measured at about 38 KB
an env; MuJoCo C's is smaller), one rollout's transitions (observations twice, AMP observations, actions,
log-probs, rewards and flags per env and step), the AMP replay buffer and each update's reference draw
(twice the rollout's rows). Networks and optimiser states are small beside them and left out; XLA's
working memory is covered by `HEADROOM`. Scoring keeps the records (float32 poses, velocities, torques
and commands of every env and step) of its unpushed and endurance scenarios, and of one pushed scenario at
a time (`scoring.scenarios.kept_whole`), estimated the same way.
"""

from __future__ import annotations

import os

from ampbench.cards import ExperimentCard, with_overlays
from ampbench.robot.model import humanoid_spec
from ampbench.scoring.scenarios import evaluation_scenarios, kept_whole
from ampbench.task.features import feature_layout

ENV_STATE_BYTES = 38_000
HEADROOM = 2.0  # the estimate x this must fit: intermediates of the compiled update, allocator slack
SCORING_HEADROOM = 1.25  # scoring's records x this: one scenario's float64 copies while it is scored


def training_bytes(card: ExperimentCard, seeds: int = 1) -> int:
    """Estimated bytes of a run of `card` (see the module docstring), `seeds` of them in one process."""
    spec = humanoid_spec(card.humanoid.model)
    dofs, keys = len(spec.effort_limits), len(card.humanoid.key_bodies)
    observation = feature_layout("kinematic", dofs, keys).size + 1 + len(card.commands.bands)
    amp = feature_layout(card.amp.feature_set, dofs, keys).size * card.amp.history
    envs, steps = card.training.envs, card.ppo.rollout_steps
    transition = 2 * observation + amp + 2 * dofs + 6
    floats = envs * steps * transition + card.amp.replay_size * amp + 2 * envs * steps * amp
    return seeds * (envs * ENV_STATE_BYTES + 4 * floats)


def evaluation_estimate(card: ExperimentCard) -> tuple[int, int]:
    """Estimated bytes of the rollouts `score` holds at once for `card` (with its eval overlay, as
    scored): the scenarios it keeps whole and the largest of the others, and the number of scenarios."""
    spec = humanoid_spec(card.humanoid.model)
    dofs, bodies = len(spec.dof_names), len(spec.body_names)
    per_step = 10 + 3 * dofs + 13 * bodies + 2 + len(card.commands.bands)  # root, DOFs, bodies, command
    eval_card = with_overlays(card, ("eval",))
    scenarios = evaluation_scenarios(eval_card)

    def env_steps(scenario) -> int:
        return scenario.envs * round(scenario.episode_seconds / eval_card.simulator.control_dt)

    kept = sum(env_steps(s) for s in scenarios if kept_whole(s))
    one_at_a_time = max((env_steps(s) for s in scenarios if not kept_whole(s)), default=0)
    return 4 * per_step * (kept + one_at_a_time), len(scenarios)


def machine_bytes() -> int:
    """Physical memory of this machine."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_fits(card: ExperimentCard, available: int | None = None, seeds: int = 1) -> None:
    """ValueError with the estimate and the memory where `card`'s run (`seeds` of them in one process)
    would not fit (`available`: the machine's memory by default)."""
    available = machine_bytes() if available is None else available
    needed = training_bytes(card, seeds)
    if needed * HEADROOM > available:
        together = f" x {seeds} seeds" if seeds > 1 else ""
        raise ValueError(
            f"card {card.name}: training.envs {card.training.envs}{together} needs about "
            f"{needed / 2**30:.1f} GiB "
            f"(x{HEADROOM:g} headroom) and this machine has {available / 2**30:.1f} GiB; lower training.envs "
            "or amp.replay_size"
        )


def check_scoring_fits(card: ExperimentCard, available: int | None = None) -> None:
    """ValueError with the estimate and the memory where scoring `card`'s evaluation would not fit."""
    available = machine_bytes() if available is None else available
    needed, scenarios = evaluation_estimate(card)
    if needed * SCORING_HEADROOM > available:
        raise ValueError(
            f"card {card.name}: scoring its evaluation (evaluation.envs {card.evaluation.envs}, "
            f"{scenarios} scenarios) needs about "
            f"{needed / 2**30:.1f} GiB (x{SCORING_HEADROOM:g} headroom) and this machine has "
            f"{available / 2**30:.1f} GiB; lower evaluation.envs or the push grid"
        )
