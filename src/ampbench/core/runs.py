"""Run folders: everything needed to score, resume or audit a training run without the person who ran it.

Layout: `runs/<card>/<backend>/<run-id>/` holding `card.json` (the resolved card), `provenance.json`
(card hash, git commit, versions, hardware, seed, overlays), `checkpoints/` and `tb/`, all written
atomically (`ampbench.core.files`). `ampbench.pipeline.runs.load_run` reads a folder back as a card.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ampbench.core.files import atomic_write_json


class RunError(ValueError):
    """A run folder that cannot be used; the message names the folder and the missing piece."""


class RunBusyError(RunError):
    """Another process holds the run folder's lock."""


LOCK_FILE = ".lock"


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run folder for one writer (train, resume, score, collect): a second process stops at once
    with the holder's pid, host and command. An advisory `flock` on `<run>/.lock`, which the kernel
    releases when the holder exits in any way, so a killed run never leaves the folder locked."""
    if not Path(run_dir).is_dir():
        raise RunError(f"{run_dir}: run folder not found")
    path = Path(run_dir) / LOCK_FILE
    handle = open(path, "a+")  # noqa: SIM115 (held open for the lock's lifetime, closed below)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "an unknown process"
            raise RunBusyError(f"{run_dir} is in use by {holder}; wait for it to finish") from None
        handle.seek(0)
        handle.truncate()
        command = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))
        handle.write(f"pid {os.getpid()} on {socket.gethostname()} ({command})\n")
        handle.flush()
        yield
    finally:
        handle.close()


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
    name = pointer.read_text().strip()
    if not name or Path(name).name != name or name in (".", ".."):
        raise RunError(f"{run_dir}: {pointer} names {name!r}, not a file in its own folder")
    path = pointer.parent / name
    if not path.is_file():
        raise RunError(f"{run_dir}: {pointer} names {path.name}, which does not exist")
    return path
