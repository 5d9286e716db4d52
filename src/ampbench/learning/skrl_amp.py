"""skrl 2.x's AMP (torch) as an independent cross-check of the project's trainer, on a torch env
(the Isaac Lab backend's direct env).

The card -> skrl mapping lives here and nowhere else: `runner_cfg` builds skrl's runner configuration in
skrl 2.x key names, and the runner constructs `AMP_CFG(**agent)` from it, so a key skrl does not know
fails loudly (Isaac Lab's own AMP YAML still uses 1.x names). Where a card asks for an AMP variant skrl
cannot run, `check_card` names the field. What skrl's AMP does differently from the project's, with the
same card (`SKRL_DIFFERENCES`), is listed in docs/isaaclab.md.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from ampbench.cards import CardError, ExperimentCard
from ampbench.core.files import atomic_write_bytes, atomic_write_json, file_sha256
from ampbench.core.runs import RunError
from ampbench.core.stop import deadline_after, stop_due
from ampbench.learning import policy_file
from ampbench.learning.ppo import ACTION_LIMIT

SKRL_FOLDER = "tb"  # the run's TensorBoard folder, which the scorer reads (skrl's tags are its own)

SKRL_DIFFERENCES = (
    "one Adam optimiser for policy, value and discriminator, at ppo.learning_rate (amp.learning_rate unused)",
    "the discriminator trains inside PPO's epochs and minibatches (amp.epochs unused; amp.minibatches sets "
    "only its batch size)",
    "no bounds loss on the action mean (ppo.bounds_loss unused)",
    "reference AMP observations come from a dataset of amp.replay_size refreshed by 2 x rollout samples "
    "per update, not drawn afresh for each update",
    "every rollout sample enters the discriminator's replay buffer (amp.replay_updates unused)",
    "the discriminator sees every AMP column, constant ones included (amp.constant_feature_std unused)",
)


def check_card(card: ExperimentCard) -> None:
    """Raise where the card asks for what skrl's AMP cannot run, naming the card field."""
    refused = []
    if card.amp.loss != "bce":
        refused.append(f"amp.loss={card.amp.loss!r} (skrl's discriminator loss is BCE only)")
    if card.ppo.learn_log_std:
        refused.append("ppo.learn_log_std=true (this mapping keeps skrl's log std fixed, as the references)")
    if card.ppo.log_std_anneal is not None:
        refused.append("ppo.log_std_anneal (skrl's log std is fixed at ppo.init_log_std)")
    if card.amp.grad_penalty_samples != "reference":
        refused.append("amp.grad_penalty_samples='reference_and_policy' (skrl penalises reference samples)")
    if refused:
        raise CardError(f"card {card.name}: skrl's AMP cannot run {'; '.join(refused)}")


def _mlp(layers: tuple[int, ...]) -> list[dict[str, Any]]:
    return [{"name": "net", "input": "OBSERVATIONS", "layers": list(layers), "activations": "elu"}]


def runner_cfg(card: ExperimentCard, run_dir: Path, seed: int) -> dict[str, Any]:
    """skrl's runner configuration for `card` (skrl 2.x key names)."""
    check_card(card)
    ppo, amp, training = card.ppo, card.amp, card.training
    transitions = training.envs * ppo.rollout_steps
    schedule = (
        {
            "learning_rate_scheduler": "KLAdaptiveLR",
            "learning_rate_scheduler_kwargs": {
                "kl_threshold": ppo.desired_kl,
                "min_lr": ppo.learning_rate_range[0],
                "max_lr": ppo.learning_rate_range[1],
            },
        }
        if ppo.learning_rate_schedule == "adaptive_kl"
        else {"learning_rate_scheduler": None}
    )
    return {
        "seed": seed,
        "models": {
            "separate": True,
            "policy": {
                "class": "GaussianMixin",
                "clip_actions": False,
                "clip_log_std": False,
                "initial_log_std": ppo.init_log_std,
                "fixed_log_std": True,
                "network": _mlp(ppo.hidden),
                "output": "ACTIONS",
            },
            "value": {
                "class": "DeterministicMixin",
                "clip_actions": False,
                "network": _mlp(ppo.hidden),
                "output": "ONE",
            },
            "discriminator": {
                "class": "DeterministicMixin",
                "clip_actions": False,
                "network": _mlp(amp.hidden),
                "output": "ONE",
            },
        },
        "memory": {"class": "RandomMemory", "memory_size": -1},
        "motion_dataset": {"class": "RandomMemory", "memory_size": amp.replay_size},
        "reply_buffer": {"class": "RandomMemory", "memory_size": amp.replay_size},
        "agent": {
            "class": "AMP",
            "rollouts": ppo.rollout_steps,
            "learning_epochs": ppo.epochs,
            "mini_batches": ppo.minibatches,
            "discount_factor": ppo.gamma,
            "gae_lambda": ppo.gae_lambda,
            "learning_rate": ppo.learning_rate,
            **schedule,
            "observation_preprocessor": "RunningStandardScaler",
            "observation_preprocessor_kwargs": {"clip_threshold": ppo.observation_clip},
            "value_preprocessor": "RunningStandardScaler" if ppo.normalize_values else None,
            "amp_observation_preprocessor": "RunningStandardScaler",
            "amp_observation_preprocessor_kwargs": {"clip_threshold": ppo.observation_clip},
            "grad_norm_clip": ppo.max_grad_norm,
            "ratio_clip": ppo.clip,
            "value_clip": 0.0,  # the project's value loss is unclipped
            "entropy_loss_scale": ppo.entropy,
            "value_loss_scale": ppo.value_coef,
            "discriminator_loss_scale": 1.0,
            "amp_batch_size": 2 * transitions,  # the project's reference draw per update
            "task_reward_scale": amp.task_reward_scale,
            "style_reward_scale": amp.style_reward_scale,
            "discriminator_batch_size": transitions // amp.minibatches,
            "discriminator_logit_regularization_scale": amp.logit_reg,
            "discriminator_gradient_penalty_scale": amp.grad_penalty,
            "discriminator_weight_decay_scale": amp.weight_decay,
            "time_limit_bootstrap": True,
            "experiment": {  # skrl's TensorBoard files and checkpoints go to the run's tb/ folder
                "directory": str(Path(run_dir)),
                "experiment_name": SKRL_FOLDER,
                "write_interval": ppo.rollout_steps,
                "checkpoint_interval": ppo.rollout_steps * training.checkpoint_every,
            },
        },
        "trainer": {
            "class": "SequentialTrainer",
            "timesteps": training.steps // training.envs,
            "environment_info": "log",
        },
    }


class _OutOfTime(Exception):
    """The wall-clock budget ran out at the end of an update (its checkpoint is written)."""


def checkpoint_timesteps(path: Path) -> str:
    """The timesteps done that an skrl agent checkpoint `agent_<timesteps>.pt` names."""
    return path.stem.split("_")[1]


def skrl_checkpoints(run_dir: Path) -> list[Path]:
    """skrl's agent checkpoints of a run, `tb/checkpoints/agent_<timesteps done>.pt`, oldest first."""
    found = (Path(run_dir) / SKRL_FOLDER / "checkpoints").glob("agent_*.pt")
    numbered = (path for path in found if checkpoint_timesteps(path).isdigit())
    return sorted(numbered, key=lambda path: int(checkpoint_timesteps(path)))


MANIFEST = "sha256.json"
"""Beside skrl's checkpoints: the hash of each one this run wrote. skrl's `agent.load` unpickles its file
(torch.load without weights_only), so resume loads only a checkpoint whose hash is recorded here."""


def record_checkpoint(path: Path) -> None:
    """Add a checkpoint this run just wrote to its folder's manifest."""
    manifest = path.parent / MANIFEST
    hashes = json.loads(manifest.read_text()) if manifest.is_file() else {}
    hashes[path.name] = file_sha256(path)
    atomic_write_json(manifest, hashes)


def check_recorded(path: Path) -> None:
    """Refuse a checkpoint this run did not write (absent from the manifest, or changed since)."""
    manifest = path.parent / MANIFEST
    hashes = json.loads(manifest.read_text()) if manifest.is_file() else {}
    if hashes.get(path.name) != file_sha256(path):
        raise RunError(
            f"{path}: not a checkpoint this run wrote (its sha256 is not in {manifest.name}); skrl would "
            "unpickle it, which can run code, so it is not loaded"
        )


def train(
    env, card: ExperimentCard, run_dir: Path, seed: int, *, resume: bool = False, minutes: float | None = None
) -> Path:
    """Train `env` (an Isaac Lab direct env with `amp_observation_space` and `collect_reference_motions`)
    with skrl's AMP (its checkpoints in `run_dir/tb/checkpoints`); the last one's policy becomes a
    policy file in `run_dir/checkpoints`, named by `checkpoints/latest`, which the scorer plays.

    `minutes`: the first update that ends past the budget (or after a stop signal, `core.stop`) writes a
    checkpoint and training stops there.
    `resume`: skrl's agent (networks, optimiser, normalisers) continues from the run's last checkpoint
    for the rest of the card's steps, counting on from it; skrl keeps no env state in a checkpoint, so
    the envs start new episodes and a resumed run is not the uninterrupted one step for step."""
    from isaaclab_rl.skrl import SkrlVecEnvWrapper
    from skrl.utils.runner.torch import Runner

    run_dir = Path(run_dir)
    total = card.training.steps // card.training.envs  # skrl's timesteps: control steps of the batch
    done, last = 0, None
    if resume:
        saved = skrl_checkpoints(run_dir)
        if not saved:
            raise RunError(
                f"{run_dir}/{SKRL_FOLDER}/checkpoints: no skrl agent_*.pt checkpoint to resume from"
            )
        last = saved[-1]
        done = int(checkpoint_timesteps(last))
    cfg = runner_cfg(card, run_dir, seed)
    cfg["trainer"]["timesteps"] = max(total - done, 0)
    runner = Runner(SkrlVecEnvWrapper(env, ml_framework="torch"), cfg)
    agent = runner.agent
    if last is not None:
        check_recorded(last)
        agent.load(str(last))
    write = agent.write_checkpoint

    def write_checkpoint(timestep: int, timesteps: int) -> None:
        """skrl's own, then its file's hash into the run's manifest."""
        write(timestep=timestep, timesteps=timesteps)  # skrl's are keyword-only
        record_checkpoint(skrl_checkpoints(run_dir)[-1])

    agent.write_checkpoint = write_checkpoint
    deadline = deadline_after(minutes)
    per_update, checkpoint_every = card.ppo.rollout_steps, cfg["agent"]["experiment"]["checkpoint_interval"]
    interact = agent.post_interaction

    def post_interaction(*, timestep: int, timesteps: int) -> None:
        """skrl's own, counted from the checkpoint resumed; then the wall-clock check after an update."""
        interact(timestep=done + timestep, timesteps=total)
        finished = done + timestep + 1
        if finished % per_update == 0 and finished < total and stop_due(deadline):
            if finished % checkpoint_every:
                agent.write_checkpoint(timestep=finished, timesteps=total)
            raise _OutOfTime

    agent.post_interaction = post_interaction
    with contextlib.suppress(_OutOfTime):  # the budget's clean stop, its checkpoint written
        runner.run()
    saved = skrl_checkpoints(run_dir)
    if not saved:
        raise RuntimeError(f"{run_dir}/{SKRL_FOLDER}/checkpoints: skrl wrote no agent_*.pt checkpoint")
    last = saved[-1]
    checkpoint_dir = run_dir / "checkpoints"
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    policy = policy_file.from_skrl_checkpoint(
        last,
        checkpoint_dir / f"policy_{last.stem}{policy_file.SUFFIX}",
        action_limit=ACTION_LIMIT,
        observation_clip=card.ppo.observation_clip,
    )
    atomic_write_bytes(checkpoint_dir / "latest", (policy.name + "\n").encode())
    return policy
