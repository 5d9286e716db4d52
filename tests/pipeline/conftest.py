"""The DeepMimic clips the pipeline tests train on, converted once per session from ../shared/mocap into a
clip folder of their own (skipped with a reason where that folder is absent)."""

from pathlib import Path

import pytest

from ampbench.cli import main

SHARED_MOCAP = Path(__file__).resolve().parents[2].parent / "shared" / "mocap"


@pytest.fixture(scope="session")
def deepmimic_clips(tmp_path_factory) -> Path:
    """A clip folder (for $AMPBENCH_DATA) holding the fetched DeepMimic clips."""
    if not (SHARED_MOCAP / "deepmimic").is_dir():
        pytest.skip(f"reference clips not found at {SHARED_MOCAP}; run `ampbench data fetch` for real data")
    clips = tmp_path_factory.mktemp("clips")
    assert main(["data", "fetch", "--from", str(SHARED_MOCAP), "--dest", str(clips)]) == 0
    return clips
