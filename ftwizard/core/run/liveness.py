"""Is an active run's trainer alive and making progress? From status.json, `<run>/heartbeat.json` and the process table.

The trainer writes heartbeat.json from a daemon thread at least every `BEAT_S` seconds (`beat`) and at each step,
evaluation batch and save (`progress`, with the median step time `step_s`). A run whose state is active is:
- **dead (process gone)** — its recorded pid is gone (or now another process): nothing will update it again;
- **stalled** — the process is alive (not a zombie) but has made no progress for longer than `stall_threshold`:
  max(120 s, 5 × the median step time); before the first step of a segment the model is still loading, so only a
  frozen heartbeat counts (a SIGSTOPped process, or one stuck holding the interpreter), and before the first step
  time is known the allowance is 5 × 120 s. `FTWIZARD_STALL_S` sets the 120 s;
- **remote** — status.json names another machine (`host`): the folder is a copy synced from a rented GPU or a
  cluster (`ftwizard export`), so no local pid means anything; the line says where it runs and how old the newest
  news is (the heartbeat, the status or the events file), and calls it quiet past the stall threshold — the run
  or the sync has stopped.
Pure: no torch; reads files and /proc only.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftwizard.core.run.events import ACTIVE
from ftwizard.core.run.layout import RunDir
from ftwizard.core.run.lock import elsewhere, same_process

BEAT_S = 10.0  # the trainer's heartbeat thread writes at least this often
STALL_MIN_S = 120.0


def stall_min_s() -> float:
    try:
        return max(0.1, float(os.environ.get("FTWIZARD_STALL_S") or STALL_MIN_S))
    except ValueError:
        return STALL_MIN_S


def stall_threshold(step_s: float | None) -> float:
    """Seconds without progress after which an alive trainer is called stalled."""
    base = stall_min_s()
    if not step_s or step_s <= 0:
        return 5 * base  # no step finished yet in this segment: the first step can be slow (warm-up, generation)
    return max(base, 5 * float(step_s))


@dataclass(frozen=True)
class Liveness:
    kind: str  # alive | stalled | dead | remote
    seconds: float | None  # stalled: seconds without progress
    line: str  # what to show ("" when alive)


def read_heartbeat(run: str | Path) -> dict[str, Any] | None:
    try:
        hb = json.loads(RunDir(run).heartbeat_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return hb if isinstance(hb, dict) else None


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def liveness(run: str | Path, status: dict[str, Any] | None = None, now: float | None = None) -> Liveness | None:
    """The health of an active run's trainer, or None when the run is not active (or has no pid yet)."""
    st = RunDir(run).status() if status is None else status
    if st.get("state") not in ACTIVE:
        return None
    host = elsewhere(st)
    if host is not None:
        return _remote(run, st, host, time.time() if now is None else now)
    pid = st.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return None
    if not same_process(pid, _num(st.get("pid_started"))):
        return Liveness("dead", None, f"dead (process gone): the trainer (pid {pid}) is no longer running but the "
                                      f"state still says {st.get('state')}")
    hb = read_heartbeat(run)
    if hb is None or hb.get("pid") != pid:  # a trainer from before heartbeats, or one that has not beaten yet
        return Liveness("alive", None, "")
    now = time.time() if now is None else now
    beat, progress = _num(hb.get("beat")), _num(hb.get("progress"))
    if beat is None:
        return Liveness("alive", None, "")
    idle = now - beat
    if hb.get("phase") != "loading" and progress is not None:
        idle = max(idle, now - progress)
    threshold = stall_threshold(_num(hb.get("step_s")))
    if hb.get("phase") == "loading":
        threshold = max(threshold, 3 * BEAT_S)  # the beat alone: a few missed beats
    if idle > threshold:
        where = f" at step {hb['step']}" if isinstance(hb.get("step"), int) else ""
        return Liveness("stalled", idle, f"stalled for {int(idle)} s (no progress, process alive){where}: "
                                         f"`ftwizard stop {run}` stops it (SIGKILL if it does not exit)")
    return Liveness("alive", None, "")


def _remote(run: str | Path, st: dict[str, Any], host: str, now: float) -> Liveness:
    """A run on another machine, seen through a synced copy: where it is, and the age of the newest news."""
    rd = RunDir(run)
    hb = read_heartbeat(run) or {}
    times = [t for t in (_num(hb.get("beat")), _num(st.get("updated"))) if t is not None]
    try:
        times.append(rd.events_path.stat().st_mtime)
    except OSError:
        pass
    age = max(0.0, now - max(times)) if times else None
    step = f" at step {st['last_step']}" if isinstance(st.get("last_step"), int) else ""
    if age is None:
        return Liveness("remote", None, f"training on {host}{step} (a synced copy of that run)")
    if age > stall_threshold(_num(hb.get("step_s"))):
        return Liveness("remote", age, f"training on {host}{step}, but no news for {int(age)} s: the run or the "
                                       f"sync to this folder has stopped (check it on {host})")
    return Liveness("remote", age, f"training on {host}{step} (a synced copy; last news {int(age)} s ago)")


def with_liveness(run: str | Path, status: dict[str, Any]) -> dict[str, Any]:
    """`status` plus `liveness` (the line) when the trainer is stalled, dead or on another machine; `status` itself
    otherwise."""
    lv = liveness(run, status)
    if lv is None or lv.kind == "alive":
        return status
    return {**status, "liveness": lv.line, "liveness_kind": lv.kind}
