"""The offline route end to end on this CPU: gather a bundle for a target Python that has JAX but not
ampbench's other packages, then install, train, score and report there with pip's index switched off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from ampbench.cli import main
from ampbench.core import compile_cache

ROOT = Path(__file__).resolve().parents[3]
SHARED_MOCAP = ROOT.parent / "shared" / "mocap"
# What a GPU node's Python brings (its JAX build, the learning stack), at this environment's versions.
TARGET_PACKAGES = ("jax", "jaxlib", "flax", "optax", "numpy", "scipy", "matplotlib", "tqdm", "pyyaml")


def _target_python(root: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    python = root / "bin" / "python"
    pins = [f"{name}=={version(name)}" for name in TARGET_PACKAGES]
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *pins], check=True)
    return python


def test_a_bundle_installs_trains_and_scores_without_an_index(tmp_path, monkeypatch):
    if not (SHARED_MOCAP / "deepmimic").is_dir():
        pytest.skip(f"reference clips not found at {SHARED_MOCAP}; run `ampbench data fetch` for real data")
    monkeypatch.setenv("AMPBENCH_DATA", str(tmp_path / "clips"))
    assert main(["data", "fetch", "--from", str(SHARED_MOCAP)]) == 0
    python = _target_python(tmp_path / "target")
    freeze = subprocess.run([str(python), "-m", "pip", "freeze"], check=True, capture_output=True, text=True)
    have = tmp_path / "have.txt"
    have.write_text(freeze.stdout)
    bundle = tmp_path / "bundle"
    card = str(ROOT / "benchmarks" / "phase2.yaml")
    assert main(["offline", "gather", str(bundle), "--have", str(have), "--card", card]) == 0
    wheels = {path.name.split("-")[0].lower() for path in (bundle / "wheels").glob("*.whl")}
    assert {"ampbench", "mujoco", "mujoco_mjx", "pydantic"} <= wheels
    assert not wheels & {"jax", "jaxlib", "flax", "numpy", "scipy"}

    out = tmp_path / "out"
    # The session's compilation cache (same JAX version in the target): the programs compile once per CI run.
    env = {
        **os.environ,
        "PYTHON": str(python),
        "PIP_NO_INDEX": "1",
        "AMPBENCH_DATA": "/nonexistent",
        "AMPBENCH_COMPILE_CACHE": str(compile_cache.default_folder()),
    }
    subprocess.run(
        ["bash", str(bundle / "run.sh"), str(out), "--smoke", "--set", "training.steps=1024"],
        env=env,
        check=True,
    )
    (scores,) = out.glob("results/phase2/mjx/*/scores.json")
    provenance = json.loads(scores.read_text())["provenance"]
    assert provenance["commit"] == json.loads((bundle / "bundle.json").read_text())["commit"] != "unknown"
    assert provenance["versions"]["mujoco"] == "3.17.0"
    assert (out / "results" / "README.md").is_file()
    (run_dir,) = out.glob("runs/phase2/mjx/*")
    assert (run_dir / "timing.json").is_file()
