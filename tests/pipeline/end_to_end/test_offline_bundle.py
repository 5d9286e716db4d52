"""The offline route end to end on this CPU: gather a bundle for a target Python that has JAX but not
ampbench's other packages, then run the device script there with pip's index switched off (install,
probe the batch sizes, train two seeds together, score, pack) at a tiny size, and check what comes back
fits the way off a lent GPU node: at most 8 files of at most 16 MiB."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
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
    command = [
        "bash",
        str(bundle / "run.sh"),
        str(out),
        "--minutes",
        "25",
        "--seeds",
        "0,1",
        "--sizes",
        "8,16",
    ]
    command += ["--probe-seconds", "30", "--score-minutes", "9", "--smoke"]
    command += ["--set", "training.seeds=[0, 1]", "--set", "training.steps=1024"]
    subprocess.run(command, env=env, check=True)
    files = sorted(path for path in out.rglob("*") if path.is_file())
    assert len(files) == 3 and all(path.stat().st_size <= 16 * 2**20 for path in files)
    with tarfile.open(out / "results.tar.gz") as archive:
        archive.extractall(tmp_path / "back", filter="data")
    scores = sorted((tmp_path / "back").glob("results/phase2/mjx/*/scores.json"))
    assert len(scores) == 2
    for path in scores:
        doc = json.loads(path.read_text())
        assert doc["provenance"]["commit"] == json.loads((bundle / "bundle.json").read_text())["commit"]
        assert doc["provenance"]["versions"]["mujoco"] == "3.17.0"
        assert doc["budget"]["env_steps"] == doc["budget"]["card_env_steps"] == 1024
    assert (tmp_path / "back" / "results" / "README.md").is_file()
    probe = json.loads((tmp_path / "back" / "results" / "probe.json").read_text())
    assert probe["rows"][0]["envs"] == 8 and probe["rows"][0]["seeds_in_process"] == 2
    for archive_path in out.glob("phase2-mjx-*.tar.gz"):
        with tarfile.open(archive_path) as archive:
            names = archive.getnames()
        assert any(name.endswith("timing.json") for name in names)
        assert any(name.endswith(".msgpack") for name in names) and any(
            name.endswith(".npz") for name in names
        )
