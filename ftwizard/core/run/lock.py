"""One trainer per run directory: a lock file holding the trainer's pid and its process start time.

The lock is an flock (the kernel drops it when the trainer dies, so a lock left by a killed trainer never
blocks); the file holds the holder's pid and start time for the message. A pid alone is not an identity (pids
are reused); pid + start time (from /proc/<pid>/stat) is — `ftwizard stop` checks it before signalling.
Pure: no torch; POSIX flock, Linux /proc where there is one (elsewhere the pid alone is used).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from ftwizard.core.run.layout import RunDir
from ftwizard.core.workers import TRAIN_PACKAGE


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


def this_host() -> str:
    """The machine's name, recorded in status.json (`host`) by the trainer that runs the run."""
    return socket.gethostname()


def elsewhere(status: dict) -> str | None:
    """The other machine a run's trainer runs on (a run directory synced from a rented GPU or a cluster), or None
    when it runs here or recorded no host. A pid from another machine says nothing about this one's processes."""
    host = status.get("host")
    return host if isinstance(host, str) and host and host != this_host() else None


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
    return any(TRAIN_PACKAGE in a for a in cmd) and any(a in want or a.rstrip("/") in want for a in cmd)


@dataclass
class Holder:
    pid: int
    started: float | None


class RunLocked(OSError):
    """The run directory is in use by a live trainer; `str()` is the one line to show. An OSError (like
    `BlockingIOError`), so a caller that handles "could not start the trainer" handles this too."""

    def __init__(self, run: str | Path, holder: Holder) -> None:
        self.holder = holder
        who = f"pid {holder.pid}" if holder.pid > 0 else "pid not known yet"
        super().__init__(f"{run} is in use by a running trainer ({who}); "
                         f"watch it with `ftwizard monitor {run}` or stop it with `ftwizard stop {run}`")


_HELD: dict[str, int] = {}  # run path → the open fd whose flock this process holds (kept for its lifetime)


def _read(path: Path) -> Holder | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Holder(int(data["pid"]), data.get("started"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def holder(run: str | Path) -> Holder | None:
    """The live trainer holding the run's lock, or None. The lock is an flock on `train.lock`, which the kernel
    drops when its process dies — a lock file left by a killed trainer never blocks; the file's pid + start
    time name the holder (and a holder whose pid now is another process does not count)."""
    path = RunDir(run).lock_path
    if not path.exists():
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # held: the kernel says its holder is alive
            h = _read(path)
            if h is None:  # locked a moment ago, pid not written yet
                time.sleep(0.2)
                h = _read(path) or Holder(-1, None)
            return h
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def acquire(run: str | Path) -> None:
    """Take the run's lock for this process, until it exits (or `release`). RunLocked if a live trainer holds it.
    Atomic (flock), so two trainers starting together cannot both get it; a dead holder's lock is free."""
    path = RunDir(run).lock_path
    key = str(path.resolve())
    if key in _HELD:
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        time.sleep(0.05)
        raise RunLocked(run, _read(path) or Holder(-1, None)) from None
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({"pid": os.getpid(), "started": process_start(os.getpid())}).encode())
    _HELD[key] = fd


def release(run: str | Path) -> None:
    """Give the lock back (the file stays: unlinking a locked file would let two trainers lock two inodes)."""
    fd = _HELD.pop(str(RunDir(run).lock_path.resolve()), None)
    if fd is not None:
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def check_free(run: str | Path) -> None:
    """RunLocked if a live trainer holds the run (for the launcher: refuse before touching status)."""
    h = holder(run)
    if h is not None and h.pid != os.getpid() and str(RunDir(run).lock_path.resolve()) not in _HELD:
        raise RunLocked(run, h)
