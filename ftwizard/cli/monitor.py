"""`ftwizard monitor RUN [--once]`: reattach to a run (the app on a terminal, else a log follow)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ftwizard.cli._common import CliError, console, follow, report_end


def register(sub: Any) -> None:
    p = sub.add_parser("monitor", help="follow a run's events (reattach to a running or finished run)")
    p.add_argument("run")
    p.add_argument("--once", action="store_true", help="print the current state and exit")
    p.set_defaults(func=cmd_monitor)


def cmd_monitor(args: argparse.Namespace) -> int:
    from ftwizard.core.run.launcher import reconcile
    from ftwizard.core.run.liveness import liveness

    run = Path(args.run)
    if not (run / "config.yaml").exists():
        raise CliError(f"{run} is not a run directory (no config.yaml)")
    if args.once:
        lv = liveness(run)  # before reconcile: a dead trainer's state still says running
        st = reconcile(run)
        if lv is not None and lv.kind != "alive":
            st = {**st, "liveness": lv.line}  # "stalled for N s (no progress, process alive)" / "dead (process gone)"
        console.print_json(json.dumps(st, default=str))
        return 0
    if sys.stdout.isatty():
        from ftwizard.ui.app import run_app

        return run_app(monitor=str(run))
    return report_end(follow(run), run)
