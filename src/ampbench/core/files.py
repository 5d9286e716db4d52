"""Files written atomically (temporary file + rename), so a crash never leaves a half-written card,
checkpoint or score file, and their hashes."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `path` whole or not at all: a failed write leaves the old file and no temporary file, and
    its error names `path` (a full disk's error names no file by itself)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide results and checkpoints from other users
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename is None:
            raise OSError(
                error.errno, f"{error.strerror or error}; the previous file is kept", str(path)
            ) from error
        raise


def atomic_write_json(path: Path, value: Any) -> None:
    atomic_write_bytes(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_npz_sizes(path: Path) -> None:
    """ValueError naming the file and array where an NPZ member's header declares more data than the
    member holds: read before np.load allocates, so a crafted header cannot ask for terabytes."""
    import zipfile

    import numpy as np

    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                read = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, _, dtype = read(member)
                declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if declared > info.file_size:
                    raise ValueError(
                        f"{path}: array {info.filename.removesuffix('.npy')} declares shape {shape} "
                        f"({declared} bytes) but holds {info.file_size} bytes"
                    )
