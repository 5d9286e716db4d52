"""Stopping a training early and cleanly: after a wall-clock budget (`--minutes`), or once a scheduler
says the job must end (SIGTERM at a time limit or when a session is stopped; SIGUSR1/SIGUSR2 before
SLURM preempts or times out a job). Either way the update in flight finishes, a checkpoint is written and
training returns, so the run resumes from that update rather than from the last periodic checkpoint."""

from __future__ import annotations

import signal
import sys
import time

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)
_received: list[int] = []


def _record(signum: int, frame: object) -> None:
    if not _received:
        name = signal.Signals(signum).name
        print(f"ampbench: {name} received: stopping after this update with a checkpoint", file=sys.stderr)
    _received.append(signum)


def stop_on_signals() -> None:
    """From now on, STOP_SIGNALS ask training to stop at its next update instead of killing the process."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _record)


def stop_signal() -> int | None:
    """The first stop signal received, if any."""
    return _received[0] if _received else None


def deadline_after(minutes: float | None) -> float | None:
    return None if minutes is None else time.monotonic() + 60.0 * minutes


def stop_due(deadline: float | None) -> bool:
    """Whether training should stop now: its `deadline_after` has passed or a stop signal has arrived."""
    return bool(_received) or (deadline is not None and time.monotonic() >= deadline)
