"""The run service: what the CLI and the app both do with runs — create, resume, relaunch with the
diagnosis' fix, build the offline demo. One place for each, so the two front ends never drift.

Pure (no torch): the demo is built by a subprocess (`python -m ftwizard.train.demo`), training by the launcher.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.diagnosis import fix_changes
from ftwizard.core.run.events import ACTIVE
from ftwizard.core.run.exports import write_exports
from ftwizard.core.run.fingerprint import write_fingerprint
from ftwizard.core.run.layout import RunDir
from ftwizard.core.workers import job_command


class RunError(ValueError):
    """A run operation that cannot be done; `str()` is the one line to show."""


def new_run_dir(root: str | Path = "runs", prefix: str = "") -> Path:
    return Path(root) / f"{prefix}{time.strftime('%Y%m%d-%H%M%S')}"


def resolve_gguf(cfg: RunConfig, on_progress: Callable[[str], None] | None = None) -> RunConfig:
    """A config whose model is a .gguf file → the same config on its converted checkpoint (converted once, cached),
    with `model_gguf` naming the file. RunError in one line when it cannot be converted."""
    from ftwizard.core.plan.gguf import GGUFError, convert, is_gguf

    if not is_gguf(cfg.model):
        return cfg
    try:
        folder = convert(cfg.model, on_progress)
    except GGUFError as exc:
        raise RunError(str(exc)) from None
    return replace(cfg, model=str(folder), model_gguf=str(Path(cfg.model).expanduser().resolve()))


def create_run(path: str | Path, cfg: RunConfig, on_progress: Callable[[str], None] | None = None) -> RunDir:
    """Write a new run directory: config.yaml plus the TRL config and launch.sh to leave ftwizard. A .gguf model
    is converted first (once; `on_progress` gets its stages)."""
    rd = RunDir(path)
    if rd.config_path.exists():
        raise RunError(f"{rd.path} already holds a run; choose another directory (or --resume it)")
    cfg = resolve_gguf(cfg, on_progress)
    existed = rd.path.exists()
    before = set(rd.path.iterdir()) if existed else set()
    rd.path.mkdir(parents=True, exist_ok=True)
    try:
        rd.config_path.write_text(cfg.to_yaml(), encoding="utf-8")
        write_exports(rd, cfg)
        write_fingerprint(rd, cfg)  # what `--resume` compares config.yaml and the data with
    except OSError:  # disk full, read-only: take back the half-made run, so a retry is not "already holds a run"
        for p in set(rd.path.iterdir()) - before:
            if p.is_file():
                p.unlink(missing_ok=True)
        if not existed and not any(rd.path.iterdir()):
            rd.path.rmdir()
        raise
    return rd


def open_run(path: str | Path) -> RunDir:
    rd = RunDir(path)
    if not rd.config_path.exists():
        raise RunError(f"{rd.path} is not a run directory (no config.yaml)")
    return rd


def check_resumable(path: str | Path) -> RunConfig:
    """The run's config, if it can be resumed; RunError in one line otherwise."""
    rd = open_run(path)
    from ftwizard.core.run.lock import RunLocked, check_free

    try:
        check_free(rd.path)  # a live trainer holds the run's lock
    except RunLocked as exc:
        raise RunError(str(exc)) from None
    state = rd.status().get("state")
    if state in ACTIVE:
        from ftwizard.core.run.lock import is_trainer_of

        st = rd.status()
        if is_trainer_of(st.get("pid"), rd.path, st.get("pid_started")):
            raise RunError(f"{rd.path} is still {state} (pid {rd.status().get('pid')}); stop it first: ftwizard stop {rd.path}")
    if state == "done":
        raise RunError(f"{rd.path} has finished; nothing to resume. Start a new run to train more.")
    cfg = rd.config()
    from ftwizard.core.run.fingerprint import compare

    refusal = compare(rd, cfg).refusal()  # an edit the checkpoint cannot honour (the model, the method, …)
    if refusal:
        raise RunError(refusal)
    return cfg


def fixed_config(path: str | Path) -> tuple[RunConfig, dict[str, object]]:
    """The failed run's config with the diagnosis' fix applied (RunError when there is none)."""
    rd = open_run(path)
    st = rd.status()
    if st.get("state") != "failed":
        raise RunError("Only a failed run can be relaunched with a fix.")
    cfg = rd.config()
    changes = fix_changes((st.get("diagnosis") or {}).get("kind"), cfg.to_dict())
    if not changes:
        raise RunError("No automatic fix for this failure; read the diagnosis and the log.")
    return replace(cfg, **changes), changes


def relaunch_dir(path: str | Path) -> Path:
    """`<run>-fix`, `<run>-fix2`, … — the first that does not exist."""
    run = Path(path)
    new = run.with_name(run.name + "-fix")
    n = 2
    while new.exists():
        new = run.with_name(f"{run.name}-fix{n}")
        n += 1
    return new


def build_demo(out: str | Path, examples: int = 4000) -> Path:
    """Build the tiny demo model, the date task and its run directory in `out` — in a subprocess, so the
    caller (the app) never imports torch. RunError with the child's last line if it fails."""
    cmd = job_command("demo", str(out), "--examples", str(examples))
    res = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if res.returncode != 0:
        last = (res.stderr.strip() or res.stdout.strip() or "no output").splitlines()[-1]
        raise RunError(f"could not build the demo: {last}")
    return Path(out)
