"""Run folders: everything needed to score, resume or audit a training run without the person who ran it.

Layout: `runs/<card>/<backend>/<run-id>/` holding `card.json` (the resolved card), `provenance.json`
(card hash, git commit, versions, hardware, seed, overlays), `checkpoints/` and `tb/`. Files are written
atomically (temporary file + rename), so a crash never leaves a half-written card or checkpoint.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import struct
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ampbench.cards import CardError, ExperimentCard, data_hash
from ampbench.core.provenance import container, git_commit

CORE_PACKAGES = ("ampbench", "numpy", "scipy", "pydantic", "mujoco")


class RunError(ValueError):
    """A run folder that cannot be used; the message names the folder and the missing piece."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide results and checkpoints from other users
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, value: Any) -> None:
    atomic_write_bytes(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_versions(names: tuple[str, ...]) -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def hardware() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gib = None
    if hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        memory_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    return {
        "system": platform.system(),
        "machine": platform.machine(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
    }


def provenance(
    card: ExperimentCard,
    *,
    backend: str,
    backend_versions: dict[str, str],
    device: str,
    seed: int | None = None,
    overlays: tuple[str, ...] = (),
    overrides: tuple[str, ...] = (),
) -> dict[str, Any]:
    return {
        "card": card.name,
        "card_hash": card.content_hash(),
        "backend": backend,
        "seed": seed,
        "overlays": list(overlays),
        "overrides": list(overrides),
        "commit": git_commit(),
        "versions": {**package_versions(CORE_PACKAGES), **backend_versions},
        "hardware": hardware(),
        "device": device,
        "container": container(),
        "command": " ".join(sys.argv),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def new_run_dir(root: Path, card: ExperimentCard, backend: str, seed: int) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    path = Path(root) / card.name / backend / f"{stamp}-seed{seed}"
    suffix = 1
    while path.exists():
        path = path.with_name(f"{stamp}-seed{seed}-{suffix}")
        suffix += 1
    return path


def create_run(run_dir: Path, card: ExperimentCard, prov: dict[str, Any]) -> None:
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / "card.json", card.model_dump(mode="json"))
    atomic_write_json(run_dir / "provenance.json", prov)


def load_run(run_dir: Path) -> tuple[ExperimentCard, dict[str, Any]]:
    """Card and provenance of a run folder, with an error that says what is missing where."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: run folder not found")
    for name in ("card.json", "provenance.json"):
        if not (run_dir / name).is_file():
            raise RunError(
                f"{run_dir}: not a run folder ({name} is missing; runs are made by `ampbench train`)"
            )
    try:
        card_data = json.loads((run_dir / "card.json").read_text())
        prov = json.loads((run_dir / "provenance.json").read_text())
    except json.JSONDecodeError as error:
        raise RunError(f"{run_dir}: unreadable JSON ({error})") from None
    try:
        card = ExperimentCard.model_validate(card_data)
    except ValueError as error:
        raise CardError(f"{run_dir / 'card.json'}: {error}") from None
    if data_hash(card_data) != prov.get("card_hash"):
        raise RunError(
            f"{run_dir}: card.json does not match provenance.json card_hash "
            f"({data_hash(card_data)} != {prov.get('card_hash')}); the folder was edited after the run"
        )
    return card, prov


def latest_checkpoint(run_dir: Path) -> Path:
    """The checkpoint named by `checkpoints/latest`, which the trainer replaces atomically."""
    pointer = Path(run_dir) / "checkpoints" / "latest"
    if not pointer.is_file():
        raise RunError(f"{run_dir}: no checkpoint yet ({pointer} is missing)")
    path = pointer.parent / pointer.read_text().strip()
    if not path.is_file():
        raise RunError(f"{run_dir}: {pointer} names {path.name}, which does not exist")
    return path


def start_runs(
    card: ExperimentCard,
    *,
    backend: str,
    seeds: tuple[int, ...],
    runs_root: Path,
    overlays: tuple[str, ...] = (),
    overrides: tuple[str, ...] = (),
    minutes: float | None = None,
) -> list[Path]:
    """Train each seed into a fresh run folder (each for at most `minutes` of wall clock); returns them."""
    from ampbench.sim import get_backend

    unknown = sorted(set(seeds) - set(card.training.seeds))
    if unknown:
        raise ValueError(
            f"card {card.name}: seeds {unknown} are not in training.seeds {list(card.training.seeds)}"
        )
    if card.trainer != "ampbench" and backend != "isaaclab":
        raise ValueError(f"card {card.name}: trainer={card.trainer} runs on the isaaclab backend only")
    impl = get_backend(backend)
    run_dirs = []
    for seed in seeds:
        run_dir = new_run_dir(runs_root, card, backend, seed)
        prov = provenance(
            card,
            backend=backend,
            backend_versions=impl.versions(),
            device=impl.device(),
            seed=seed,
            overlays=overlays,
            overrides=overrides,
        )
        create_run(run_dir, card, prov)
        impl.train(card, run_dir, seed=seed, resume=False, minutes=minutes)
        run_dirs.append(run_dir)
    return run_dirs


def resume_run(run_dir: Path, minutes: float | None = None) -> Path:
    """Continue a run from its last checkpoint with the card and seed it was started with."""
    from ampbench.sim import get_backend

    card, prov = load_run(run_dir)
    latest_checkpoint(run_dir)
    get_backend(prov["backend"]).train(card, run_dir, seed=int(prov["seed"]), resume=True, minutes=minutes)
    return run_dir


def read_scalars(run_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every TensorBoard scalar of a run: tag -> (env steps, values), in the order written (a resumed
    run's event files one after another). Reads the record format directly (length, CRC, event, CRC),
    so it needs neither TensorFlow nor TensorBoard."""
    from tensorboardX.proto import event_pb2

    files = sorted((Path(run_dir) / "tb").glob("events.out.tfevents.*"))
    if not files:
        raise RunError(f"{run_dir}: no TensorBoard event file under tb/")
    series: dict[str, tuple[list[int], list[float]]] = {}
    for path in files:
        data = path.read_bytes()
        offset = 0
        while offset + 12 <= len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            event = event_pb2.Event.FromString(data[offset + 12 : offset + 12 + length])
            offset += 12 + length + 4
            for value in event.summary.value:
                steps, values = series.setdefault(value.tag, ([], []))
                steps.append(int(event.step))
                values.append(float(value.simple_value))
    return {tag: (np.asarray(steps), np.asarray(values)) for tag, (steps, values) in series.items()}
