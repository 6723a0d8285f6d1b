"""`ftwizard` command line. With no arguments it opens the Textual app.

Headless commands print rich tables, or one JSON object with --json. Heavy libraries (torch,
transformers) are imported only by the commands that train.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True, soft_wrap=True)


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


# ---- probe --------------------------------------------------------------------------------------------
def cmd_probe(args: argparse.Namespace) -> int:
    from ftwizard.core.plan.hardware import default_probe

    result = default_probe(args.fake).probe()
    if args.json:
        _print_json(result.to_dict())
        return 0
    if not result.gpus:
        console.print(f"[yellow]No GPU found.[/] {result.reason}")
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


# ---- estimate -----------------------------------------------------------------------------------------
def _facts(model: str, allow_download: bool = False):  # noqa: ANN202
    from ftwizard.core.plan.model_facts import ModelFactsError, load_model_facts

    try:
        return load_model_facts(model, allow_download=allow_download)
    except ModelFactsError as exc:
        err_console.print(f"[red]error:[/] {exc}")
        raise SystemExit(2) from exc


def _gpu_gib(args: argparse.Namespace) -> tuple[str | None, float | None, int]:
    from ftwizard.core.plan.hardware import default_probe, gpu_from_name

    if getattr(args, "gpu", None):
        g = gpu_from_name(args.gpu)
        return g.name, g.total_gib, args.gpus or 1
    if getattr(args, "gpu_gib", None):
        return f"{args.gpu_gib} GiB GPU", float(args.gpu_gib), args.gpus or 1
    res = default_probe(getattr(args, "fake", None)).probe()
    if res.gpus:
        return res.gpus[0].name, res.min_total_gib, args.gpus or res.count
    return None, None, args.gpus or 1


def cmd_estimate(args: argparse.Namespace) -> int:
    from ftwizard.core.plan.memory import EstimateInput, estimate, fit_advice, max_micro_batch
    from ftwizard.core.plan.model_facts import ModelFactsError

    facts = _facts(args.model, args.allow_download)
    try:
        targets = tuple(facts.resolve_targets(args.targets)) if args.method != "full" else ()
    except ModelFactsError as exc:
        err_console.print(f"[red]error:[/] {exc}")
        return 2
    optim = args.optim or ("paged_adamw_8bit" if args.method == "qlora" else "adamw_torch")
    inp = EstimateInput(method=args.method, rank=args.rank, targets=targets, batch=args.batch, seq=args.seq,
                        grad_ckpt=args.grad_ckpt, optim=optim, precision=args.precision,
                        attention=args.attention, gpus=args.gpus or 1, engine=args.engine,
                        loss="fused" if args.liger else "full")
    est = estimate(facts, inp)
    gpu_name, gpu_gib, _ = _gpu_gib(args)
    out = est.to_dict()
    if gpu_gib:
        adv = fit_advice(facts, inp, gpu_gib)
        out["gpu"] = {"name": gpu_name, "total_gib": round(gpu_gib, 2)}
        out["fits"] = adv.fits
        out["max_micro_batch"] = max_micro_batch(facts, replace(inp, batch=1), gpu_gib)
        out["if_it_does_not_fit"] = [{"change": c, "peak_gib": round(p, 2)} for c, p in adv.steps]
    if args.json:
        _print_json(out)
        return 0
    t = Table(title=f"{facts.name}: {args.method}, batch {args.batch} × {args.seq} tokens"
                    f"{', gradient checkpointing' if args.grad_ckpt else ''}")
    t.add_column("part")
    t.add_column("GiB", justify="right")
    for k, v in out["parts_gib"].items():
        t.add_row(k, f"{v:.2f}")
    t.add_row("[b]peak (per GPU)[/]", f"[b]{out['peak_gib']:.2f}[/]")
    console.print(t)
    console.print(f"{est.params / 1e9:.2f}B parameters, {est.trainable_params:,} trainable "
                  f"({out['trainable_pct']}%). Predicts nvidia-smi's peak; "
                  f"torch max_memory_allocated ≈ {out['peak_allocated_gib']:.2f} GiB.")
    for n in est.notes:
        console.print(f"[dim]note: {n}[/]")
    if gpu_gib:
        verdict = "[green]fits[/]" if out["fits"] else "[red]does not fit[/]"
        console.print(f"{gpu_name} ({gpu_gib:.1f} GiB): {verdict}; largest micro-batch that fits: "
                      f"{out['max_micro_batch']}")
        for step in out["if_it_does_not_fit"]:
            console.print(f"  → {step['change']}: {step['peak_gib']:.1f} GiB")
    return 0


# ---- models, plan ---------------------------------------------------------------------------------------
def cmd_models(args: argparse.Namespace) -> int:
    from ftwizard.core.plan.catalog import load_catalog

    cat = load_catalog()
    if args.json:
        _print_json({k: {"hub_id": p.hub_id, **p.facts.to_dict()} for k, p in cat.items()})
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


def cmd_info(args: argparse.Namespace) -> int:
    facts = _facts(args.model, args.allow_download)
    d = facts.to_dict()
    if args.json:
        _print_json(d)
        return 0
    t = Table(title=facts.name, show_header=False)
    for k, v in d.items():
        t.add_row(k, str(v))
    console.print(t)
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from ftwizard.core.plan.hardware import FakeProbe, default_probe
    from ftwizard.core.plan.recommend import recommend

    facts = _facts(args.model, args.allow_download)
    probe = FakeProbe.of(args.gpu, args.gpus or 1).probe() if args.gpu else default_probe(args.fake).probe()
    plan = recommend(facts, probe, task_kind=args.task, rows=args.rows, seq_len=args.seq, method=args.method)
    if args.json:
        _print_json(plan.to_dict())
        return 0
    t = Table(title=f"Plan for {facts.name} on {plan.gpus}× {plan.gpu_name or 'no GPU'}")
    t.add_column("setting")
    t.add_column("value")
    t.add_column("why")
    for k, c in plan.choices.items():
        v = ", ".join(c.value) if isinstance(c.value, list) else str(c.value)
        t.add_row(k, v, c.reason)
    console.print(t)
    e = plan.estimate
    console.print(f"Predicted peak: [b]{e.peak_gib:.1f} GiB[/]" +
                  (f" of {plan.gpu_gib:.1f} GiB" if plan.gpu_gib else "") +
                  "  (" + ", ".join(f"{k} {v / 2**30:.1f}" for k, v in e.parts_bytes.items()) + ")")
    for w in plan.warnings:
        console.print(f"[yellow]warning:[/] {w}")
    return 0


# ---- parser ----------------------------------------------------------------------------------------------
def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", "-m", required=True, help="local folder with config.json, preset name, or cached Hub id")
    p.add_argument("--allow-download", action="store_true", help="fetch config.json from the Hub if not cached")


def build_parser() -> argparse.ArgumentParser:
    from ftwizard import __version__

    ap = argparse.ArgumentParser(prog="ftwizard", description="Fine-tuning wizard. No command: open the app.")
    ap.add_argument("--version", action="version", version=f"ftwizard {__version__}")
    ap.add_argument("--fake-gpus", dest="fake_app", help="(app) use a fake GPU description file")
    ap.add_argument("--preset", dest="preset_app", help="(app) start from answers saved as a preset YAML")
    sub = ap.add_subparsers(dest="cmd")

    p = sub.add_parser("probe", help="list local NVIDIA GPUs (NVML)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--fake", help="JSON/YAML file describing fake GPUs (demos, tests)")
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser("estimate", help="estimate peak GPU memory for a fine-tuning setup")
    _add_model_args(p)
    p.add_argument("--method", choices=["full", "lora", "qlora", "dora"], default="lora")
    p.add_argument("--rank", "-r", type=int, default=16)
    p.add_argument("--targets", default="all-linear", help="minimal | all-linear | attention | q_proj,v_proj,…")
    p.add_argument("--batch", "-b", type=int, default=1, help="micro-batch per GPU")
    p.add_argument("--seq", "-s", type=int, default=2048, help="sequence length (tokens)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--grad-ckpt", dest="grad_ckpt", action="store_true", default=True)
    g.add_argument("--no-grad-ckpt", dest="grad_ckpt", action="store_false")
    p.add_argument("--optim", help="HF Trainer optim name (default adamw_torch; paged_adamw_8bit for qlora)")
    p.add_argument("--precision", choices=["bf16", "fp16", "fp32", "bf16-mixed", "fp16-mixed"], default="bf16")
    p.add_argument("--attention", choices=["sdpa", "flash", "eager"], default="sdpa")
    p.add_argument("--gpus", type=int, default=None, help="number of GPUs")
    p.add_argument("--engine", choices=["auto", "ddp", "fsdp", "zero2", "zero3"], default="auto")
    p.add_argument("--liger", action="store_true", help="fused linear+cross-entropy loss (use_liger_kernel)")
    p.add_argument("--gpu", help="plan for this GPU (e.g. 4090, A100-80, H100) instead of the local one")
    p.add_argument("--gpu-gib", type=float, help="plan for a GPU with this much memory")
    p.add_argument("--fake", help="fake GPU description file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_estimate)

    p = sub.add_parser("models", help="list the offline model presets")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("info", help="model facts from config.json (no weights loaded)")
    _add_model_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("plan", help="recommend a full training plan for a model and GPU")
    _add_model_args(p)
    p.add_argument("--task", choices=["format", "domain", "complex", "knowledge"], default="domain")
    p.add_argument("--rows", type=int, default=1000, help="training examples")
    p.add_argument("--seq", type=int, help="longest examples in tokens (p99)")
    p.add_argument("--method", choices=["full", "lora", "qlora", "dora"])
    p.add_argument("--gpu", help="plan for this GPU instead of the local one")
    p.add_argument("--gpus", type=int)
    p.add_argument("--fake", help="fake GPU description file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_plan)

    _extra_commands(sub)
    return ap


def _extra_commands(sub: Any) -> None:
    """Data, training and monitoring commands live in their own modules."""
    from ftwizard.cli import data as cli_data
    from ftwizard.cli import train as cli_train

    cli_data.register(sub)
    cli_train.register(sub)


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    if not getattr(args, "cmd", None):
        from ftwizard.ui.app import run_app

        return run_app(fake_gpus=args.fake_app, preset=args.preset_app)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
