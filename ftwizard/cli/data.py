"""`ftwizard data PATH [--json]`: detect, validate, report, and optionally split a dataset."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("data", help="detect, validate and report on a dataset (file, folder or Hub id)")
    p.add_argument("path", help="a .jsonl/.json/.csv/.parquet/.txt file, a folder of them, or a Hub dataset id")
    p.add_argument("--format", choices=["alpaca", "sharegpt", "openai", "preference", "kto",
                                        "prompt_completion", "text"], help="override detection")
    p.add_argument("--max-seq", type=int, default=2048, help="max sequence length in tokens")
    p.add_argument("--tokenizer", help="count tokens with this tokenizer (local folder or cached Hub id)")
    p.add_argument("--task", choices=["classification", "extraction", "style", "domain", "code"])
    p.add_argument("--split-out", help="write train/validation/test JSONL (TRL format) + split.json here")
    p.add_argument("--split", default="0.8,0.1,0.1", help="train,validation,test ratios")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--allow-download", action="store_true", help="allow fetching a Hub dataset")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_data)


def _tokenizer_counter(name: str):  # noqa: ANN202
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(name, local_files_only=True)
    return lambda text: len(tok(text, add_special_tokens=False)["input_ids"])


def cmd_data(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from ftwizard.core.data.reader import DataError
    from ftwizard.core.data.report import analyze, split_and_write

    console = Console()
    counter = _tokenizer_counter(args.tokenizer) if args.tokenizer else None
    try:
        rep = analyze(args.path, fmt=args.format, max_seq=args.max_seq, count_tokens=counter,
                      tokenizer_name=args.tokenizer, task=args.task, allow_download=args.allow_download)
    except DataError as exc:
        if args.json:
            sys.stdout.write(json.dumps({"path": args.path, "format": None, "family": None, "rows": 0,
                                         "errors": [{"line": None, "message": str(exc)}], "warnings": [],
                                         "stats": {}}) + "\n")
        else:
            Console(stderr=True, soft_wrap=True).print(f"[red]error:[/] {exc}")
        return 1
    out = rep.to_dict()
    if args.split_out and rep.usable:
        ratios = tuple(float(x) for x in args.split.split(","))
        out["split"] = split_and_write(rep, args.split_out, ratios, args.seed)  # type: ignore[arg-type]
    if args.json:
        sys.stdout.write(json.dumps(out, indent=2, ensure_ascii=False, default=str) + "\n")
        return 0 if rep.usable else 1
    console.print(f"[b]{args.path}[/]: format [cyan]{rep.format}[/] (family {rep.family}), "
                  f"{rep.rows:,} usable rows")
    if rep.errors:
        console.print(f"[red]{len(rep.errors)} problem(s):[/]")
        for e in rep.errors[:30]:
            console.print("  [red]✗[/] ", end="")
            console.print(str(e), markup=False, highlight=False)
        if len(rep.errors) > 30:
            console.print(f"  … and {len(rep.errors) - 30} more (use --json for all)")
    st = rep.stats
    if st:
        tk = st["tokens"]
        t = Table(title=f"Token lengths ({tk['method']})")
        for c in ("min", "p50", "p90", "p99", "max", f"> {tk['max_seq']}"):
            t.add_column(c, justify="right")
        t.add_row(*(str(tk[k]) for k in ("min", "p50", "p90", "p99", "max", "over_max_seq")))
        console.print(t)
        peak = max((b["count"] for b in tk["histogram"]), default=1) or 1
        for b in tk["histogram"]:
            console.print(f"  {b['from']:>6}–{b['to']:<6} {'█' * round(30 * b['count'] / peak)} {b['count']}")
        console.print(f"duplicates: {st['duplicates']['exact']} exact, {st['duplicates']['near']} near; "
                      f"short answers: {st['short_outputs']['count']}; "
                      + "PII: " + ", ".join(f"{k} {v['count']}" for k, v in st["pii"].items()))
        if "class_balance" in st:
            console.print("classes: " + ", ".join(f"{k!r}: {v}" for k, v in list(st["class_balance"].items())[:10]))
        for s in st.get("sample", []):
            console.print(f"[dim]sample {s['where']}:[/] " + json.dumps(s["record"], ensure_ascii=False)[:300],
                          markup=True, highlight=False)
    for w in rep.warnings:
        console.print(f"[yellow]warning:[/] {w}")
    if "split" in out:
        sp = out["split"]["splits"]
        console.print(f"split written to {args.split_out}: " + ", ".join(f"{k} {v['rows']}" for k, v in sp.items()))
    console.print("[green]usable[/]" if rep.usable else "[red]fix the problems above before training[/]")
    return 0 if rep.usable else 1
