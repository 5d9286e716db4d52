"""skrl-trained runs on the Isaac Lab backend stop cleanly at a wall-clock budget, with a checkpoint and
a policy file, and resume from that checkpoint for the rest of the card's steps.

Needs the isaaclab venv (`pip install -e '.[isaaclab,dev]'`); elsewhere the module skips.
"""

from __future__ import annotations

import pytest

pytest.importorskip("isaaclab", reason="skrl runs need the isaaclab venv (.[isaaclab])")
torch = pytest.importorskip("torch")

from ampbench.cards import load_card  # noqa: E402
from ampbench.learning import policy_file, skrl_amp  # noqa: E402
from ampbench.pipeline.train import train_seeds  # noqa: E402
from ampbench.sim.isaaclab import IsaacLabSimulator  # noqa: E402

UPDATES = 3


@pytest.fixture
def tiny():
    """The smoke card trained by skrl: 8 envs, 3 updates of 4 steps, a checkpoint after each."""
    return load_card(
        "benchmarks/phase2.yaml",
        overlays=("smoke",),
        overrides=(
            "trainer=skrl",
            "training.envs=8",
            f"training.steps={8 * 4 * UPDATES}",
            "ppo.rollout_steps=4",
            "training.checkpoint_every=1",
        ),
    )


def _tags(run_dir) -> list[int]:
    return [int(skrl_amp.checkpoint_timesteps(p)) for p in skrl_amp.skrl_checkpoints(run_dir)]


def _optimiser_steps(checkpoint) -> int:
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["optimizer"]["state"]
    return int(next(iter(state.values()))["step"])


def test_a_skrl_run_stops_at_its_budget_and_resumes_from_its_checkpoint(tiny, library, tmp_path):
    """A zero-minute budget stops after the first update with its checkpoint and policy file; resumed,
    the run counts on from that checkpoint to the card's steps, and its optimiser has taken the steps of
    all three updates (a fresh agent would count two)."""
    backend = IsaacLabSimulator(library_loader=lambda mocap: library)
    (stopped,) = train_seeds(tiny, backend, [tmp_path], seeds=[0], resume=False, minutes=0.0)
    assert _tags(tmp_path) == [4]
    assert (tmp_path / "checkpoints" / "latest").read_text().strip() == stopped.name == "policy_agent_4.npz"
    assert policy_file.is_policy_file(stopped)
    (finished,) = train_seeds(tiny, backend, [tmp_path], seeds=[0], resume=True, minutes=None)
    assert _tags(tmp_path) == [4, 8, 12]
    assert (tmp_path / "checkpoints" / "latest").read_text().strip() == finished.name == "policy_agent_12.npz"
    per_update = tiny.ppo.epochs * tiny.ppo.minibatches
    assert _optimiser_steps(skrl_amp.skrl_checkpoints(tmp_path)[0]) == per_update
    assert _optimiser_steps(skrl_amp.skrl_checkpoints(tmp_path)[-1]) == UPDATES * per_update


def test_resuming_a_skrl_run_without_a_checkpoint_names_the_folder(tiny, library, tmp_path):
    backend = IsaacLabSimulator(library_loader=lambda mocap: library)
    with pytest.raises(ValueError, match=r"no skrl agent_\*\.pt checkpoint to resume from"):
        train_seeds(tiny, backend, [tmp_path], seeds=[0], resume=True)
