"""`ftwizard train`, `ftwizard demo`, `ftwizard monitor`, `ftwizard check`, `ftwizard stop`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console

console = Console()


def register(sub: Any) -> None:
    p = sub.add_parser("train", help="train from a config.yaml (headless), or --resume a run")
    p.add_argument("config", nargs="?", help="config.yaml (a RunConfig)")
    p.add_argument("--out", help="run directory (default runs/<timestamp>)")
    p.add_argument("--resume", metavar="RUN", help="continue a stopped/failed run from its last checkpoint")
    p.add_argument("--detach", action="store_true", help="start and return; watch with `ftwizard monitor RUN`")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("demo", help="offline demo: tiny model + date-format task, trained on the CPU, then checked")
    p.add_argument("--headless", action="store_true", help="no app: print progress here")
    p.add_argument("--out", help="run directory (default runs/demo-<timestamp>)")
    p.add_argument("--examples", type=int, default=4000)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("monitor", help="follow a run's events (reattach to a running or finished run)")
    p.add_argument("run")
    p.add_argument("--once", action="store_true", help="print the current state and exit")
    p.set_defaults(func=cmd_monitor)

    p = sub.add_parser("check", help="after-training checks: base vs tuned, template/EOS, merge, run card …")
    p.add_argument("run")
    p.add_argument("--json", action="store_true", help="print checks.json")
    p.add_argument("--only", help="comma-separated: compare,template,merge,general,gguf,card (default: all)")
    p.add_argument("--general", metavar="FILE", help="a general chat set for the forgetting check")
    p.add_argument("--limit", type=int, default=200, help="test rows to evaluate (default 200)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("stop", help="stop a run gracefully (checkpoint saved)")
    p.add_argument("run")
    p.set_defaults(func=cmd_stop)


def _new_run_dir(prefix: str = "") -> Path:
    return Path("runs") / f"{prefix}{time.strftime('%Y%m%d-%H%M%S')}"


def write_exports(rd: Any, cfg: Any) -> None:
    """The equivalent TRL CLI config and accelerate command, so leaving ftwizard is easy."""
    import yaml

    trl_cfg = {
        "model_name_or_path": cfg.model, "dataset_name": str(rd.data_dir),
        "output_dir": str(rd.checkpoints), "per_device_train_batch_size": cfg.micro_batch,
        "gradient_accumulation_steps": cfg.gradient_accumulation, "learning_rate": cfg.learning_rate,
        "num_train_epochs": cfg.epochs, "max_length": cfg.max_seq_length, "lr_scheduler_type": cfg.lr_scheduler,
        "warmup_steps": cfg.warmup_ratio, "weight_decay": cfg.weight_decay,
        "gradient_checkpointing": cfg.gradient_checkpointing, "optim": cfg.optimizer, "seed": cfg.seed,
        "logging_steps": cfg.logging_steps, "eval_strategy": "steps", "eval_steps": cfg.eval_steps,
    }
    if cfg.method != "full":
        trl_cfg.update({"use_peft": True, "lora_r": cfg.rank, "lora_alpha": cfg.alpha, "lora_dropout": cfg.dropout,
                        "lora_target_modules": cfg.target_modules, "use_dora": cfg.method == "dora"})
    if cfg.method == "qlora":
        trl_cfg.update({"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "use_bnb_nested_quant": True})
    if cfg.trainer == "dpo":
        trl_cfg["beta"] = cfg.dpo_beta
    else:
        trl_cfg["assistant_only_loss"] = cfg.assistant_only_loss
    name = f"trl_{cfg.trainer}.yaml"
    (rd.path / name).write_text(yaml.safe_dump(trl_cfg, sort_keys=False), encoding="utf-8")
    n = max(1, cfg.num_gpus)
    conf = ""
    if n > 1:
        from ftwizard.core.run.launcher import prepare_accelerate

        conf = f"--config_file {prepare_accelerate(rd.path, n)} "
    (rd.path / "launch.sh").write_text(
        "#!/usr/bin/env bash\n# The same training without ftwizard:\n"
        f"accelerate launch {conf}--num_processes {n} -m trl {cfg.trainer} --config {rd.path / name}\n"
        f"# or, with ftwizard: ftwizard train {rd.config_path} --out {rd.path}\n", encoding="utf-8")


def create_run(path: str | Path, cfg: Any) -> Any:
    """Write a new run directory: config.yaml plus the TRL config and launch.sh to leave ftwizard."""
    from ftwizard.core.run.layout import RunDir

    rd = RunDir(path).create(cfg)
    write_exports(rd, cfg)
    return rd


def follow(run: Path, proc: Any = None, quiet: bool = False) -> dict:
    """Print events as they arrive (with a live progress bar on a terminal) until the run ends.
    Ctrl-C detaches: training continues."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from ftwizard.core.run.launcher import TERMINAL, current_status
    from ftwizard.core.run.layout import EventTail, RunDir

    tail = EventTail(RunDir(run).events_path)
    live = console.is_terminal and not quiet
    progress = Progress(TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True, disable=not live)
    task = progress.add_task("train", total=None, info="")

    def show(events: list[dict]) -> None:
        for ev in events:
            if not quiet:
                _print_event(ev, progress.console)
            if ev.get("max_steps"):
                progress.update(task, total=ev["max_steps"])
            if isinstance(ev.get("step"), int) and ev.get("type") in ("log", "eval", "checkpoint"):
                info = f"loss {ev['loss']:.4f}" if isinstance(ev.get("loss"), int | float) else ""
                progress.update(task, completed=ev["step"], info=info)

    try:
        with progress:
            while True:
                show(tail.poll())
                st = current_status(run, proc)
                if st.get("state") in TERMINAL and (proc is None or proc.poll() is not None):
                    show(tail.poll())
                    return st
                time.sleep(0.3)
    except KeyboardInterrupt:
        console.print(f"\nDetached. Training continues; reattach with: ftwizard monitor {run}")
        raise SystemExit(0) from None


def _print_event(ev: dict, out: Any = None) -> None:
    out = out or console
    t = ev.get("type")
    if t == "log" and "loss" in ev:
        ms = ev.get("max_steps") or 0
        tps = f"  {ev['tokens_per_s']:.0f} tok/s" if ev.get("tokens_per_s") else ""
        out.print(f"step {ev['step']}/{ms}  loss {ev['loss']:.4f}  lr {ev.get('learning_rate', 0):.2e}{tps}")
    elif t == "eval":
        out.print(f"[cyan]eval[/] step {ev['step']}  eval_loss {ev['eval_loss']:.4f}")
    elif t == "warning":
        out.print(f"[yellow]warning:[/] {ev['message']} → {ev['fix']}")
    elif t == "failed":
        out.print(f"[red]failed:[/] {ev['message']} → {ev['fix']}")
    elif t == "preflight":
        out.print(f"preflight on the longest batch ({ev['longest_tokens']} tokens): ok"
                      + (f", peak {ev['measured_peak_allocated_gib']} GiB" if ev.get("measured_peak_allocated_gib") else ""))
    elif t == "note":
        out.print(f"[dim]note:[/] {ev.get('message')}")
    elif t in ("checkpoint", "done", "resume", "train_begin"):
        out.print(f"[dim]{t}: {json.dumps({k: v for k, v in ev.items() if k not in ('type', 'time')})[:150]}[/]")


def _report_end(st: dict, run: Path) -> int:
    state = st.get("state")
    if state == "done":
        console.print(f"[green]done.[/] Output in {run}")
        return 0
    if state == "stopped":
        console.print(f"[yellow]stopped[/] with a checkpoint. Resume: ftwizard train --resume {run}")
        return 0
    d = st.get("diagnosis") or {}
    console.print(f"[red]failed:[/] {d.get('summary')}\n[b]Try:[/] {d.get('fix')}\nLog: {run / 'stdout.log'}")
    return 1


def cmd_train(args: argparse.Namespace) -> int:
    from ftwizard.core.run.launcher import launch
    from ftwizard.core.run.layout import RunConfig, RunDir

    if args.resume:
        run = Path(args.resume)
        if not (run / "config.yaml").exists():
            console.print(f"[red]error:[/] {run} is not a run directory (no config.yaml)")
            return 2
        proc = launch(run, resume=True, num_gpus=RunDir(run).config().num_gpus)
    else:
        if not args.config:
            console.print("[red]error:[/] give a config.yaml, or --resume RUN")
            return 2
        try:
            cfg = RunConfig.load(args.config)
        except (OSError, ValueError, TypeError) as exc:
            console.print(f"[red]error:[/] {args.config}: {exc}")
            return 2
        run = Path(args.out) if args.out else _new_run_dir()
        create_run(run, cfg)
        proc = launch(run, num_gpus=cfg.num_gpus)
    console.print(f"run directory: {run}  (pid {proc.pid}; `ftwizard monitor {run}` to reattach)")
    if args.detach:
        return 0
    return _report_end(follow(run, proc), run)


def make_demo_run(out: Path, examples: int = 4000) -> Path:
    """Build the tiny model, the date task and a config for it in `out`."""
    from ftwizard.core.run.layout import RunConfig
    from ftwizard.train.tiny import build_tiny, date_examples, write_jsonl

    out.mkdir(parents=True, exist_ok=True)
    base = build_tiny(out / "base_model")
    data = write_jsonl(date_examples(examples + 250, seed=1), out / "dates.jsonl")
    n = examples + 250
    test = 200 / n
    cfg = RunConfig(model=str(base), data=str(data), method="full", max_seq_length=64, micro_batch=32,
                    gradient_accumulation=1, learning_rate=3e-3, epochs=3, warmup_ratio=0.05,
                    weight_decay=0.0, logging_steps=10, eval_steps=100, save_steps=200, split=[1 - 0.01 - test, 0.01, test],
                    preflight_steps=1, optimizer="adamw_torch")
    create_run(out, cfg)
    return out


def cmd_demo(args: argparse.Namespace) -> int:
    from ftwizard.core.run.launcher import launch

    if not args.headless:
        from ftwizard.ui.app import run_app

        return run_app(demo=True)
    t0 = time.time()
    run = make_demo_run(Path(args.out) if args.out else _new_run_dir("demo-"), args.examples)
    console.print(f"Demo: a 4-layer model learns YYYY-MM-DD → DD/MM/YYYY on the CPU. Run: {run}")
    st = follow(run, launch(run))
    if st.get("state") != "done":
        return _report_end(st, run)
    from ftwizard.train.checks import run_checks

    console.print("checking base vs tuned on held-out dates …")
    res = run_checks(run, only=["compare"])
    for s in res["samples"][:4]:
        console.print(f"  {s['prompt']} → base {s['base']!r:14} tuned {s['tuned']!r:14} expected {s['expected']!r}")
    console.print(f"exact match: base {res['baseline']['exact_match']:.2f} → tuned {res['tuned']['exact_match']:.2f} "
                  f"(n={res['tuned']['n']}); total {time.time() - t0:.0f} s")
    return 0


def cmd_monitor(args: argparse.Namespace) -> int:
    from ftwizard.core.run.launcher import reconcile

    run = Path(args.run)
    if not (run / "config.yaml").exists():
        console.print(f"[red]error:[/] {run} is not a run directory")
        return 2
    if args.once:
        st = reconcile(run)
        console.print_json(json.dumps(st, default=str))
        return 0
    if sys.stdout.isatty():
        from ftwizard.ui.app import run_app

        return run_app(monitor=str(run))
    return _report_end(follow(run), run)


def cmd_check(args: argparse.Namespace) -> int:
    from ftwizard.core.run.checklist import ITEMS, load_state
    from ftwizard.core.run.layout import RunDir

    rd = RunDir(args.run)
    if not rd.config_path.exists():
        console.print(f"[red]error:[/] {args.run} is not a run directory (no config.yaml)")
        return 2
    if not (rd.adapter.exists() or (rd.path / "model").exists()):
        console.print(f"[red]error:[/] {args.run} has no trained adapter or model yet (state: "
                      f"{rd.status().get('state', '?')}); wait for the run to finish")
        return 2
    only = [x.strip() for x in args.only.split(",") if x.strip()] if args.only else None
    from ftwizard.train.checks import run_checks

    try:
        res = run_checks(args.run, only=only, general_file=args.general, limit=args.limit)
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
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


def cmd_stop(args: argparse.Namespace) -> int:
    from ftwizard.core.run.launcher import stop

    ok = stop(args.run)
    console.print("stop requested: the trainer saves a checkpoint and exits" if ok else "the run is not running")
    return 0 if ok else 1
