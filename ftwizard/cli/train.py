"""`ftwizard train CONFIG` / `--resume RUN` / `--check CONFIG`: headless training, the app's code path."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

from ftwizard.cli._common import CliError, console, esc, events_end, follow, report_end


def register(sub: Any) -> None:
    p = sub.add_parser("train", help="train from a config.yaml (headless), or --resume a run")
    p.add_argument("config", nargs="?", help="config.yaml (a RunConfig)")
    p.add_argument("--out", help="run directory (default runs/<timestamp>)")
    p.add_argument("--resume", metavar="RUN", help="continue a stopped/failed run from its last checkpoint")
    p.add_argument("--check", action="store_true", help="validate the config and exit (loads no model or data)")
    p.add_argument("--help-config", action="store_true", help="list every config.yaml key with its default and meaning")
    p.add_argument("--detach", action="store_true", help="start and return; watch with `ftwizard monitor RUN`")
    p.set_defaults(func=cmd_train)


def load_config(path: str) -> Any:
    """The RunConfig in `path` (a config.yaml, or a TRL CLI config: what each key became is printed), checked
    against this machine, or CliError with one line naming the field, the value and what is allowed."""
    from ftwizard.core.run.config_load import check_environment, load_any

    try:
        if not Path(path).read_text(encoding="utf-8", errors="replace").strip():
            raise CliError(f"{path}: the file is empty",
                           f"write one with `ftwizard plan MODEL --data DATA --save-config {path}`, or see "
                           "`ftwizard train --help-config` for its keys")
        cfg, mapped = load_any(path)
        if mapped is not None:
            console.print(f"{path}: a TRL config, read as:\n  " + "\n  ".join(mapped), markup=False,
                          highlight=False, soft_wrap=True)
        return check_environment(cfg)
    except FileNotFoundError:
        raise CliError(f"{path}: no such file", "give the path of a config.yaml") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"{path}: cannot read it ({exc})") from None
    except ValueError as exc:  # ConfigError included
        raise CliError(f"{path}: {exc}") from None


def preflight(cfg: Any, source: str, run: Path | None = None, run_dir: Path | None = None) -> None:
    """Every check before launch that needs no model loaded (core/run/before_launch.py): the model, target modules
    and data of the config, and, with `run_dir` (a launch, not --check), this machine's RAM and disk. CliError on
    the first blocking one; the others are printed as warnings."""
    from ftwizard.core.plan.hardware import default_probe
    from ftwizard.core.run.before_launch import before_launch, cpu_notes, machine_problems_for, resume_disk_problem

    gpus = default_probe().probe().count
    machine = machine_problems_for(cfg, run_dir, gpus) if run_dir is not None else cpu_notes(cfg) if gpus == 0 else []
    if run is not None:  # a resume: the checkpoints it has already count in the need, so say it, do not refuse
        machine = [replace(p, blocking=False) for p in machine]
        if (full := resume_disk_problem(run)) is not None:  # … unless not even its next checkpoint fits
            machine = [full, *(p for p in machine if p.id != "disk")]
    problems = before_launch(cfg, machine=machine, run=run)
    blocking = [p for p in problems if p.blocking]
    for p in problems:
        if not p.blocking:
            console.print("[yellow]warning:[/] " + esc(str(p)), highlight=False)
    if blocking:  # one line (the first problem) and its fix; the count of the others, and where they are named
        more = f" (and {len(blocking) - 1} more: {', '.join(p.field or p.id for p in blocking[1:])})" \
            if len(blocking) > 1 else ""
        raise CliError(f"{source}: {blocking[0].message}{more}", blocking[0].fix)


def _launch(run: Path, **kw: Any) -> Any:
    from ftwizard.core.run.launcher import RunElsewhere, RunFinished, RunLocked, launch

    try:
        return launch(run, **kw)
    except (RunLocked, RunFinished, RunElsewhere) as exc:
        raise CliError(str(exc)) from None


def cmd_train(args: argparse.Namespace) -> int:
    from ftwizard.core.run.lock import RunLocked, check_free
    from ftwizard.core.run.service import RunError, check_resumable, create_run, new_run_dir

    if getattr(args, "help_config", False):
        from ftwizard.core.run.config import RunConfig, short_knobs, trainer_knobs
        from ftwizard.core.trainers import TRAINERS

        defaults = RunConfig().to_dict()
        for key, text in RunConfig.help_text().items():
            console.print(f"[b]{key}[/] (default {defaults[key]!r}): {text}", highlight=False)
        console.print("\n[b]A trainer's own settings[/] can also be written under its name, with TRL's names "
                      "(e.g. `grpo: {num_generations: 4}` = `grpo_num_generations: 4`):", highlight=False)
        for name in TRAINERS:
            knobs, short = trainer_knobs(name), short_knobs(name)
            if short:
                console.print(f"  [b]{name}:[/] " + ", ".join(f"{k} ({knobs[k]})" for k in short), highlight=False,
                              soft_wrap=True)
        return 0
    since = 0  # a resume follows from the end of the events already written
    if args.resume:
        run = Path(args.resume)
        try:
            cfg = check_resumable(run)
        except (RunError, RunLocked, ValueError) as exc:
            raise CliError(str(exc)) from None
        preflight(cfg, str(run), run, run_dir=run)  # the model (or data) may have moved since the run started
        from ftwizard.core.run.layout import RunDir

        since = events_end(run)
        if since:
            last = RunDir(run).status().get("last_step")
            console.print(f"resuming {run}" + (f" (it reached step {last})" if isinstance(last, int) else "")
                          + f"; its earlier events: ftwizard monitor {run}", markup=False, highlight=False)
        proc = _launch(run, resume=True, num_gpus=cfg.num_gpus)
    else:
        if not args.config:
            raise CliError("give a config.yaml, or --resume RUN", "ftwizard train CONFIG.yaml [--out RUN]")
        cfg = load_config(args.config)
        run = Path(args.out) if args.out else new_run_dir()
        preflight(cfg, args.config, run_dir=None if args.check else run)
        if args.check:
            console.print("[green]ok:[/] " + esc(f"{args.config} is a valid run config ({cfg.trainer}, {cfg.method}, "
                          f"model {cfg.model or '?'}, data {cfg.data or '?'})"), highlight=False)
            return 0
        try:
            check_free(run)
            create_run(run, cfg, on_progress=lambda line: console.print(line, markup=False, highlight=False))
        except (RunError, RunLocked) as exc:
            raise CliError(str(exc)) from None
        proc = _launch(run, num_gpus=cfg.num_gpus)
    console.print(f"run directory: {run}  (pid {proc.pid}; `ftwizard monitor {run}` to reattach)", markup=False)
    if args.detach:
        return 0
    return report_end(follow(run, proc, since=since), run)
