"""One JAX device per CPU core, so the trainer can split its envs over the cores.

XLA runs one device's program on about one core plus some intra-op help (1.6 of 2 cores measured for
the MJX step), so a single CPU device leaves most of a many-core machine idle. Splitting the CPU into
one device per core lets the fused MJX update run each core's share of the envs side by side. It has to
be chosen before JAX starts its CPU backend, hence an environment variable set at import, standard
library only. GPUs are unaffected: JAX's default devices stay the accelerators.

$AMPBENCH_CPU_DEVICES sets the count (1: one device, as JAX starts by default); a count already given in
$XLA_FLAGS wins.
"""

from __future__ import annotations

import os

ENV_VAR = "AMPBENCH_CPU_DEVICES"
_XLA_FLAG = "--xla_force_host_platform_device_count"


def cores() -> int:
    """The cores this process may run on (its CPU affinity, which container limits and taskset set)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def request(environ: dict[str, str] | os._Environ = os.environ) -> int:
    """Ask for $AMPBENCH_CPU_DEVICES (default: `cores()`) CPU devices unless $XLA_FLAGS names a count;
    returns the count asked for. Has no effect once JAX has started its CPU backend."""
    flags = environ.get("XLA_FLAGS", "")
    for flag in flags.split():
        if flag.startswith(_XLA_FLAG + "="):
            return int(flag.split("=", 1)[1])
    raw = environ.get(ENV_VAR) or str(cores())
    try:
        count = int(raw)
    except ValueError:
        raise ValueError(f"${ENV_VAR}={raw!r}: expected a whole number of CPU devices >= 1") from None
    if count < 1:
        raise ValueError(f"${ENV_VAR}={raw!r}: expected a whole number of CPU devices >= 1")
    environ["XLA_FLAGS"] = f"{flags} {_XLA_FLAG}={count}".strip()
    return count
