"""`ftwizard stop RUN`: graceful stop (the trainer saves a checkpoint)."""

from __future__ import annotations

import argparse
from typing import Any

from ftwizard.cli._common import console


def register(sub: Any) -> None:
    p = sub.add_parser("stop", help="stop a run gracefully (checkpoint saved)")
    p.add_argument("run")
    p.set_defaults(func=cmd_stop)


def cmd_stop(args: argparse.Namespace) -> int:
    from ftwizard.core.run.launcher import stop

    ok = stop(args.run)
    console.print("stop requested: the trainer saves a checkpoint and exits" if ok else "the run is not running")
    return 0 if ok else 1
