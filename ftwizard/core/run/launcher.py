"""Start the trainer as its own process (never through a shell) and reconcile its status.

The trainer runs in a new session, so closing the app or pressing Ctrl-C in it does not stop training;
`ftwizard monitor RUN` reattaches. Several GPUs go through `accelerate launch`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ftwizard.core.run.diagnosis import diagnose, disk_note, killed_process_diagnosis
from ftwizard.core.run.events import ACTIVE, TERMINAL
from ftwizard.core.run.layout import RunDir
from ftwizard.core.run.lock import (
    RunLocked,
    check_free,
    elsewhere,
    is_trainer_of,
    pid_alive,
    process_start,
    same_process,
)
from ftwizard.core.workers import module_args

__all__ = ["LOCKED_EXIT", "FINISHED_EXIT", "RunLocked", "current_status", "launch", "pid_alive", "reconcile", "stop",
           "stop_or_kill", "stop_run", "trainer_command", "wait"]

LOCKED_EXIT = 3  # the trainer found another live trainer holding the run's lock: it touched nothing
FINISHED_EXIT = 4  # `--resume` of a run that has already finished: nothing to do


def trainer_command(run: str | Path, resume: bool = False, num_gpus: int = 1,
                    config_file: str | Path | None = None) -> list[str]:
    tail = module_args("train", str(run), *(["--resume"] if resume else []))
    if num_gpus > 1:
        conf = ["--config_file", str(config_file)] if config_file else []
        return [sys.executable, "-m", "accelerate.commands.launch", *conf, "--num_processes", str(num_gpus), *tail]
    return [sys.executable, *tail]


def prepare_accelerate(run: str | Path, num_gpus: int) -> Path | None:
    """The accelerate config of a multi-GPU run: the user's own `accelerate_config` as it is; else <run>/accelerate.yaml,
    generated once for the new run (DDP / FSDP / DeepSpeed, or a wrapper of the user's `deepspeed_config` JSON) and
    never rewritten afterwards (`--resume` keeps it, with any edit made to it)."""
    import json

    import yaml

    from ftwizard.core.run.accel import deepspeed_wrapper, write_accelerate_config

    if num_gpus <= 1:
        return None
    rd = RunDir(run)
    cfg = rd.config()
    if cfg.accelerate_config:
        return Path(cfg.accelerate_config)
    path = rd.accelerate_path
    if path.exists():
        return path
    if cfg.deepspeed_config:
        path.write_text(yaml.safe_dump(deepspeed_wrapper(cfg.deepspeed_config, num_gpus), sort_keys=False),
                        encoding="utf-8")
        return path
    model_type = None
    cfg_json = Path(cfg.model) / "config.json"
    if cfg_json.exists():
        model_type = json.loads(cfg_json.read_text(encoding="utf-8")).get("model_type")
    note = write_accelerate_config(path, cfg.engine, cfg.method, num_gpus, cfg.precision, model_type)
    if note:
        rd.append_event({"type": "note", "message": note})
    return path


def launch(run: str | Path, resume: bool = False, num_gpus: int = 1, extra_env: dict[str, str] | None = None,
           cpu_multi: bool = False) -> subprocess.Popen[bytes]:
    """Start the trainer. RunLocked (one line with the running pid) if a live trainer already holds the run —
    checked before status.json is touched; the trainer takes the lock itself (atomically) when it starts."""
    rd = RunDir(run)
    check_free(run)
    if resume and rd.status().get("state") == "done":
        raise RunFinished(run)
    if (host := elsewhere(rd.status())) and rd.status().get("state") in ACTIVE:
        raise RunElsewhere(run, host)
    cmd = trainer_command(run, resume, num_gpus, prepare_accelerate(run, num_gpus))
    env = dict(os.environ)
    if cpu_multi and num_gpus > 1:
        # several processes on the CPU (gloo), from the same accelerate config as GPUs (tests, and a 2-process check
        # of an exported config): with no GPU visible each process trains on the CPU. (`accelerate launch --cpu`
        # would start ONE process whatever --num_processes says, without mpirun.)
        env["CUDA_VISIBLE_DEVICES"] = ""
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.update(extra_env or {})
    rd.write_status(state="starting", command=cmd, resumed=resume, exit_code=None, stop_signal=None, pid=None,
                    pid_started=None, diagnosis=None, ended=None)
    out = open(rd.stdout_path, "ab")  # noqa: SIM115 - handed to the child
    try:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=env)
    finally:
        out.close()
    if rd.status().get("pid") is None:  # the trainer writes its own pid when it starts; until then, the child's
        rd.try_write_status(pid=proc.pid, pid_started=process_start(proc.pid))
    return proc


class RunElsewhere(ValueError):
    def __init__(self, run: str | Path, host: str) -> None:
        super().__init__(f"{run} is training on {host} (this folder is a synced copy); nothing was started here. "
                         f"Follow it with `ftwizard monitor {run}`.")


class RunFinished(ValueError):
    def __init__(self, run: str | Path) -> None:
        super().__init__(f"{run} has finished; nothing to resume. Start a new run to train more.")


def _log_tail(rd: RunDir, n: int = 6000) -> str:
    try:
        with open(rd.stdout_path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - n))
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _disk_nearly_full(rd: RunDir) -> bool:
    """Less than 1 MB free where the run lives: a failure that could not even be logged was the disk."""
    import shutil

    try:
        return shutil.disk_usage(rd.path).free < (1 << 20)
    except OSError:
        return False


def reconcile(run: str | Path, returncode: int | None = None) -> dict:
    """If the trainer is gone but its status is not terminal (SIGKILL, segfault, a failure it could not record
    on a full disk), record that: the exit code, the time it ended, and a diagnosis from the exit code and the
    end of its log. Never raises on a full disk: the last good status.json stays and the answer is returned."""
    rd = RunDir(run)
    st = rd.status()
    if st.get("state") in TERMINAL:
        if returncode is not None and st.get("exit_code") is None:
            st = rd.try_write_status(exit_code=returncode)
        return st
    if returncode == LOCKED_EXIT:  # a second trainer was refused: the run belongs to the first one
        return st
    if returncode is None and elsewhere(st):  # a synced copy of a run on another machine: only that one knows
        return st
    if returncode is None and same_process(st.get("pid"), st.get("pid_started")):
        return st  # still running (the same process, not a later one that reused the pid)
    if returncode is None and st.get("state") == "starting" and not st.get("pid") \
            and time.time() - float(st.get("updated") or 0) < 60:
        return st  # launched a moment ago: no pid written yet
    diag = killed_process_diagnosis(returncode if returncode is not None else -9, _log_tail(rd))
    if diag.kind == "crash" and (returncode or 0) > 0 and _disk_nearly_full(rd):
        diag = diagnose(f"No space left on device (the trainer exited with code {returncode} on a full disk)")
    if diag.kind == "disk_full":
        note = disk_note(run)
        diag.fix = f"{diag.fix} {note}".strip()
    ended = st.get("updated") or time.time()
    return rd.try_write_status(state="failed", diagnosis=diag.to_dict(), exit_code=returncode, ended=ended)


def current_status(run: str | Path, proc: subprocess.Popen[bytes] | None = None) -> dict:
    """status.json, reconciled when the trainer is gone: with our own child, once it has exited (reaping it);
    for a run started elsewhere (reattach), whenever its pid is no longer alive."""
    rc = proc.poll() if proc is not None else None
    if proc is None or rc is not None:
        return reconcile(run, rc)
    return RunDir(run).status()


def wait(proc: subprocess.Popen[bytes], run: str | Path) -> dict:
    rc = proc.wait()
    return reconcile(run, rc)


def stop_run(run: str | Path) -> tuple[bool, str]:
    """Graceful stop: SIGTERM → the trainer finishes the step, saves a checkpoint, state 'stopped'.
    Signals only when the run is active and the recorded pid is still this run's trainer (its start time, or its
    command line), never a process that reused the pid. Returns (signalled, the line to show)."""
    import signal

    rd = RunDir(run)
    st = rd.status()
    pid, state = st.get("pid"), st.get("state")
    if state not in ACTIVE:
        return False, f"the run is not running (state: {state or 'never started'})"
    if host := elsewhere(st):
        return False, (f"the run is training on {host}, not here (this folder is a synced copy): stop it there "
                       f"(`ftwizard stop RUN` on {host}, `sky cancel`, or `scancel`)")
    if not isinstance(pid, int) or not pid_alive(pid):
        return False, "the run is not running (its trainer process is gone)"
    if not is_trainer_of(pid, run, st.get("pid_started")):
        return False, f"the run is not running: pid {pid} now belongs to another process (left alone)"
    os.kill(pid, signal.SIGTERM)
    return True, "stop requested: the trainer saves a checkpoint and exits"


def stop(run: str | Path) -> bool:
    return stop_run(run)[0]


STOP_WAIT_S = 30.0  # `ftwizard stop`: seconds without progress after SIGTERM before the trainer is killed


def stop_or_kill(run: str | Path, wait_s: float = STOP_WAIT_S,
                 say: Callable[[str], None] | None = None) -> tuple[bool, str]:
    """`ftwizard stop`: SIGTERM (stop_run), then wait for the trainer to exit. While it makes progress (finishes
    its step, saves the checkpoint: heartbeat.json) it is left to finish; once it has made none for `wait_s` seconds
    (or 3 × its median step time, if longer) — stalled, SIGSTOPped, stuck in a reward — its whole process group
    is killed (SIGKILL) and the run is marked failed, resumable from its last checkpoint. Returns (stopped, the
    last line); `say` gets each line as it happens."""
    import signal

    from ftwizard.core.run.liveness import read_heartbeat

    say = say or (lambda _line: None)
    ok, line = stop_run(run)
    say(line)
    if not ok:
        return False, line
    rd = RunDir(run)
    st = rd.status()
    pid, started = int(st["pid"]), st.get("pid_started")
    t_sig = time.time()
    last_progress, last_seen = t_sig, None
    while same_process(pid, started):
        hb = read_heartbeat(run) or {}
        seen = (hb.get("progress"), hb.get("step"), hb.get("phase"))
        if hb.get("pid") == pid and seen != last_seen:
            if last_seen is not None:
                last_progress = time.time()
            last_seen = seen
        step_s = hb.get("step_s") if isinstance(hb.get("step_s"), int | float) else 0.0
        allowed = max(wait_s, 3 * float(step_s or 0.0))
        saving = hb.get("phase") == "saving" and time.time() - float(hb.get("beat") or 0) < 30
        if time.time() - last_progress > allowed and not saving:
            break
        time.sleep(0.2)
    else:
        end = rd.status()
        if end.get("state") in ACTIVE:  # it died without writing its end (not our child: reattached)
            end = reconcile(run)
        state = end.get("state")
        if state == "stopped" and not isinstance(end.get("last_step"), int):
            return True, f"stopped before training began (nothing to save); start it again: ftwizard train --resume {run}"
        if state == "stopped":
            return True, f"stopped at step {end['last_step']} with a checkpoint; resume: ftwizard train --resume {run}"
        return True, f"the trainer exited (state: {state})"
    idle = int(time.time() - last_progress)
    say(f"no progress for {idle} s since SIGTERM: killing the trainer's process group (SIGKILL)")
    try:
        pgid = os.getpgid(pid)
    except OSError:
        pgid = None
    try:
        if pgid is not None and pgid != os.getpgrp():
            os.killpg(pgid, signal.SIGKILL)  # the trainer runs in its own session: accelerate's ranks go with it
        else:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for _ in range(100):
        if not pid_alive(pid):
            break
        time.sleep(0.1)
    ckpt = rd.last_checkpoint()
    where = f"its last checkpoint ({ckpt.name})" if ckpt else "the start (no checkpoint was saved)"
    rd.try_write_status(state="failed", stop_signal="SIGKILL", ended=time.time(), exit_code=-9, diagnosis={
        "kind": "killed",
        "summary": f"Stopped by force: the trainer made no progress for {idle} s after SIGTERM (stalled), so "
                   "`ftwizard stop` killed its process group (SIGKILL).",
        "fix": f"`ftwizard train --resume {run}` continues from {where}; the steps after it are trained again.",
        "detail": ""})
    rd.try_append_event({"type": "failed", "kind": "killed", "message": f"killed by ftwizard stop after {idle} s "
                         "without progress (SIGTERM was not enough)", "fix": f"ftwizard train --resume {run}"})
    return True, f"killed (SIGKILL) after {idle} s without progress; resume from {where}: ftwizard train --resume {run}"
