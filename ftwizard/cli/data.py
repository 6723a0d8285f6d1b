"""`ftwizard data PATH [--json]`: detect, validate, report, and optionally split or export a dataset.

Exit codes: 0 the data is usable; 1 it is not (each problem on one line naming the file and line, and what to do);
2 a bad option (including a LLaMA-Factory dataset_info.json without --dataset: the names are listed). Never a
traceback.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

_RATIOS = re.compile(r"^\s*[\d.]+\s*,\s*[\d.]+\s*,\s*[\d.]+\s*$")


def register(sub: Any) -> None:
    from ftwizard.cli._common import bounded, config_value, one_line_errors
    from ftwizard.core.data.formats import FAMILIES
    from ftwizard.core.data.report import MIN_ROWS

    p = one_line_errors(sub.add_parser("data", help="detect, validate and report on a dataset (file, folder or Hub id)"))
    p.add_argument("path", help="a .jsonl/.json/.csv/.tsv/.parquet/.txt file (CSV: , ; or tab separated), a folder "
                                "of them, or a Hub dataset id")
    p.add_argument("--format", choices=list(FAMILIES), help="override detection")
    p.add_argument("--max-seq", type=config_value("max_seq_length"), default=2048,
                   help="max sequence length in tokens")
    p.add_argument("--tokenizer", help="count tokens with this model's tokenizer and chat template "
                                       "(a local folder or a cached Hub id; else ~characters/4)")
    p.add_argument("--model", "-m", help="the model to train: its tokenizer and chat template count the tokens "
                                         "(a folder, a .gguf file, a preset or a cached Hub id; same as --tokenizer)")
    p.add_argument("--dataset", help="the dataset to read from a LLaMA-Factory dataset_info.json (PATH#NAME works too)")
    p.add_argument("--fill", action="append", metavar="NAME=VALUE",
                   help="replace a placeholder in every row ({{name}}, <name>, [NAME]); repeat for more, e.g. "
                        "--fill name=Wizzy --fill author=Acme (with --split-out, the filled rows are written)")
    p.add_argument("--task", choices=list(MIN_ROWS), metavar="TASK",
                   help="what the data teaches, for the suggested size: " + ", ".join(MIN_ROWS))
    p.add_argument("--split-out", help="write train/validation/test JSONL (TRL format) + split.json here")
    p.add_argument("--ratios", default="0.8,0.1,0.1", help="train,validation,test ratios of the split")
    p.add_argument("--seed", type=int, default=42)
    hub = p.add_argument_group("Hub datasets")
    hub.add_argument("--subset", help="the dataset's subset (configuration) name")
    hub.add_argument("--split", default="train",
                     help="which split of a Hub dataset to read (default train); a ratio list such as 0.8,0.1,0.1 "
                          "is still read as --ratios")
    hub.add_argument("--revision", help="a branch, tag or commit of the Hub dataset")
    hub.add_argument("--allow-download", action="store_true",
                     help="download a Hub dataset that is not in the local cache (its size is shown first)")
    api = p.add_argument_group("API fine-tuning")
    api.add_argument("--export-openai", metavar="OUT.jsonl",
                     help="write the train split as OpenAI fine-tuning chat JSONL, checked against its rules")
    api.add_argument("--epochs", type=bounded(int, 1, 100, "a number of epochs"), default=3,
                     help="epochs of the API job, for its token count (default 3)")
    p.add_argument("--show-mask", type=bounded(int, 1, 10**9, "a row number"), metavar="N",
                   help="show row N (its line, or record) tokenized as SFT trains it, trained tokens marked, with "
                        "counts per role (needs --tokenizer; --max-seq tells what is cut)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_data)


def _fail(args: argparse.Namespace, message: str, code: int = 1) -> int:
    if args.json:
        sys.stdout.write(json.dumps({"path": args.path, "format": None, "family": None, "rows": 0,
                                     "errors": [{"line": None, "message": message}], "warnings": [],
                                     "stats": {}}) + "\n")
    else:
        from ftwizard.cli._common import err_console, esc

        err_console.print(f"[red]error:[/] {esc(message)}", highlight=False)
    return code


def _ratios(args: argparse.Namespace) -> tuple[float, float, float]:
    text = args.split if _RATIOS.match(args.split or "") else args.ratios
    try:
        return tuple(float(x) for x in text.split(","))  # type: ignore[return-value]
    except ValueError as exc:
        raise ValueError(f"--ratios: expected three numbers like 0.8,0.1,0.1, got {text!r}") from exc


def cmd_data(args: argparse.Namespace) -> int:
    from ftwizard.core.data.errors import DataError
    from ftwizard.core.data.hub import HubOptions, human_size
    from ftwizard.core.data.reader import DatasetChoiceError
    from ftwizard.core.data.report import analyze
    from ftwizard.core.data.split import SplitError, check_ratios

    try:
        ratios = check_ratios(_ratios(args))
    except ValueError as exc:
        return _fail(args, str(exc), 2)
    from ftwizard.core.data.placeholders import parse_fill

    try:
        fill = parse_fill(args.fill)
    except ValueError as exc:
        return _fail(args, str(exc), 2)
    tok_note = _resolve_tokenizer(args)
    hub_split = "train" if _RATIOS.match(args.split or "") else args.split
    hub = HubOptions(subset=args.subset, split=hub_split, revision=args.revision, allow_download=args.allow_download)

    def on_size(n: int | None) -> None:
        sys.stderr.write(f"downloading {hub.describe(args.path)}: "
                         f"{human_size(n) if n else 'size not given by the Hub'}\n")

    if args.show_mask is not None:
        from ftwizard.cli.show_mask import show_mask

        return show_mask(args, hub)
    try:
        rep = analyze(args.path, fmt=args.format, max_seq=args.max_seq, task=args.task, tokenizer=args.tokenizer,
                      hub=hub, split_ratios=ratios, on_size=on_size, dataset=args.dataset, fill=fill)
    except DatasetChoiceError as exc:
        return _fail(args, str(exc), 2)
    except (DataError, SplitError, ValueError) as exc:
        return _fail(args, str(exc))
    if tok_note and rep.stats:
        rep.notes.insert(0, tok_note)
    out = rep.to_dict()
    try:
        if args.split_out and rep.usable:
            from ftwizard.core.data.report import split_and_write

            out["split"] = split_and_write(rep, args.split_out, ratios, args.seed)
        if args.export_openai and rep.usable:
            out["export_openai"] = _export(rep, ratios, args)
    except (SplitError, ValueError, OSError) as exc:
        return _fail(args, str(exc))
    ok = rep.usable and out.get("export_openai", {}).get("problems", []) == []
    if args.json:
        sys.stdout.write(json.dumps(out, indent=2, ensure_ascii=False, default=str) + "\n")
        return 0 if ok else 1
    _print(rep, out, args)
    return 0 if ok else 1


def _resolve_tokenizer(args: argparse.Namespace) -> str | None:
    """--model/--tokenizer → where the tokenizer is (a .gguf's converted folder, a preset's cached Hub id); a note
    when the lengths will only be ~characters/4 (and why)."""
    from ftwizard.core.wizard import tokenizer_source

    given = args.tokenizer or args.model
    found = tokenizer_source(given) if given else None
    if given and found is None and not args.tokenizer:
        why = f"the tokenizer of {given} is not here (not a folder, a converted .gguf or a cached model)"
    elif not given:
        why = "no --model given"
    else:
        why = ""
    args.tokenizer = found or args.tokenizer
    return (f"token lengths are approximate (characters / 4): {why}; --model MODEL counts them with its tokenizer "
            "and chat template") if why else None


def _export(rep: Any, ratios: tuple[float, float, float], args: argparse.Namespace) -> dict[str, Any]:
    from ftwizard.core.data.api_export import export_openai
    from ftwizard.core.data.report import make_split

    parts, removed = make_split(rep, ratios, args.seed)
    res = export_openai(parts["train"], args.export_openai, epochs=args.epochs)
    d = res.to_dict()
    d["split"] = {"train": len(parts["train"]), "validation": len(parts["validation"]), "test": len(parts["test"]),
                  "duplicates_removed": removed, "seed": args.seed}
    return d


def _print(rep: Any, out: dict[str, Any], args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    from ftwizard.cli._common import esc

    console = Console(soft_wrap=True, emoji=False)  # rows and paths print as typed: no `:100:` → emoji
    fmt = f"format [cyan]{esc(rep.format)}[/] (family {esc(rep.family)})" if rep.format else \
        f"format not usable (family {esc(rep.family)})" if rep.family else "format not recognised"
    console.print(f"[b]{esc(args.path)}[/]: {fmt}, {rep.rows:,} usable row{'s' if rep.rows != 1 else ''}",
                  highlight=False)
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
            span = f"{b['from']:>6}–{b['to']:<6}" if b["to"] > b["from"] else f"{b['from']:>6} {'':<6}"
            console.print(f"  {span} {'█' * round(30 * b['count'] / peak)} {b['count']}")
        console.print(f"TRL type: {st['trl']['type']} ({'conversational' if st['trl']['conversational'] else 'standard'})"
                      f"; duplicates: {st['duplicates']['exact']} exact (left out of the split), "
                      f"{st['duplicates']['near']} near; short answers: {st['short_outputs']['count']}; "
                      + "PII: " + ", ".join(f"{k} {v['count']}" for k, v in st["pii"].items()), highlight=False)
        if "class_balance" in st:
            console.print("classes: " + ", ".join(f"{k!r}: {v}" for k, v in list(st["class_balance"].items())[:10]),
                          markup=False, highlight=False)
        for s in st.get("sample", []):
            console.print(f"[dim]sample {esc(s['where'])}:[/] " + esc(json.dumps(s["record"], ensure_ascii=False)[:300]),
                          highlight=False)
    for n in rep.notes:
        console.print(f"[dim]note:[/] {esc(n)}", highlight=False)
    for w in rep.warnings:
        console.print(f"[yellow]warning:[/] {esc(w)}", highlight=False)
    if "split" in out:
        sp = out["split"]["splits"]
        console.print(f"split written to {esc(args.split_out)}: " + ", ".join(f"{k} {v['rows']}" for k, v in sp.items())
                      + f" ({out['split']['duplicates_removed']} duplicates removed first)")
    if "export_openai" in out:
        _print_export(console, out["export_openai"], args)
    console.print("[green]usable[/]" if rep.usable else "[red]fix the problems above before training[/]")


def _print_export(console: Any, ex: dict[str, Any], args: argparse.Namespace) -> None:
    from ftwizard.cli._common import esc

    for p in ex["problems"][:20]:
        console.print("  [red]✗[/] ", end="")
        console.print(f"{args.export_openai}: {p}", markup=False, highlight=False)
    for w in ex["warnings"]:
        console.print(f"[yellow]warning:[/] {esc(w)}", highlight=False)
    if ex["path"]:
        console.print(f"OpenAI fine-tuning file: {esc(ex['path'])} — {ex['examples']:,} examples (the train split; "
                      f"{ex['split']['validation']} validation and {ex['split']['test']} test rows held out)",
                      highlight=False)
    else:
        console.print(f"[red]not written:[/] {len(ex['problems'])} rule(s) of the API failed (listed above)")
    costs = ", ".join(f"{m} ${c:,.2f}" for m, c in ex["cost_usd"].items())
    console.print(f"job tokens: {ex['tokens_per_epoch']:,} per epoch × {ex['epochs']} epochs = "
                  f"{ex['billed_tokens']:,} billed tokens (largest example {ex['max_example_tokens']:,} of "
                  f"{ex['token_limit']:,} allowed; {ex['token_method']}); cost at {ex['price_source']} prices: "
                  f"{costs}", highlight=False)
