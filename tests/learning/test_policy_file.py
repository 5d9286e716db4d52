"""The framework-neutral policy file: checked on read, and a skrl AMP checkpoint converted to it acts as
skrl's own model does (its GaussianMixin MLP behind its RunningStandardScaler)."""

from __future__ import annotations

import numpy as np
import pytest

from ampbench.learning import policy_file


def _fields(obs: int = 3, act: int = 2) -> dict:
    return {
        "observation_size": obs,
        "action_size": act,
        "activation": "elu",
        "observation_mean": np.zeros(obs),
        "observation_scale": np.ones(obs),
        "observation_clip": 5.0,
        "log_std": np.full(act, -1.0),
        "action_limit": 1.0,
    }


def test_a_policy_file_plays_its_layers_and_refuses_a_broken_one(tmp_path):
    rng = np.random.default_rng(0)
    layers = [(rng.normal(size=(3, 4)), rng.normal(size=4)), (rng.normal(size=(4, 2)), rng.normal(size=2))]
    path = policy_file.write(tmp_path / "p.npz", layers=layers, **_fields())
    deterministic, _ = policy_file.players(path)
    obs = rng.normal(size=(6, 3)).astype(np.float32)
    hidden = obs @ layers[0][0] + layers[0][1]
    hidden = np.where(hidden > 0, hidden, np.expm1(hidden))
    np.testing.assert_allclose(
        deterministic(obs), np.clip(hidden @ layers[1][0] + layers[1][1], -1, 1), atol=1e-5
    )
    broken = policy_file.write(tmp_path / "b.npz", layers=layers[:1], **_fields())
    with pytest.raises(policy_file.PolicyFileError, match="action_size 2"):
        policy_file.read(broken)


def test_a_policy_with_nan_weights_is_refused_before_it_plays(tmp_path):
    layers = [(np.full((3, 2), np.nan), np.zeros(2))]
    path = policy_file.write(tmp_path / "nan.npz", layers=layers, **_fields())
    with pytest.raises(policy_file.PolicyFileError, match="kernel_0 holds NaN or inf"):
        policy_file.players(path)


def test_a_skrl_checkpoint_becomes_a_policy_file_that_acts_as_skrl_does(tmp_path):
    torch = pytest.importorskip("torch", reason="needs torch and skrl (the isaaclab venv)")
    pytest.importorskip("skrl", reason="needs skrl (the isaaclab venv)")
    import gymnasium
    from skrl.resources.preprocessors.torch import RunningStandardScaler
    from skrl.utils.model_instantiators.torch import gaussian_model

    from ampbench.learning.skrl_amp import _mlp

    obs_space, act_space = gymnasium.spaces.Box(-np.inf, np.inf, (7,)), gymnasium.spaces.Box(-1, 1, (3,))
    torch.manual_seed(0)
    model = gaussian_model(
        observation_space=obs_space,
        action_space=act_space,
        initial_log_std=-2.9,
        fixed_log_std=True,
        network=_mlp((16, 8)),
        output="ACTIONS",
    )
    model.act({"observations": torch.zeros(1, 7)})  # skrl's layers are lazy: one call shapes them
    for p in model.parameters():  # the output layer starts near zero: make every layer matter
        torch.nn.init.normal_(p, std=0.5)
    scaler = RunningStandardScaler(size=obs_space, clip_threshold=4.0)
    amp_scaler = RunningStandardScaler(size=5)
    rng = np.random.default_rng(1)
    scaler(torch.as_tensor(rng.normal(2.0, 3.0, (256, 7)), dtype=torch.float32), train=True)
    amp_scaler(torch.as_tensor(rng.normal(size=(256, 5)), dtype=torch.float32), train=True)
    checkpoint = tmp_path / "agent_8.pt"
    torch.save(
        {
            "policy": model.state_dict(),
            "observation_preprocessor": scaler.state_dict(),
            "amp_observation_preprocessor": amp_scaler.state_dict(),
        },
        checkpoint,
    )
    path = policy_file.from_skrl_checkpoint(
        checkpoint, tmp_path / "policy.npz", action_limit=1.0, observation_clip=4.0
    )
    deterministic, _ = policy_file.players(path)
    obs = torch.as_tensor(rng.normal(2.0, 6.0, (32, 7)), dtype=torch.float32)
    with torch.no_grad():
        _, outputs = model.act({"observations": scaler(obs)})
    expected = np.clip(outputs["mean_actions"].numpy(), -1.0, 1.0)
    assert np.abs(expected).max() > 0.1
    np.testing.assert_allclose(np.asarray(deterministic(obs.numpy())), expected, atol=1e-5)
    np.testing.assert_allclose(policy_file.read(path)[0]["log_std"], model.log_std_parameter.detach().numpy())
