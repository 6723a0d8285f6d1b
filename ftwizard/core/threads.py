"""CPU threads for training on the CPU (pure: the trainer sets them, the time estimate reads them): torch's
default (one per core) collapses when the cores are busy.

OpenMP threads spin-wait for each other at every op; with another process on the same cores, a 2-thread
step waits for the slowest core (measured on a busy 2-core box: 20 steps in 23.5 s with the default threads,
1.9 s with one). So: the cores this process may use, minus the load already on them, at least 1.
`FTWIZARD_CPU_THREADS` overrides it, and so does `OMP_NUM_THREADS` (what people already set for this).
"""

from __future__ import annotations

import os

ENV = "FTWIZARD_CPU_THREADS"


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def pick_cpu_threads(load: float | None = None, cores: int | None = None) -> int:
    """Threads for torch on the CPU: FTWIZARD_CPU_THREADS, else OMP_NUM_THREADS (the usual way to say it), else the
    cores not already busy (≥ 1)."""
    for name in (ENV, "OMP_NUM_THREADS"):
        env = os.environ.get(name, "").strip()
        if env:
            try:
                return max(1, int(env))
            except ValueError:
                raise ValueError(f"{name}={env!r} is not a whole number of threads (e.g. 1)") from None
    cores = cores or usable_cores()
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = 0.0
    return max(1, min(cores, int(cores - load + 0.5)))
