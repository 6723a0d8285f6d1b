"""Start the trainer as its own process (never through a shell) and reconcile its status.

The trainer runs in a new session, so closing the app or pressing Ctrl-C in it does not stop training;
`ftwizard monitor RUN` reattaches. Several GPUs go through `accelerate launch`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ftwizard.core.run.diagnosis import killed_process_diagnosis
from ftwizard.core.run.events import TERMINAL
from ftwizard.core.run.layout import RunDir


def trainer_command(run: str | Path, resume: bool = False, num_gpus: int = 1,
                    config_file: str | Path | None = None) -> list[str]:
    tail = ["-m", "ftwizard.train", str(run)] + (["--resume"] if resume else [])
    if num_gpus > 1:
        conf = ["--config_file", str(config_file)] if config_file else []
        return [sys.executable, "-m", "accelerate.commands.launch", *conf, "--num_processes", str(num_gpus), *tail]
    return [sys.executable, *tail]


def prepare_accelerate(run: str | Path, num_gpus: int) -> Path | None:
    """Write <run>/accelerate.yaml (DDP / FSDP / DeepSpeed) for a multi-GPU run; note any fallback in status."""
    import json

    from ftwizard.core.run.accel import write_accelerate_config

    if num_gpus <= 1:
        return None
    rd = RunDir(run)
    cfg = rd.config()
    model_type = None
    cfg_json = Path(cfg.model) / "config.json"
    if cfg_json.exists():
        model_type = json.loads(cfg_json.read_text(encoding="utf-8")).get("model_type")
    path = rd.accelerate_path
    note = write_accelerate_config(path, cfg.engine, cfg.method, num_gpus, cfg.precision, model_type)
    if note:
        rd.append_event({"type": "note", "message": note})
    return path


def launch(run: str | Path, resume: bool = False, num_gpus: int = 1, extra_env: dict[str, str] | None = None,
           cpu_multi: bool = False) -> subprocess.Popen[bytes]:
    rd = RunDir(run)
    if cpu_multi and num_gpus > 1:  # gloo on the CPU (tests): accelerate's own defaults
        cmd = trainer_command(run, resume, num_gpus)
        cmd.insert(cmd.index("--num_processes"), "--cpu")
    else:
        cmd = trainer_command(run, resume, num_gpus, prepare_accelerate(run, num_gpus))
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


def stop(run: str | Path) -> bool:
    """Graceful stop: SIGTERM → the trainer finishes the step, saves a checkpoint, state 'stopped'."""
    import signal

    st = RunDir(run).status()
    pid = st.get("pid")
    if not pid_alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    return True
