"""Provenance: which code a process runs (the git commit of the checkout, or, in an ampbench image that
holds no checkout, the commit the image was built from, and the image itself), the package versions and
the hardware, as run folders and score files record them.

Standard library only, so noxfile.py can tag images with the same commit string run folders record.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

CORE_PACKAGES = ("ampbench", "numpy", "scipy", "pydantic", "mujoco")
IMAGE_COMMIT_ENV = "AMPBENCH_COMMIT"
"""Set to the commit it was built from in an image (docker/*.Dockerfile, build arg COMMIT) and by an offline
bundle's run.sh (`ampbench offline gather`)."""
CONTAINER_ENV = {
    "image": "AMPBENCH_CONTAINER_IMAGE",
    "digest": "AMPBENCH_CONTAINER_DIGEST",
    "engine": "AMPBENCH_CONTAINER_ENGINE",
}
"""Set by the container runner (ampbench.core.containers.run_command): the image's tag, its id
(`sha256:...`, the digest of the image configuration) and the engine with its version."""


def git_commit(cwd: Path | None = None) -> str:
    """HEAD commit, suffixed `-dirty` when tracked files differ; outside a git checkout, the commit an
    ampbench image or offline bundle was built from, else `unknown`."""
    cwd = cwd or Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return os.environ.get(IMAGE_COMMIT_ENV) or "unknown"
    return f"{head}-dirty" if dirty else head


def container() -> dict[str, Any] | None:
    """The image this process runs in (tag, digest, engine) as its runner set it; None outside one."""
    found = {key: os.environ.get(name) for key, name in CONTAINER_ENV.items()}
    if not any(found.values()):
        return None
    return {"in_container": True, **found}


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
    card,
    *,
    backend: str,
    backend_versions: dict[str, str],
    device: str,
    seed: int | None = None,
    overlays: tuple[str, ...] = (),
    overrides: tuple[str, ...] = (),
) -> dict[str, Any]:
    """What a run folder records of how it was made (`card`: an `ExperimentCard`)."""
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
