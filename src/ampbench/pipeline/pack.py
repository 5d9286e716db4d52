"""A run folder as one archive small enough to carry off a machine that hands back few, small files (a
lent GPU node: at most 16 MiB a file), that scores and resumes where it is unpacked.

The archive holds the card, provenance, timing, TensorBoard curves, the policy config and the latest
checkpoint's policy file, and a travelling copy of that checkpoint (`learning.checkpoint.travelling_copy`:
the AMP replay memory's newest rows as float16, as many as fit). Left behind: older checkpoints and policy
files, and the env batch, so a resumed run starts new episodes with a shorter replay memory (it continues
the training, not the exact run; the checkpoint records what was cut). Unpack with
`tar -xzf ARCHIVE -C RUNS_ROOT`: the members sit under `<card>/<backend>/<run>/` as `ampbench train` lays
runs out.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
from pathlib import Path

from ampbench.core.runs import RunError, latest_checkpoint
from ampbench.learning.checkpoint import read_checkpoint, travelling_copy
from ampbench.learning.policy import POLICY_CONFIG, policy_file_path
from ampbench.pipeline.runs import load_run

MIB = 2**20
RUN_FILES = ("card.json", "provenance.json", "timing.json")


def _replay_rows(checkpoint: Path) -> int:
    return int(read_checkpoint(checkpoint)["state"]["amp"]["replay"]["filled"])


def pack_run(run_dir: Path, out_dir: Path, max_bytes: int = 16 * MIB) -> Path:
    """`out_dir/<card>-<backend>-<run>.tar.gz`, at most `max_bytes`: the run folder with its latest
    checkpoint travelling (see the module docstring). The replay rows kept are cut until it fits."""
    run_dir = Path(run_dir).resolve()
    card, prov = load_run(run_dir)
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint.suffix != ".msgpack":
        raise RunError(f"{run_dir}: pack carries runs of ampbench's trainer; {checkpoint.name} is not one")
    root = Path(card.name) / prov["backend"] / run_dir.name
    members = [run_dir / name for name in RUN_FILES if (run_dir / name).is_file()]
    members += sorted(path for path in (run_dir / "tb").rglob("*") if path.is_file())
    checkpoints = run_dir / "checkpoints"
    members += [checkpoints / POLICY_CONFIG, policy_file_path(checkpoint), checkpoints / "latest"]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{card.name}-{prov['backend']}-{run_dir.name}.tar.gz"
    with tempfile.TemporaryDirectory(dir=out_dir) as scratch:

        def staged_with(rows: int) -> Path:
            carried = Path(scratch) / checkpoint.name
            travelling_copy(checkpoint, carried, rows)
            staged = Path(scratch) / out.name
            with tarfile.open(staged, "w:gz") as archive:
                for path in members:
                    archive.add(path, arcname=str(root / path.relative_to(run_dir)))
                archive.add(carried, arcname=str(root / "checkpoints" / checkpoint.name))
            return staged

        rows = _replay_rows(checkpoint)
        whole = staged_with(rows).stat().st_size
        if whole > max_bytes:
            fixed = staged_with(0).stat().st_size  # everything but the replay rows
            if fixed > max_bytes:
                raise RunError(
                    f"{run_dir}: does not pack into {max_bytes} bytes even without its replay memory "
                    f"({fixed} bytes): its networks or curves alone are too large"
                )
            rows = int(rows * (max_bytes - fixed) / (whole - fixed))
            while rows > 0 and staged_with(rows).stat().st_size > max_bytes:
                rows = int(rows * 0.95)  # compression is not linear in rows: step down until it fits
            staged_with(rows)
        os.replace(Path(scratch) / out.name, out)
    return out
