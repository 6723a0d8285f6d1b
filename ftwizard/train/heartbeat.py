"""The trainer's pulse: `<run>/heartbeat.json`, written by a daemon thread every `BEAT_S` seconds (`beat`: the
process is alive and its interpreter runs) and at each step, evaluation batch and save (`progress`, `step`, the
median step time `step_s`). Readers: core/run/liveness.py (monitor, runs list, `ftwizard stop`).

A step end only marks the time in memory; the file is rewritten at most once a second from the training thread
(plus every beat), atomically, and a full disk never stops training.
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
from collections import deque
from typing import Any

from ftwizard.core.run.layout import RunDir
from ftwizard.core.run.liveness import BEAT_S


class Heartbeat:
    def __init__(self) -> None:
        self.rd: RunDir | None = None
        self.phase = "loading"
        self.step: int | None = None
        self.progress = time.time()
        self._last_step_end: float | None = None
        self._durations: deque[float] = deque(maxlen=50)
        self._last_write = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, rd: RunDir, interval: float = BEAT_S) -> None:
        self.rd = rd
        self.progress = time.time()
        self.write()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(interval,), name="ftwizard-heartbeat", daemon=True)
        self._thread.start()

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.write()

    def stop(self) -> None:
        self._stop.set()

    def mark(self, phase: str | None = None, step: int | None = None, step_end: bool = False) -> None:
        """Progress: a step ended (`step_end`), an evaluation batch ran, a checkpoint was saved, a phase began."""
        now = time.time()
        if phase is not None:
            self.phase = phase
            if phase == "training":
                self._last_step_end = now  # the first step of a segment is timed from its start
        if step is not None:
            self.step = step
        if step_end:
            if self._last_step_end is not None:
                self._durations.append(now - self._last_step_end)
            self._last_step_end = now
        self.progress = now
        if now - self._last_write >= 1.0 or phase is not None:
            self.write()

    def step_s(self) -> float | None:
        return round(statistics.median(self._durations), 3) if self._durations else None

    def write(self) -> None:
        rd = self.rd
        if rd is None:
            return
        with self._lock:
            now = time.time()
            self._last_write = now
            data: dict[str, Any] = {"pid": os.getpid(), "beat": now, "progress": self.progress, "phase": self.phase,
                                    "step": self.step, "step_s": self.step_s(), "rss_peak_gib": rss_peak_gib()}
            tmp = rd.heartbeat_path.with_name(f"{rd.heartbeat_path.name}.{os.getpid()}.tmp")
            try:
                tmp.write_text(json.dumps(data), encoding="utf-8")
                os.replace(tmp, rd.heartbeat_path)
            except OSError:  # a full or read-only disk: the pulse is skipped, training goes on
                try:
                    tmp.unlink()
                except OSError:
                    pass


def rss_peak_gib() -> float | None:
    """This process's peak resident memory (RAM), GiB: what a CPU run's memory is (ru_maxrss: KiB on Linux)."""
    try:
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return round(peak / (2**30 if sys.platform == "darwin" else 2**20), 3)
    except (ImportError, OSError, ValueError):
        return None


BEAT = Heartbeat()  # the trainer process' one heartbeat (started by run.main on the main rank)
