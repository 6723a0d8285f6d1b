"""`ftwizard plan MODEL [--data FILE]`: the recommended plan for a model, its data and a GPU, each setting with its
reason — the app's Plan step on the command line (the same `wizard.make_plan`, so the two never differ).
`--save-config FILE` writes the run config `ftwizard train` takes."""

from __future__ import annotations

import argparse
import os
from typing import Any

from rich.table import Table

from ftwizard.cli._common import (
    CliError,
    add_model_args,
    bounded,
    config_value,
    console,
    err_console,
    esc,
    load_facts,
    one_line_errors,
    print_json,
    seq_warning,
)


def register(sub: Any) -> None:
    from ftwizard.core.plan.decision import TASK_ALIASES, TASK_KINDS
    from ftwizard.core.run.config import METHODS
    from ftwizard.core.trainers import TRAINERS

    p = one_line_errors(sub.add_parser("plan", help="recommend a full training plan for a model, its data and a GPU"))
    add_model_args(p)
    p.add_argument("--data", help="the dataset (file, folder or cached Hub id): rows, token lengths with the model's "
                                  "tokenizer and template, and the trainer are read from it")
    p.add_argument("--task", choices=[*TASK_KINDS, *TASK_ALIASES], default=None, metavar="TASK",
                   help="what the fine-tune teaches: " + ", ".join(TASK_KINDS) + " (default: format with --data, "
                        "else domain)")
    p.add_argument("--rows", type=bounded(int, 1, 10**10, "a number of training examples"),
                   help="training examples (read from --data when given)")
    p.add_argument("--seq", type=config_value("max_seq_length"),
                   help="longest examples in tokens, p99 (read from --data when given)")
    p.add_argument("--tokens-per-row", type=bounded(float, 1, 1_048_576, "tokens per example"),
                   help="mean tokens per example, for time and cost (read from --data when given)")
    p.add_argument("--method", choices=METHODS)
    p.add_argument("--trainer", choices=list(TRAINERS), help="the objective (default: from the data's format)")
    p.add_argument("--gpu", help="plan for this GPU instead of the local one (`cpu`: this machine's CPU)")
    p.add_argument("--gpus", type=bounded(int, 1, 4096, "a number of GPUs"),
                   help="how many of those GPUs (default: the ones found here, or 1 with --gpu)")
    p.add_argument("--fake", help="fake GPU description file")
    p.add_argument("--fit", action="store_true",
                   help="when the plan does not fit the GPU, apply the fixes it lists, best first, until it fits "
                        "(the app's ctrl+f)")
    p.add_argument("--save-config", metavar="CONFIG.yaml", help="write the plan as a run config for `ftwizard train`")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_plan)


def _answers(args: argparse.Namespace, facts: Any) -> Any:
    from ftwizard.core.plan.decision import task_kind
    from ftwizard.core.wizard import Answers, apply_report, tokenizer_source

    kind = task_kind(args.task or ("format" if args.data else "domain")).id
    ans = Answers(task_kind=kind, model=args.model, data=args.data or "", trainer=args.trainer,
                  gpu="local" if not args.gpu else ("cpu" if args.gpu.lower() == "cpu" else args.gpu),
                  gpu_count=args.gpus or 1)
    if args.method:
        ans.overrides["method"] = args.method
    if args.gpu and args.gpu.lower() != "cpu":  # before the data is read: a mistyped card is said at once
        from ftwizard.core.plan.hardware import gpu_from_name

        try:
            gpu_from_name(args.gpu)
        except ValueError as exc:
            raise CliError(f"--gpu: {exc}", "or --gpu cpu to plan for this machine's CPU") from None
    if args.data:
        from ftwizard.core.data.errors import DataError
        from ftwizard.core.data.report import analyze

        local = args.data.endswith((".jsonl", ".json", ".csv", ".parquet", ".txt", ".yaml", ".yml")) or \
            args.data.startswith((".", "/", "~"))
        if local and not os.path.exists(os.path.expanduser(args.data)):  # said before the tokenizer loads
            raise CliError(f"{args.data}: no such file or folder", "check the path")
        tok = tokenizer_source(args.model)
        if not args.json:
            err_console.print(f"reading {esc(args.data)} (tokens counted with "
                              f"{esc(tok) + ' and its chat template' if tok else '~characters/4: the model is not here'}) …",
                              highlight=False)
        try:
            rep = analyze(args.data, task=kind, tokenizer=tok).to_dict()
        except (DataError, ValueError, OSError) as exc:
            text = str(exc)
            raise CliError(text if text.startswith(args.data) else f"{args.data}: {text}") from None
        if rep.get("errors"):
            first = rep["errors"][0]
            where = f"{first.get('file') or args.data}:{first['line']}" if first.get("line") else str(first.get("file")
                                                                                                   or args.data)
            raise CliError(f"{where}: {first['message']} ({len(rep['errors'])} problem(s) in the data)",
                           f"ftwizard data {args.data} lists them all")
        apply_report(ans, rep)
    ans.rows = args.rows or ans.rows
    ans.seq_p99 = args.seq or ans.seq_p99
    ans.tokens_per_row = args.tokens_per_row or ans.tokens_per_row
    return ans


def cmd_plan(args: argparse.Namespace) -> int:
    from ftwizard.core.plan.hardware import default_probe
    from ftwizard.core.plan.launch_checks import total_ram_gib
    from ftwizard.core.wizard import cost_line, make_plan, plan_cost, plan_time, to_run_config

    facts = load_facts(args.model, args.allow_download)
    ans = _answers(args, facts)
    probe = default_probe(args.fake).probe()
    view = make_plan(ans, facts, probe)
    applied: list[str] = []
    fit_failed = False
    if args.fit and not view.fits:
        from ftwizard.core.wizard.plan_view import fit_steps

        view, applied = fit_steps(ans, facts, probe)  # the app's ctrl+f: nothing changed when nothing fits
        fit_failed = not view.fits
    cost = plan_cost(ans, view)
    timing = plan_time(ans, view)
    from ftwizard.core.plan.rent import plan_rent_shape

    shape = plan_rent_shape(view, facts, cost.tokens)  # does not fit here: the cheapest rented shape that does
    if args.save_config:
        from pathlib import Path

        cfg = to_run_config(ans, view, facts)
        if not args.data:
            cfg.data = ""
        # local paths as absolute ones: `ftwizard train C` from another folder found no 'chat.jsonl'
        for key in ("data", "model", "model_gguf"):
            value = getattr(cfg, key, None)
            if value and not Path(value).is_absolute() and Path(value).expanduser().exists():
                setattr(cfg, key, str(Path(value).expanduser().resolve()))
        try:
            Path(args.save_config).write_text(cfg.to_yaml(), encoding="utf-8")
        except OSError as exc:
            raise CliError(f"{args.save_config}: cannot write it ({exc})") from None
    if args.json:
        rec = view.recommendation.to_dict()
        rec["choices"] = {k: {"value": v, "reason": view.reasons.get(k, "")} for k, v in view.values.items()}
        print_json({**rec, "trainer": view.trainer, "rows": ans.rows, "seq_p99": ans.seq_p99,
                    "tokens_per_row": ans.tokens_per_row, "memory": view.estimate.to_dict(), "fits": view.fits,
                    "warnings": view.warnings, "cost": cost.to_dict(),
                    "time": timing.to_dict() if timing is not None else None, "saved_config": args.save_config,
                    "rent_shape": shape.to_dict() if shape else None, "fixes_applied": applied,
                    "fixes": [{"label": f.label, "changes": f.changes, "peak_gib": f.peak_gib,
                               "fits": f.peak_gib * (1 + view.estimate.margin) <= (view.gpu_gib or 0)}
                              for f in view.fixes]})
        return 0
    where = f"{view.gpus}× {view.gpu_name}" if view.gpu_name else "this CPU (no GPU)"
    t = Table(title=esc(f"Plan for {facts.name} on {where}"))
    t.add_column("setting")
    t.add_column("value")
    t.add_column("why")
    t.add_row("trainer", view.trainer, esc(f"from the data's format ({ans.data_format})" if ans.data_format and
                                           not args.trainer else "you chose it" if args.trainer else "the default"))
    for k, v in view.values.items():
        if k == "trainer":
            continue
        shown = ", ".join(v) if isinstance(v, list) else str(v)
        t.add_row(k, esc(shown), esc(view.reasons.get(k, "")))
    console.print(t)
    e = view.estimate
    if view.gpu_gib:
        console.print(f"Predicted peak: [b]{e.peak_gib:.1f} GiB[/] of {view.gpu_gib:.1f} GiB  (" +
                      ", ".join(f"{k} {v / 2**30:.1f}" for k, v in e.parts_bytes.items()) + ")")
        console.print(f"Range {e.low_gib:.1f}–{e.high_gib:.1f} GiB; the plan checks the top ({e.margin:.0%} margin).")
    else:
        ram = total_ram_gib()
        console.print(f"Memory (RAM on the CPU): about [b]{_size(e.peak_gib)}[/] at its peak"
                      + (f" of {ram:.0f} GiB" if ram else "") + f": {_size(e.peak_allocated_gib)} of weights, adapter, "
                      f"optimizer and activations + {_size(e.part_gib('overhead'))} for Python, PyTorch and the "
                      "libraries")
    rows = f"{ans.rows:,} rows" if ans.rows else "1,000 rows (assumed: give --data or --rows)"
    if timing is not None:
        console.print(f"[b]Time[/]: {esc(timing.line())}", highlight=False)
    console.print(f"[b]Time and cost[/] ({esc(rows)}): {esc(cost_line(cost, timing))}", highlight=False)
    for line in cost.lines():
        console.print(f"  {esc(line)}", highlight=False)
    for label in applied:
        console.print(f"[green]fixed:[/] {esc(label)}", highlight=False)
    for w in [*view.warnings, *filter(None, [seq_warning(facts, ans.seq_p99)])]:
        console.print(f"[yellow]warning:[/] {esc(w)}")
    if fit_failed:
        console.print("[yellow]--fit:[/] no combination of the fixes below fits this GPU, so the plan is unchanged "
                      "(cutting the data and still running out of memory helps nobody).", highlight=False)
    if view.fixes and not view.fits:
        console.print("[b]Fixes[/] (each on its own, best first; `--fit` applies them until the plan fits, or set the "
                      "values in the saved config):", highlight=False)
        for f in view.fixes:
            ok = f.peak_gib * (1 + view.estimate.margin) <= (view.gpu_gib or 0)
            keys = ", ".join(f"{k}: {v}" for k, v in f.changes.items())
            console.print(f"  {f.key}. {esc(f.label)} → {f.peak_gib:.1f} GiB "
                          f"({'fits' if ok else 'still too big'}) [dim]({esc(keys)})[/]", highlight=False)
    elif not view.fits and view.gpu_gib:
        console.print("No setting makes it fit this GPU: pick a smaller model or a bigger GPU (see Rent instead).",
                      highlight=False)
    if shape:
        console.print(f"[b]Rent instead:[/] {esc(shape.line(view.gpu_name, args.save_config or 'RUN'))}", highlight=False)
    if args.save_config:
        console.print(f"wrote {esc(args.save_config)}: train it with `ftwizard train {esc(args.save_config)}`",
                      highlight=False)
    return 0


def _size(gib: float) -> str:
    """12.3 GiB, or 45 MiB for what rounds to 0.0 GiB."""
    from ftwizard.core.plan.cost import fmt_size

    return fmt_size(gib)
