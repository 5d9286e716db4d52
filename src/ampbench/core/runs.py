"""Run folders: everything needed to score, resume or audit a training run without the person who ran it.

Layout: `runs/<card>/<backend>/<run-id>/` holding `card.json` (the resolved card), `provenance.json`
(card hash, git commit, versions, hardware, seed, overlays), `checkpoints/` and `tb/`, all written
atomically (`ampbench.core.files`). `ampbench.pipeline.runs.load_run` reads a folder back as a card.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from ampbench.core.files import atomic_write_json


class RunError(ValueError):
    """A run folder that cannot be used; the message names the folder and the missing piece."""


def new_run_dir(root: Path, card, backend: str, seed: int) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    path = Path(root) / card.name / backend / f"{stamp}-seed{seed}"
    suffix = 1
    while path.exists():
        path = path.with_name(f"{stamp}-seed{seed}-{suffix}")
        suffix += 1
    return path


def create_run(run_dir: Path, card, prov: dict[str, Any]) -> None:
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / "card.json", card.model_dump(mode="json"))
    atomic_write_json(run_dir / "provenance.json", prov)


def latest_checkpoint(run_dir: Path) -> Path:
    """The checkpoint named by `checkpoints/latest`, which the trainer replaces atomically."""
    pointer = Path(run_dir) / "checkpoints" / "latest"
    if not pointer.is_file():
        raise RunError(f"{run_dir}: no checkpoint yet ({pointer} is missing)")
    path = pointer.parent / pointer.read_text().strip()
    if not path.is_file():
        raise RunError(f"{run_dir}: {pointer} names {path.name}, which does not exist")
    return path
