"""Fixtures the simulator tests share: the phase-2 card on its smoke budget and a synthetic walk clip."""

from __future__ import annotations

import pytest

from ampbench.cards import load_card
from ampbench.motion.loader import MotionLibrary
from tests.clipfactory import synthetic_clip


@pytest.fixture(scope="module")
def card():
    return load_card("benchmarks/phase2.yaml", overlays=("smoke",))


@pytest.fixture(scope="module")
def library():
    return MotionLibrary([synthetic_clip(num_frames=61, fps=30.0, loop=True)], skills=["walk"])
