"""`collect --force` replaces only a clip folder that collect recorded; fetched clips are never deleted."""

from __future__ import annotations

import pytest

from ampbench.pipeline.collect import RECORDING_MARKER, check_replaceable


def test_force_replaces_a_recording_and_refuses_fetched_clips(tmp_path):
    fetched = tmp_path / "deepmimic"
    fetched.mkdir()
    (fetched / "walk.npz").write_bytes(b"clip")
    with pytest.raises(FileExistsError, match="pass --force"):
        check_replaceable(fetched, "deepmimic", force=False)
    with pytest.raises(FileExistsError, match="was not recorded by ampbench collect"):
        check_replaceable(fetched, "deepmimic", force=True)
    assert (fetched / "walk.npz").exists()

    recorded = tmp_path / "mine"
    recorded.mkdir()
    (recorded / RECORDING_MARKER).write_text("recorded")
    check_replaceable(recorded, "mine", force=True)
    check_replaceable(tmp_path / "new", "new", force=False)

    (tmp_path / "single.npz").write_bytes(b"clip")
    with pytest.raises(FileExistsError, match="was not recorded"):
        check_replaceable(tmp_path / "single", "single", force=True)
