"""The DeepMimic clips the pipeline tests train on, converted once per session from ../shared/mocap into a
clip folder of their own (skipped with a reason where that folder is absent), and a small run folder the
tests that read one share."""

from pathlib import Path

import pytest

from ampbench.cards import data_hash
from ampbench.cli import main
from ampbench.core.runs import create_run
from ampbench.learning import loop
from tests.learning.training.test_trainer import PointMassEnv, short_card

POINT_MASS_UPDATES = 4

SHARED_MOCAP = Path(__file__).resolve().parents[2].parent / "shared" / "mocap"


@pytest.fixture(scope="session")
def deepmimic_clips(tmp_path_factory) -> Path:
    """A clip folder (for $AMPBENCH_DATA) holding the fetched DeepMimic clips."""
    if not (SHARED_MOCAP / "deepmimic").is_dir():
        pytest.skip(f"reference clips not found at {SHARED_MOCAP}; run `ampbench data fetch` for real data")
    clips = tmp_path_factory.mktemp("clips")
    assert main(["data", "fetch", "--from", str(SHARED_MOCAP), "--dest", str(clips)]) == 0
    return clips


@pytest.fixture(scope="package")
def point_mass_run(tmp_path_factory) -> Path:
    """A run folder of `POINT_MASS_UPDATES` updates on the point mass (read, never written, by its users)."""
    card = short_card(POINT_MASS_UPDATES)
    run_dir = tmp_path_factory.mktemp("runs") / card.name / "mjx" / "run-seed0"
    prov = {"card_hash": data_hash(card.model_dump(mode="json")), "backend": "mjx", "seed": 0}
    create_run(run_dir, card, prov)
    loop.train(PointMassEnv(), card, seed=0, run_dir=run_dir, resume=False)
    return run_dir
