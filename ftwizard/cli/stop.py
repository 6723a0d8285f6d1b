"""`ftwizard stop RUN`: graceful stop (the trainer saves a checkpoint); a trainer that makes no progress after the
SIGTERM is killed (SIGKILL of its process group) after `--wait` seconds."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ftwizard.cli._common import CliError, bounded, console


def register(sub: Any) -> None:
    p = sub.add_parser("stop", help="stop a run gracefully (checkpoint saved); kill it if it makes no progress")
    p.add_argument("run")
    p.add_argument("--wait", type=bounded(float, 0, 86400, "seconds"), default=30.0, metavar="S",
                   help="seconds without progress after SIGTERM before the trainer's process group is killed "
                        "(SIGKILL); default 30 (a step or save still running is waited for)")
    p.add_argument("--no-kill", action="store_true", help="only send SIGTERM and return (never SIGKILL)")
    p.set_defaults(func=cmd_stop)


def cmd_stop(args: argparse.Namespace) -> int:
    from ftwizard.core.run.launcher import stop_or_kill, stop_run

    if not (Path(args.run) / "config.yaml").exists():
        raise CliError(f"{args.run} is not a run directory (no config.yaml)")

    def say(line: str) -> None:
        console.print(line, markup=False, highlight=False, soft_wrap=True)

    if args.no_kill:
        ok, line = stop_run(args.run)
        say(line)
        return 0 if ok else 1
    ok, line = stop_or_kill(args.run, args.wait, say=say)
    if ok:
        say(line)
    return 0 if ok else 1
