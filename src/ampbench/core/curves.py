"""TensorBoard scalars of a run folder, read without TensorFlow or TensorBoard."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from ampbench.core.runs import RunError


def read_scalars(run_dir: Path, skipped: list[str] | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every TensorBoard scalar of a run: tag -> (env steps, values), steps increasing. A resumed run's
    event files are read one after another, each dropping the records of earlier files at or past its
    own first step (what the interrupted run logged after the checkpoint it resumed from, then logged
    again), as TensorBoard's purge_step does. What cannot be read is skipped and said in `skipped`: a
    truncated last record (a killed writer), or a damaged record and the rest of its file.
    Reads the record format directly (length, CRC, event, CRC), so it needs neither TensorFlow nor
    TensorBoard."""
    from google.protobuf.message import DecodeError
    from tensorboardX.proto import event_pb2

    files = sorted((Path(run_dir) / "tb").glob("events.out.tfevents.*"))
    if not files:
        raise RunError(f"{run_dir}: no TensorBoard event file under tb/")
    series: dict[str, tuple[list[int], list[float]]] = {}
    for path in files:
        data = path.read_bytes()
        offset, first_step = 0, None
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8].ljust(8, b"\0"))
            if offset + 12 + length + 4 > len(data):
                _note(skipped, f"{path.name}: a truncated last record ({len(data) - offset} bytes) skipped")
                break
            try:
                event = event_pb2.Event.FromString(data[offset + 12 : offset + 12 + length])
            except DecodeError:
                _note(skipped, f"{path.name}: damaged record at byte {offset}; the rest of the file skipped")
                break
            offset += 12 + length + 4
            if event.summary.value and first_step is None:
                first_step = int(event.step)
                _purge(series, first_step)
            for value in event.summary.value:
                steps, values = series.setdefault(value.tag, ([], []))
                steps.append(int(event.step))
                values.append(float(value.simple_value))
    return {tag: (np.asarray(steps), np.asarray(values)) for tag, (steps, values) in series.items()}


def window_means(steps: np.ndarray, values: np.ndarray, max_points: int) -> dict[str, list]:
    """A curve cut into at most `max_points` runs of consecutive records, each drawn as its mean at its
    last step, and `logged` (how many records each point averages): a mean keeps the curve's level
    where taking every n-th record would keep one noisy sample of each window."""
    starts = np.unique(np.linspace(0, len(steps), min(len(steps), max_points), endpoint=False).astype(int))
    sizes = np.diff(np.append(starts, len(steps)))
    means = np.add.reduceat(np.asarray(values, dtype=float), starts) / sizes if len(steps) else np.empty(0)
    return {
        "env_steps": np.asarray(steps)[starts + sizes - 1].tolist(),
        "values": means.tolist(),
        "logged": sizes.tolist(),
    }


def _note(skipped: list[str] | None, message: str) -> None:
    if skipped is not None:
        skipped.append(message)


def _purge(series: dict[str, tuple[list[int], list[float]]], step: int) -> None:
    """Drop every record at or past `step` (in place)."""
    for steps, values in series.values():
        keep = next((i for i, s in enumerate(steps) if s >= step), len(steps))
        del steps[keep:], values[keep:]
