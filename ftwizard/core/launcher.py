"""Start the trainer as its own process (never through a shell) and reconcile its status.

The trainer runs in a new session, so closing the app or pressing Ctrl-C in it does not stop training;
`ftwizard monitor RUN` reattaches. Several GPUs go through `accelerate launch`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ftwizard.core.diagnosis import killed_process_diagnosis
from ftwizard.core.rundir import RunDir

TERMINAL = ("stopped", "done", "failed")


def trainer_command(run: str | Path, resume: bool = False, num_gpus: int = 1) -> list[str]:
    tail = ["-m", "ftwizard.train", str(run)] + (["--resume"] if resume else [])
    if num_gpus > 1:
        return [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(num_gpus), *tail]
    return [sys.executable, *tail]


def launch(run: str | Path, resume: bool = False, num_gpus: int = 1, extra_env: dict[str, str] | None = None,
           cpu_multi: bool = False) -> subprocess.Popen[bytes]:
    rd = RunDir(run)
    cmd = trainer_command(run, resume, num_gpus)
    if cpu_multi and num_gpus > 1:
        cmd.insert(cmd.index("--num_processes"), "--cpu")
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.update(extra_env or {})
    rd.write_status(state="starting", command=cmd, resumed=resume)
    out = open(rd.stdout_path, "ab")  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=env)
    finally:
        out.close()


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) is not alive
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def reconcile(run: str | Path, returncode: int | None = None) -> dict:
    """If the trainer is gone but its status is not terminal (SIGKILL, segfault), record that."""
    rd = RunDir(run)
    st = rd.status()
    if st.get("state") in TERMINAL:
        return st
    if returncode is None and pid_alive(st.get("pid")):
        return st
    diag = killed_process_diagnosis(returncode if returncode is not None else -9)
    return rd.write_status(state="failed", diagnosis=diag.to_dict())


def wait(proc: subprocess.Popen[bytes], run: str | Path) -> dict:
    rc = proc.wait()
    return reconcile(run, rc)


def stop(run: str | Path) -> bool:
    """Graceful stop: SIGTERM → the trainer finishes the step, saves a checkpoint, state 'stopped'."""
    import signal

    st = RunDir(run).status()
    pid = st.get("pid")
    if not pid_alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    return True
