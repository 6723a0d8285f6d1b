"""`ftwizard info`: model facts from config.json (no weights loaded)."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from ftwizard.cli._common import add_model_args, console, esc, load_facts, print_json


def register(sub: Any) -> None:
    p = sub.add_parser("info", help="model facts from config.json (no weights loaded)")
    add_model_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)


def cmd_info(args: argparse.Namespace) -> int:
    facts = load_facts(args.model, args.allow_download)
    d = facts.to_dict()
    if args.json:
        print_json(d)
        return 0
    t = Table(title=esc(facts.name), show_header=False)
    for k, v in d.items():
        t.add_row(k, esc(v))  # cells are markup: a model path with `[/]` must print as typed
    console.print(t)
    return 0
