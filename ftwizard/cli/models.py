"""`ftwizard models`: the offline model presets."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from ftwizard.cli._common import console, print_json


def register(sub: Any) -> None:
    p = sub.add_parser("models", help="list the offline model presets")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)


def cmd_models(args: argparse.Namespace) -> int:
    from ftwizard.core.plan.catalog import load_catalog

    cat = load_catalog()
    if args.json:
        print_json({k: {"hub_id": p.hub_id, **p.facts.to_dict()} for k, p in cat.items()})
        return 0
    t = Table(title="Model presets (work offline)")
    for col in ("preset", "Hub id", "params", "layers", "hidden", "vocab", "LoRA targets (all-linear)"):
        t.add_column(col)
    for k, p in cat.items():
        f = p.facts
        t.add_row(k, p.hub_id, f"{f.params_b:.2f}B", str(f.layers), str(f.hidden_size), f"{f.vocab_size:,}",
                  ",".join(f.resolve_targets("all-linear")))
    console.print(t)
    return 0
