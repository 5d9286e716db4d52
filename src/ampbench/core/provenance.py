"""Which code a process runs, for provenance: the git commit of the checkout, or, in an ampbench image
(which holds no checkout), the commit the image was built from, and the image itself.

Standard library only, so noxfile.py can tag images with the same commit string run folders record.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

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
