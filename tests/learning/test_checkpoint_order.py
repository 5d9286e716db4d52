"""`latest` only moves forward: a checkpoint older than the one it names (a second writer) is refused."""

from __future__ import annotations

import numpy as np
import pytest

from ampbench.learning.checkpoint import save_checkpoint


def test_latest_never_goes_back(tmp_path):
    state = {"w": np.zeros(3)}
    save_checkpoint(tmp_path, state, update=8, seed=0)
    save_checkpoint(tmp_path, state, update=12, seed=0)
    with pytest.raises(RuntimeError, match="newer than update 9: another process is writing this run"):
        save_checkpoint(tmp_path, state, update=9, seed=0)
    assert (tmp_path / "latest").read_text().strip() == "ckpt_000012.msgpack"
