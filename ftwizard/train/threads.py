"""Set torch's CPU threads for training (the choice is core/threads.py: the cores not already busy)."""

from __future__ import annotations

from ftwizard.core.threads import ENV, pick_cpu_threads, usable_cores

__all__ = ["ENV", "pick_cpu_threads", "set_cpu_threads", "usable_cores"]


def set_cpu_threads(torch: object) -> int | None:
    """On a machine without CUDA, set torch's intra-op threads; returns the number (None: GPU, untouched)."""
    if torch.cuda.is_available():  # type: ignore[attr-defined]
        return None
    n = pick_cpu_threads()
    torch.set_num_threads(n)  # type: ignore[attr-defined]
    return n
