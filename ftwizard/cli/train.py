"""`ftwizard train CONFIG` / `--resume RUN` / `--check CONFIG`: headless training, the app's code path."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ftwizard.cli._common import CliError, console, follow, report_end


def register(sub: Any) -> None:
    p = sub.add_parser("train", help="train from a config.yaml (headless), or --resume a run")
    p.add_argument("config", nargs="?", help="config.yaml (a RunConfig)")
    p.add_argument("--out", help="run directory (default runs/<timestamp>)")
    p.add_argument("--resume", metavar="RUN", help="continue a stopped/failed run from its last checkpoint")
    p.add_argument("--check", action="store_true", help="validate the config and exit (loads no model or data)")
    p.add_argument("--detach", action="store_true", help="start and return; watch with `ftwizard monitor RUN`")
    p.set_defaults(func=cmd_train)


def load_config(path: str) -> Any:
    """The RunConfig in `path`, or CliError with one line naming the field, the value and what is allowed."""
    from ftwizard.core.run.config import RunConfig

    try:
        return RunConfig.load(path)
    except FileNotFoundError:
        raise CliError(f"{path}: no such file", "give the path of a config.yaml") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"{path}: cannot read it ({exc})") from None
    except ValueError as exc:  # ConfigError included
        raise CliError(f"{path}: {exc}") from None


def cmd_train(args: argparse.Namespace) -> int:
    from ftwizard.core.run.launcher import launch
    from ftwizard.core.run.service import RunError, check_resumable, create_run, new_run_dir

    if args.resume:
        run = Path(args.resume)
        try:
            cfg = check_resumable(run)
        except (RunError, ValueError) as exc:
            raise CliError(str(exc)) from None
        proc = launch(run, resume=True, num_gpus=cfg.num_gpus)
    else:
        if not args.config:
            raise CliError("give a config.yaml, or --resume RUN", "ftwizard train CONFIG.yaml [--out RUN]")
        cfg = load_config(args.config)
        if args.check:
            console.print(f"[green]ok:[/] {args.config} is a valid run config ({cfg.trainer}, {cfg.method}, "
                          f"model {cfg.model or '?'}, data {cfg.data or '?'})", markup=True, highlight=False)
            return 0
        run = Path(args.out) if args.out else new_run_dir()
        try:
            create_run(run, cfg)
        except RunError as exc:
            raise CliError(str(exc)) from None
        proc = launch(run, num_gpus=cfg.num_gpus)
    console.print(f"run directory: {run}  (pid {proc.pid}; `ftwizard monitor {run}` to reattach)")
    if args.detach:
        return 0
    return report_end(follow(run, proc), run)
