"""`ftwizard plan`: the recommended plan for a model and GPU, each setting with its reason."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from ftwizard.cli._common import add_model_args, bounded, console, esc, load_facts, one_line_errors, print_json, seq_warning


def register(sub: Any) -> None:
    p = one_line_errors(sub.add_parser("plan", help="recommend a full training plan for a model and GPU"))
    add_model_args(p)
    p.add_argument("--task", choices=["format", "domain", "complex", "knowledge"], default="domain")
    p.add_argument("--rows", type=bounded(int, 1, 10**10, "a number of training examples"), default=1000,
                   help="training examples")
    p.add_argument("--seq", type=bounded(int, 8, 1_048_576, "a sequence length in tokens"),
                   help="longest examples in tokens (p99)")
    p.add_argument("--tokens-per-row", type=bounded(float, 1, 1_048_576, "tokens per example"),
                   help="mean tokens per example, for time and cost (default: half the sequence length)")
    p.add_argument("--method", choices=["full", "lora", "qlora", "dora"])
    p.add_argument("--gpu", help="plan for this GPU instead of the local one")
    p.add_argument("--gpus", type=bounded(int, 1, 4096, "a number of GPUs"))
    p.add_argument("--fake", help="fake GPU description file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_plan)


def cmd_plan(args: argparse.Namespace) -> int:
    from ftwizard.core.plan.cost import plan_cost
    from ftwizard.core.plan.hardware import FakeProbe, default_probe
    from ftwizard.core.plan.recommend import recommend

    facts = load_facts(args.model, args.allow_download)
    probe = FakeProbe.of(args.gpu, args.gpus or 1).probe() if args.gpu else default_probe(args.fake).probe()
    plan = recommend(facts, probe, task_kind=args.task, rows=args.rows, seq_len=args.seq, method=args.method)
    per_row = args.tokens_per_row or plan.value("max_seq_length") / 2
    cost = plan_cost(plan.estimate, rows=args.rows, tokens_per_row=per_row, epochs=float(plan.value("epochs")),
                     gpu=plan.gpu_name, gpus=max(1, plan.gpus))
    if args.json:
        print_json({**plan.to_dict(), "cost": cost.to_dict()})
        return 0
    t = Table(title=esc(f"Plan for {facts.name} on {plan.gpus}× {plan.gpu_name or 'no GPU'}"))
    t.add_column("setting")
    t.add_column("value")
    t.add_column("why")
    for k, c in plan.choices.items():
        v = ", ".join(c.value) if isinstance(c.value, list) else str(c.value)
        t.add_row(k, esc(v), esc(c.reason))
    console.print(t)
    e = plan.estimate
    console.print(f"Predicted peak: [b]{e.peak_gib:.1f} GiB[/]" +
                  (f" of {plan.gpu_gib:.1f} GiB" if plan.gpu_gib else "") +
                  "  (" + ", ".join(f"{k} {v / 2**30:.1f}" for k, v in e.parts_bytes.items()) + ")")
    console.print(f"Range {e.low_gib:.1f}–{e.high_gib:.1f} GiB; the plan checks the top ({e.margin:.0%} margin).")
    what = "given" if args.tokens_per_row else "assumed: half the sequence length; set --tokens-per-row"
    console.print(f"[b]Time and cost[/] ({args.rows:,} rows × {per_row:,.0f} tokens ({what}) × "
                  f"{plan.value('epochs')} epochs):")
    for line in cost.lines():
        console.print(f"  {line}")
    console.print(f"[dim]  prices: {cost.sources['gpu_prices']}, {cost.sources['api_prices']}"
                  f"{', ' + cost.sources['user_file'] if cost.sources['user_file'] else ''}[/]")
    for w in [*plan.warnings, *filter(None, [seq_warning(facts, args.seq)])]:
        console.print(f"[yellow]warning:[/] {esc(w)}")
    return 0
