"""The project trainer writes each checkpoint's policy as a framework-neutral policy file beside it, and
the file acts exactly as the checkpoint."""

from __future__ import annotations

import numpy as np

from ampbench.learning import policy_file
from ampbench.learning.loop import train
from ampbench.learning.policy import load_policy, write_policy_file
from tests.learning.training.test_trainer import PointMassEnv, short_card


def test_a_checkpoint_written_as_a_policy_file_gives_the_same_actions(tmp_path):
    result = train(PointMassEnv(), short_card(updates=2), seed=0, run_dir=tmp_path, resume=False)
    path = result.checkpoint.parent / "policy_000002.npz"
    assert path.is_file()  # written by the trainer at its checkpoint
    assert path.read_bytes() == write_policy_file(result.checkpoint).read_bytes()
    obs = np.random.default_rng(0).normal(0.0, 2.0, (64, PointMassEnv.observation_size)).astype(np.float32)
    from_checkpoint = np.asarray(load_policy(result.checkpoint)(obs))
    from_file = np.asarray(load_policy(path)(obs))
    assert np.abs(from_checkpoint).max() > 0.0
    np.testing.assert_allclose(from_file, from_checkpoint, atol=1e-6)
    fields, _ = policy_file.read(path)
    assert fields["amp_observation_mean"].shape == (PointMassEnv.amp_observation_size,)
