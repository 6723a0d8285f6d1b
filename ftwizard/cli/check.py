"""`ftwizard check RUN`: after-training checks → <run>/checks.json."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ftwizard.cli._common import CliError, console


def register(sub: Any) -> None:
    p = sub.add_parser("check", help="after-training checks: base vs tuned, template/EOS, merge, run card …")
    p.add_argument("run")
    p.add_argument("--json", action="store_true", help="print checks.json")
    p.add_argument("--only", help="comma-separated: compare,template,merge,general,gguf,card (default: all)")
    p.add_argument("--general", metavar="FILE", help="a general chat set for the forgetting check")
    p.add_argument("--limit", type=int, default=200, help="test rows to evaluate (default 200)")
    p.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    from ftwizard.core.run.checklist import ITEMS, load_state
    from ftwizard.core.run.layout import RunDir

    rd = RunDir(args.run)
    if not rd.config_path.exists():
        raise CliError(f"{args.run} is not a run directory (no config.yaml)")
    if not rd.has_result():
        raise CliError(f"{args.run} has no trained adapter or model yet (state: {rd.status().get('state', '?')})",
                       "wait for the run to finish")
    only = [x.strip() for x in args.only.split(",") if x.strip()] if args.only else None
    from ftwizard.train.checks import run_checks

    try:
        res = run_checks(args.run, only=only, general_file=args.general, limit=args.limit)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        sys.stdout.write(json.dumps(res, indent=2, ensure_ascii=False) + "\n")
        return 0
    state = load_state(args.run)
    for item in ITEMS:
        st = state.get(item.id, {})
        box = "[green]✔[/]" if st.get("done") else "☐"
        console.print(f"{box} {item.title}" + (f"\n    {st['result']}" if st.get("result") else
                                                ("" if item.action else f"\n    [dim]{item.why}[/]")))
    return 0
