"""TensorBoard scalars of a run folder, read without TensorFlow or TensorBoard."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from ampbench.core.runs import RunError


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
