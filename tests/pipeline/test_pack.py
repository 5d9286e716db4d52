"""A packed run fits its size, keeps the replay memory's newest rows, and resumes where it is unpacked."""

from __future__ import annotations

import tarfile

import flax.serialization
import numpy as np
import pytest

from ampbench.core.runs import RunError, latest_checkpoint
from ampbench.learning import loop
from ampbench.learning.checkpoint import env_state_name, read_checkpoint
from ampbench.pipeline.pack import pack_run
from tests.learning.training.test_trainer import PointMassEnv, short_card
from tests.pipeline.conftest import POINT_MASS_UPDATES

pytestmark = pytest.mark.unit


@pytest.fixture
def run_dir(point_mass_run):
    return point_mass_run


def _replay(payload) -> tuple[np.ndarray, int, int]:
    replay = payload["state"]["amp"]["replay"]
    return np.asarray(replay["data"]), int(replay["insert_at"]), int(replay["filled"])


def test_a_packed_run_fits_and_keeps_the_newest_replay_rows(run_dir, tmp_path):
    whole = pack_run(run_dir, tmp_path / "whole")
    limit = whole.stat().st_size - 300
    packed = pack_run(run_dir, tmp_path / "cut", max_bytes=limit)
    assert packed.stat().st_size <= limit
    with tarfile.open(packed) as archive:
        names = archive.getnames()
        archive.extractall(tmp_path / "unpacked", filter="data")
    checkpoint = latest_checkpoint(run_dir)
    root = f"{run_dir.parent.parent.name}/mjx/{run_dir.name}"
    assert f"{root}/checkpoints/{checkpoint.name}" in names and f"{root}/card.json" in names
    assert not any("envs_" in name for name in names)  # the env batch stays behind
    carried = read_checkpoint(tmp_path / "unpacked" / root / "checkpoints" / checkpoint.name)
    rows, _, kept = _replay(carried)
    assert rows.dtype == np.float16 and len(rows) == kept
    data, insert_at, filled = _replay(read_checkpoint(checkpoint))
    assert 0 < kept < filled, "the limit should have cut some rows"
    newest = data[(insert_at - kept + np.arange(kept)) % len(data)]
    np.testing.assert_allclose(rows, newest, rtol=1e-3, atol=1e-3)
    assert carried["travelling"] == {
        "replay_capacity": len(data),
        "replay_rows": kept,
        "replay_rows_before": filled,
    }


def test_an_unpacked_run_resumes_with_new_episodes(run_dir, tmp_path):
    with tarfile.open(pack_run(run_dir, tmp_path / "packed")) as archive:
        archive.extractall(tmp_path / "runs", filter="data")
    unpacked = tmp_path / "runs" / run_dir.parent.parent.name / "mjx" / run_dir.name
    longer = short_card(POINT_MASS_UPDATES + 2)
    result = loop.train(PointMassEnv(), longer, seed=0, run_dir=unpacked, resume=True)
    assert result.updates == POINT_MASS_UPDATES + 2
    payload = flax.serialization.msgpack_restore(latest_checkpoint(unpacked).read_bytes())
    assert "travelling" not in payload  # its own checkpoints are whole again


def test_a_whole_checkpoint_without_its_env_batch_still_refuses_to_resume(run_dir, tmp_path):
    with tarfile.open(pack_run(run_dir, tmp_path / "packed")) as archive:
        archive.extractall(tmp_path / "runs", filter="data")
    unpacked = tmp_path / "runs" / run_dir.parent.parent.name / "mjx" / run_dir.name
    checkpoint = latest_checkpoint(unpacked)
    checkpoint.write_bytes(latest_checkpoint(run_dir).read_bytes())  # whole, not travelling
    with pytest.raises(RunError, match=env_state_name(POINT_MASS_UPDATES)):
        loop.train(PointMassEnv(), short_card(POINT_MASS_UPDATES + 2), seed=0, run_dir=unpacked, resume=True)
