"""`ftwizard probe`: the local NVIDIA GPUs through NVML (no GPU is a normal answer)."""

from __future__ import annotations

import argparse
from typing import Any

from rich.markup import escape
from rich.table import Table

from ftwizard.cli._common import console, print_json


def register(sub: Any) -> None:
    p = sub.add_parser("probe", help="list local NVIDIA GPUs (NVML)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--fake", help="JSON/YAML file describing fake GPUs (demos, tests)")
    p.set_defaults(func=cmd_probe)


def cmd_probe(args: argparse.Namespace) -> int:
    from ftwizard.core.plan.hardware import default_probe

    result = default_probe(args.fake).probe()
    if args.json:
        print_json(result.to_dict())
        return 0
    if not result.gpus:
        console.print("[yellow]No GPU found.[/] " + escape(result.reason or ""))
        console.print("You can still plan for a GPU (`ftwizard estimate … --gpu 4090`) or run "
                      "`ftwizard demo`, which trains a tiny model on the CPU.")
        return 0
    t = Table(title=f"{result.count} GPU(s) via {result.backend}")
    for col in ("#", "name", "memory free / total", "compute cap.", "bf16", "driver / CUDA", "MIG", "temp", "power"):
        t.add_column(col)
    for g in result.gpus:
        cc = f"{g.compute_capability[0]}.{g.compute_capability[1]}" if g.compute_capability else "?"
        t.add_row(str(g.index), g.name, f"{g.free_gib:.1f} / {g.total_gib:.1f} GiB", cc,
                  "yes" if g.bf16 else "no", f"{g.driver_version or '?'} / {g.cuda_driver_version or '?'}",
                  "on" if g.mig_mode else "off", f"{g.temperature_c}°C" if g.temperature_c is not None else "-",
                  f"{g.power_w:.0f} W" if g.power_w is not None else "-")
    console.print(t)
    return 0
