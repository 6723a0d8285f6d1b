"""`ftwizard estimate`: peak GPU memory in parts, the largest micro-batch that fits, and what to change."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

from rich.table import Table

from ftwizard.cli._common import (
    CliError,
    add_model_args,
    bounded,
    config_value,
    console,
    esc,
    gpu_gib,
    load_facts,
    one_line_errors,
    print_json,
    seq_warning,
)


def register(sub: Any) -> None:
    from ftwizard.core.run.config import METHODS
    p = one_line_errors(sub.add_parser("estimate", help="estimate peak GPU memory for a fine-tuning setup"))
    add_model_args(p)
    p.add_argument("--method", choices=METHODS, default="lora")
    from ftwizard.core.trainers import TRAINERS

    p.add_argument("--trainer", choices=list(TRAINERS), default="sft",
                   help="training objective: DPO/KTO full fine-tunes keep a reference copy, GRPO generates")
    p.add_argument("--completion-len", type=config_value("grpo_max_completion_length"), default=256,
                   help="GRPO: longest generated completion (tokens)")
    p.add_argument("--virtual-tokens", type=config_value("virtual_tokens"), default=20,
                   help="prefix/prompt tuning: trainable virtual tokens")
    p.add_argument("--rank", "-r", type=config_value("rank"), default=16)
    p.add_argument("--targets", default="all-linear", help="minimal | all-linear | attention | q_proj,v_proj,…")
    p.add_argument("--batch", "-b", type=config_value("micro_batch"), default=1, help="micro-batch per GPU")
    p.add_argument("--seq", "-s", type=config_value("max_seq_length"), default=2048,
                   help="sequence length (tokens)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--grad-ckpt", dest="grad_ckpt", action="store_true", default=True)
    g.add_argument("--no-grad-ckpt", dest="grad_ckpt", action="store_false")
    p.add_argument("--optim", help="HF Trainer optim name (default adamw_torch; paged_adamw_8bit for qlora)")
    p.add_argument("--precision", choices=["bf16", "fp16", "fp32", "bf16-mixed", "fp16-mixed"], default="bf16")
    p.add_argument("--attention", choices=["sdpa", "flash", "eager"], default="sdpa")
    p.add_argument("--gpus", type=bounded(int, 1, 4096, "a number of GPUs"), default=None, help="number of GPUs")
    p.add_argument("--engine", choices=["auto", "ddp", "fsdp", "zero2", "zero3"], default="auto")
    p.add_argument("--liger", action="store_true", help="fused linear+cross-entropy loss (use_liger_kernel)")
    p.add_argument("--gpu", help="plan for this GPU (e.g. 4090, A100-80, H100) instead of the local one")
    p.add_argument("--gpu-gib", type=bounded(float, 0.5, 4096, "GiB of GPU memory"),
                   help="plan for a GPU with this much memory")
    p.add_argument("--fake", help="fake GPU description file")
    p.add_argument("--rows", type=bounded(int, 1, 10**10, "a number of training examples"),
                   help="training examples: adds time and cost")
    p.add_argument("--tokens-per-row", type=bounded(float, 1, 1_048_576, "tokens per example"),
                   help="mean tokens per example (default: half of --seq)")
    p.add_argument("--epochs", type=config_value("epochs"), default=3.0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_estimate)


def cmd_estimate(args: argparse.Namespace) -> int:
    from ftwizard.core.plan.memory import EstimateInput, estimate, fit_advice, max_micro_batch
    from ftwizard.core.plan.model_facts import ModelFactsError

    facts = load_facts(args.model, args.allow_download)
    try:
        targets = tuple(facts.resolve_targets(args.targets)) if args.method in ("lora", "qlora", "dora") else ()
    except ModelFactsError as exc:
        raise CliError(str(exc)) from None
    optim = args.optim or ("paged_adamw_8bit" if args.method == "qlora" else "adamw_torch")
    inp = EstimateInput(method=args.method, rank=args.rank, targets=targets, batch=args.batch, seq=args.seq,
                        grad_ckpt=args.grad_ckpt, optim=optim, precision=args.precision,
                        attention=args.attention, gpus=args.gpus or 1, engine=args.engine,
                        loss="fused" if args.liger else "full", virtual_tokens=args.virtual_tokens,
                        trainer=args.trainer, completion_len=max(1, args.completion_len))
    est = estimate(facts, inp)
    est.notes[:0] = list(facts.notes)  # the model's own notes (generic layout, MoE experts, Hub size …)
    gpu_name, card_gib, _ = gpu_gib(args)
    out = est.to_dict()
    if card_gib:
        adv = fit_advice(facts, inp, card_gib)
        out["gpu"] = {"name": gpu_name, "total_gib": round(card_gib, 2)}
        out["fits"] = adv.fits
        out["max_micro_batch"] = max_micro_batch(facts, replace(inp, batch=1), card_gib)
        out["if_it_does_not_fit"] = [{"change": c, "peak_gib": round(p, 2)} for c, p in adv.steps]
    cost = None
    if args.rows:
        from ftwizard.core.plan.cost import plan_cost

        cost = plan_cost(est, rows=args.rows, tokens_per_row=args.tokens_per_row or args.seq / 2,
                         epochs=args.epochs, gpu=gpu_name, gpus=args.gpus or 1)
        out["cost"] = cost.to_dict()
    warn = seq_warning(facts, args.seq)
    if warn:
        out["warnings"] = [warn]
    if args.json:
        print_json(out)
        return 0
    t = Table(title=esc(f"{facts.name}: {args.method}, batch {args.batch} × {args.seq} tokens"
                    f"{', gradient checkpointing' if args.grad_ckpt else ''}"))
    t.add_column("part")
    t.add_column("GiB", justify="right")
    for k, v in out["parts_gib"].items():
        t.add_row(k, f"{v:.2f}")
    t.add_row("[b]peak (per GPU)[/]", f"[b]{out['peak_gib']:.2f}[/]")
    console.print(t)
    active = f" ({est.active_params / 1e9:.2f}B active per token)" if est.active_params else ""
    console.print(f"{est.params / 1e9:.2f}B parameters{active}, {est.trainable_params:,} trainable "
                  f"({out['trainable_pct']}%). Predicts nvidia-smi's peak; "
                  f"torch max_memory_allocated ≈ {out['peak_allocated_gib']:.2f} GiB. Range "
                  f"{out['low_gib']:.1f}–{out['high_gib']:.1f} GiB: 'fits' checks the top ({est.margin:.0%} margin).")
    for n in est.notes:
        console.print(f"[dim]note: {esc(n)}[/]")
    if warn:
        console.print(f"[yellow]warning:[/] {esc(warn)}")
    if card_gib:
        verdict = "[green]fits[/]" if out["fits"] else "[red]does not fit[/]"
        console.print(f"{esc(gpu_name)} ({card_gib:.1f} GiB): {verdict}; largest micro-batch that fits: "
                      f"{out['max_micro_batch']}")
        for step in out["if_it_does_not_fit"]:
            console.print(f"  → {esc(step['change'])}: {step['peak_gib']:.1f} GiB")
    if cost is not None:
        console.print("[b]Time and cost[/]:")
        for line in cost.lines():
            console.print(f"  {line}")
        console.print(f"[dim]  prices: {cost.sources['gpu_prices']}, {cost.sources['api_prices']}[/]")
    return 0
