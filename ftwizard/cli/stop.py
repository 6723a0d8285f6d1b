"""`ftwizard stop RUN`: graceful stop (the trainer saves a checkpoint)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ftwizard.cli._common import CliError, console


def register(sub: Any) -> None:
    p = sub.add_parser("stop", help="stop a run gracefully (checkpoint saved)")
    p.add_argument("run")
    p.set_defaults(func=cmd_stop)


def cmd_stop(args: argparse.Namespace) -> int:
    from ftwizard.core.run.launcher import stop_run

    if not (Path(args.run) / "config.yaml").exists():
        raise CliError(f"{args.run} is not a run directory (no config.yaml)")
    ok, line = stop_run(args.run)
    console.print(line, markup=False, highlight=False)
    return 0 if ok else 1
