"""`ftwizard models`: the offline model presets."""

from __future__ import annotations

import argparse
from typing import Any

from rich import box
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
    # fits 80 columns: Hub ids and LoRA targets are in `ftwizard info PRESET` and --json
    t = Table(title="Model presets (work offline)", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1), collapse_padding=True,
              caption="Hub id, LoRA targets: ftwizard info PRESET (or --json)")
    for col, just in (("preset", "left"), ("params", "right"), ("layers", "right"), ("hidden", "right"),
                      ("vocab", "right"), ("type", "left"), ("template", "left")):
        t.add_column(col, justify=just, no_wrap=True)  # type: ignore[arg-type]
    for k, p in cat.items():
        f = p.facts
        chat = "?" if f.has_chat_template is None else "chat" if f.has_chat_template else "none"
        t.add_row(k, f"{f.params_b:.2f}B", str(f.layers), str(f.hidden_size), f"{f.vocab_size:,}", f.model_type, chat)
    console.print(t)
    return 0
