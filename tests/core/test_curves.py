"""TensorBoard curves of a resumed run: no duplicate steps, no gaps, and a killed writer's truncated last
record skipped."""

from __future__ import annotations

import time

import numpy as np
import pytest
from tensorboardX import SummaryWriter

from ampbench.core.curves import read_scalars, window_means


def write(folder, steps, value, purge_step=None):
    with SummaryWriter(str(folder), purge_step=purge_step) as writer:
        for step in steps:
            writer.add_scalar("loss", value, step)
    time.sleep(1.1)  # event file names carry the second they were opened in


def test_a_resumed_run_reads_as_one_curve(tmp_path):
    write(tmp_path / "tb", range(10, 110, 10), 1.0)  # killed after step 100, last checkpoint at 50
    write(tmp_path / "tb", range(60, 160, 10), 2.0, purge_step=50)
    steps, values = read_scalars(tmp_path)["loss"]
    assert steps.tolist() == list(range(10, 160, 10))
    assert values.tolist() == [1.0] * 5 + [2.0] * 10


def test_a_truncated_last_record_is_skipped(tmp_path):
    write(tmp_path / "tb", range(1, 6), 1.0)
    (path,) = (tmp_path / "tb").glob("events.out.tfevents.*")
    path.write_bytes(path.read_bytes()[:-7])
    skipped = []
    steps, _ = read_scalars(tmp_path, skipped)["loss"]
    assert steps.tolist() == [1, 2, 3, 4]
    assert np.all(np.diff(steps) > 0)
    assert skipped == [f"{path.name}: a truncated last record (35 bytes) skipped"]


def test_a_damaged_record_keeps_what_came_before_and_says_so(tmp_path):
    write(tmp_path / "tb", range(1, 6), 1.0)
    (path,) = (tmp_path / "tb").glob("events.out.tfevents.*")
    data = bytearray(path.read_bytes())
    data[-30:-20] = b"\xff" * 10  # inside the last event's protobuf
    path.write_bytes(bytes(data))
    skipped = []
    steps, _ = read_scalars(tmp_path, skipped)["loss"]
    assert steps.tolist() == [1, 2, 3, 4]
    assert len(skipped) == 1 and "damaged record at byte" in skipped[0]


def test_a_long_curve_is_kept_as_window_means_that_hold_its_level_and_its_last_step():
    steps = np.arange(1, 7_301) * 4_096
    values = np.sin(steps / 3e6) + np.random.default_rng(0).normal(0.0, 0.3, steps.size)
    kept = window_means(steps, values, 500)
    assert len(kept["values"]) == 500 and sum(kept["logged"]) == steps.size
    assert kept["env_steps"][-1] == steps[-1] and np.all(np.diff(kept["env_steps"]) > 0)
    weighted = np.dot(kept["values"], kept["logged"]) / steps.size
    assert weighted == pytest.approx(values.mean())
    # each point is its window's mean: the noise averages out where every n-th record would keep it
    assert np.abs(np.asarray(kept["values"]) - np.sin(np.asarray(kept["env_steps"]) / 3e6)).max() < 0.3
    assert np.abs(values - np.sin(steps / 3e6)).max() > 0.9


def test_a_short_curve_is_kept_record_by_record():
    steps, values = np.array([10, 20, 30]), np.array([1.0, 2.0, 3.0])
    assert window_means(steps, values, 500) == {
        "env_steps": [10, 20, 30],
        "values": [1.0, 2.0, 3.0],
        "logged": [1, 1, 1],
    }
    assert window_means(np.array([], dtype=int), np.array([]), 500)["values"] == []
