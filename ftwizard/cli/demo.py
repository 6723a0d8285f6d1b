"""`ftwizard demo [--headless]`: the offline demo — a tiny model learns a date format on the CPU."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from ftwizard.cli._common import console, follow, report_end


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="offline demo: tiny model + date-format task, trained on the CPU, then checked")
    p.add_argument("--headless", action="store_true", help="no app: print progress here")
    p.add_argument("--out", help="run directory (default runs/demo-<timestamp>)")
    p.add_argument("--examples", type=int, default=4000)
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from ftwizard.core.run.launcher import launch
    from ftwizard.core.run.service import build_demo, new_run_dir

    if not args.headless:
        from ftwizard.ui.app import run_app

        return run_app(demo=True)
    t0 = time.time()
    run = build_demo(Path(args.out) if args.out else new_run_dir(prefix="demo-"), args.examples)
    console.print(f"Demo: a 4-layer model learns YYYY-MM-DD → DD/MM/YYYY on the CPU. Run: {run}")
    st = follow(run, launch(run))
    if st.get("state") != "done":
        return report_end(st, run)
    from ftwizard.train.checks import run_checks

    console.print("checking base vs tuned on held-out dates …")
    res = run_checks(run, only=["compare"])
    for s in res["samples"][:4]:
        console.print(f"  {s['prompt']} → base {s['base']!r:14} tuned {s['tuned']!r:14} expected {s['expected']!r}")
    console.print(f"exact match: base {res['baseline']['exact_match']:.2f} → tuned {res['tuned']['exact_match']:.2f} "
                  f"(n={res['tuned']['n']}); total {time.time() - t0:.0f} s")
    return 0
