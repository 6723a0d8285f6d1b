"""One trainer per run directory: a lock file holding the trainer's pid and its process start time.

A pid alone is not an identity (pids are reused); pid + start time (from /proc/<pid>/stat) is. A lock whose
process is gone, or whose pid now belongs to another process (other start time), is stale and does not block.
Pure: no torch, Linux /proc where there is one (elsewhere the pid alone is used).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ftwizard.core.run.layout import RunDir


def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        pass
    return None


def process_start(pid: int | None) -> float | None:
    """The start time of process `pid` (seconds since the epoch, rounded to 10 ms), or None if unknown/gone."""
    if not pid:
        return None
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    boot = _boot_time()
    try:
        ticks = int(fields[19])  # field 22 (starttime) counted after "pid (comm)": index 19
    except (IndexError, ValueError):
        return None
    return round((boot or 0.0) + ticks / os.sysconf("SC_CLK_TCK"), 2)


def process_cmdline(pid: int | None) -> list[str]:
    try:
        raw = Path(f"/proc/{int(pid or 0)}/cmdline").read_bytes()
    except (OSError, ValueError):
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def pid_alive(pid: int | None) -> bool:
    """True for a running process (a zombie — exited, not yet reaped — is not running)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError):
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def same_process(pid: int | None, started: float | None) -> bool:
    """Is `pid` still the process that started at `started`? (No start time recorded: the pid alone.)"""
    if not pid_alive(pid):
        return False
    if started is None:
        return True
    now = process_start(pid)
    return now is None or abs(now - float(started)) < 0.05


def is_trainer_of(pid: int | None, run: str | Path, started: float | None = None) -> bool:
    """Is `pid` the trainer of `run`? Its start time matches the recorded one, or (none recorded) its command
    line runs `ftwizard.train` on this run directory."""
    if not pid_alive(pid):
        return False
    if started is not None and process_start(pid) is not None:
        return same_process(pid, started)
    cmd = process_cmdline(pid)
    if not cmd:  # no /proc (not Linux): the state check is all we have
        return True
    want = {str(Path(run)), str(Path(run).resolve())}
    return any("ftwizard.train" in a for a in cmd) and any(a in want or a.rstrip("/") in want for a in cmd)


@dataclass
class Holder:
    pid: int
    started: float | None


class RunLocked(OSError):
    """The run directory is in use by a live trainer; `str()` is the one line to show. An OSError (like
    `BlockingIOError`), so a caller that handles "could not start the trainer" handles this too."""

    def __init__(self, run: str | Path, holder: Holder) -> None:
        self.holder = holder
        super().__init__(f"{run} is in use by a running trainer (pid {holder.pid}); "
                         f"watch it with `ftwizard monitor {run}` or stop it with `ftwizard stop {run}`")


def holder(run: str | Path) -> Holder | None:
    """The live process holding the run's lock, or None (no lock, unreadable, or stale)."""
    path = RunDir(run).lock_path
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        h = Holder(int(data["pid"]), data.get("started"))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return h if same_process(h.pid, h.started) else None


def acquire(run: str | Path, pid: int | None = None) -> None:
    """Take the run's lock for `pid` (default: this process). RunLocked if a live trainer holds it; a stale lock
    is replaced. Atomic: O_CREAT|O_EXCL, so two trainers starting together cannot both get it."""
    rd = RunDir(run)
    pid = pid or os.getpid()
    body = json.dumps({"pid": pid, "started": process_start(pid)})
    for _ in range(3):
        try:
            fd = os.open(rd.lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            h = holder(run)
            if h is not None and h.pid != pid:
                raise RunLocked(run, h) from None
            if _being_written(rd.lock_path):  # another trainer created it a moment ago and is writing its pid
                time.sleep(0.2)
                h = holder(run)
                if h is not None and h.pid != pid:
                    raise RunLocked(run, h) from None
            try:  # stale (or ours): replace it
                rd.lock_path.unlink()
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(body)
        return
    h = holder(run)
    raise RunLocked(run, h or Holder(-1, None))


def _being_written(path: Path) -> bool:
    try:
        return path.stat().st_size == 0 and time.time() - path.stat().st_mtime < 2
    except OSError:
        return False


def release(run: str | Path, pid: int | None = None) -> None:
    """Remove the lock if this process (or `pid`) holds it."""
    rd = RunDir(run)
    pid = pid or os.getpid()
    try:
        if int(json.loads(rd.lock_path.read_text(encoding="utf-8")).get("pid", -1)) == pid:
            rd.lock_path.unlink()
    except (OSError, ValueError, TypeError, AttributeError):
        pass


def check_free(run: str | Path) -> None:
    """RunLocked if a live trainer holds the run (for the launcher: refuse before touching status)."""
    h = holder(run)
    if h is not None and h.pid != os.getpid():
        raise RunLocked(run, h)
