"""The `trainer: skrl` card field: refused where skrl's AMP cannot run it, and on backends other than
Isaac Lab; with skrl installed, the card -> skrl mapping builds skrl 2.x's `AMP_CFG`, whose constructor
refuses names it does not know (as skrl 1.x's `lambda`)."""

from __future__ import annotations

import pytest

from ampbench.cards import CardError, load_card
from ampbench.learning import skrl_amp
from ampbench.pipeline.train import start_runs


@pytest.fixture
def card():
    return load_card("benchmarks/phase2.yaml", overlays=("smoke",), overrides=("trainer=skrl",))


def test_skrl_refuses_the_least_squares_discriminator_naming_the_field(card):
    lsgan = load_card(
        "benchmarks/phase2.yaml",
        overrides=("trainer=skrl", "amp.loss=least_squares", "amp.style_reward=least_squares"),
    )
    with pytest.raises(CardError, match=r"amp\.loss='least_squares'"):
        skrl_amp.check_card(lsgan)
    skrl_amp.check_card(card)  # the phase-2 card itself runs


def test_trainer_skrl_runs_on_isaaclab_only(card, tmp_path):
    with pytest.raises(ValueError, match="trainer=skrl runs on the isaaclab backend only"):
        start_runs(card, backend="mujoco", seeds=(0,), runs_root=tmp_path)
    assert not any(tmp_path.iterdir())


def test_the_mapping_builds_skrls_amp_config_and_skrl_refuses_unknown_names(card, tmp_path):
    amp_cfg = pytest.importorskip("skrl.agents.torch.amp", reason="needs skrl (the isaaclab venv)").AMP_CFG
    agent = {k: v for k, v in skrl_amp.runner_cfg(card, tmp_path, 0)["agent"].items() if k != "class"}
    built = amp_cfg(**agent)
    assert built.rollouts == card.ppo.rollout_steps
    assert built.discriminator_gradient_penalty_scale == card.amp.grad_penalty
    with pytest.raises(TypeError, match="lambda"):
        amp_cfg(**agent, **{"lambda": 0.95})


def test_resume_loads_only_skrl_checkpoints_this_run_wrote(tmp_path):
    from ampbench.core.runs import RunError

    written = tmp_path / "agent_64.pt"
    written.write_bytes(b"weights of update 4")
    skrl_amp.record_checkpoint(written)
    skrl_amp.check_recorded(written)
    planted = tmp_path / "agent_128.pt"
    planted.write_bytes(b"a pickle with a payload")
    with pytest.raises(RunError, match=r"agent_128\.pt: not a checkpoint this run wrote"):
        skrl_amp.check_recorded(planted)
    written.write_bytes(b"changed since")
    with pytest.raises(RunError, match="not a checkpoint this run wrote"):
        skrl_amp.check_recorded(written)
