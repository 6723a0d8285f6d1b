"""`ftwizard data FILE --tokenizer MODEL --show-mask N`: row N as an SFT run tokenizes it, trained tokens highlighted.

Row N is counted as the file counts it (its line in JSONL/CSV, its record in JSON/Parquet). The mask comes from
`ftwizard.train.turn_mask.example_mask`, the same code the SFT trainer uses; torch/transformers are imported only
here, when the option is given.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ftwizard.cli._common import CliError

OPEN, CLOSE = "⟦", "⟧"  # the trained tokens when the output is not a terminal


def _row(args: argparse.Namespace, hub: Any) -> tuple[str, dict[str, Any]]:
    """(where, the TRL row) of the record at line/record N."""
    from ftwizard.core.data import formats
    from ftwizard.core.data.reader import read_records

    n = args.show_mask
    extra = {"dataset": args.dataset} if getattr(args, "dataset", None) else {}  # a LLaMA-Factory entry
    res = read_records(args.path, hub=hub, **extra)
    recs = [r for r in res.records if r.loc == n]
    if not recs:
        locs = [r.loc for r in res.records]
        span = f"{min(locs)}–{max(locs)}" if locs else "none"
        raise CliError(f"--show-mask {n}: {args.path} has no row at line/record {n} (rows found: {span})", code=1)
    rec = recs[0]
    family = args.format or formats.detect_family([r.data for r in res.records])
    if family is None:
        raise CliError(f"{rec.where}: could not recognise the format of this row", code=1)
    data = rec.data
    if getattr(args, "fill", None):  # --fill NAME=VALUE placeholders, as the report and the split apply them
        from ftwizard.core.data.placeholders import fill, parse_fill

        data, _ = fill(data, parse_fill(args.fill))
    problems = formats.validate(family, data)
    if problems:
        raise CliError(f"{rec.where}: {'; '.join(problems)}", "fix this row, or show another one", code=1)
    return rec.where, formats.to_trl(family, data)


def _tokenizer(name: str | None) -> Any:
    if not name:
        raise CliError("--show-mask needs the model's tokenizer", "add --model MODEL or --tokenizer MODEL (a local "
                                                                   "folder or a cached Hub id)")
    from transformers import AutoTokenizer
    from transformers.utils import logging

    logging.set_verbosity_error()
    try:
        return AutoTokenizer.from_pretrained(name, local_files_only=True, trust_remote_code=False)
    except Exception as exc:  # noqa: BLE001 - one line for the user
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CliError(f"cannot load tokenizer {name}: {first}", "pass a local model folder or a cached Hub id") from None


def _chunks(tm: Any, tok: Any, cut_at: int | None) -> list[tuple[str, bool, bool]]:
    """(text, trained, the max-seq cut comes right before it) runs of consecutive tokens."""
    runs: list[tuple[int, int, bool]] = []  # token ranges
    for i, m in enumerate(tm.assistant_masks):
        if runs and bool(m) == runs[-1][2] and i != cut_at:
            runs[-1] = (runs[-1][0], i + 1, runs[-1][2])
        else:
            runs.append((i, i + 1, bool(m)))
    out, cursor = [], 0
    for a, b, trained in runs:
        if tm.offsets is not None:
            end = max(cursor, max(e for _, e in tm.offsets[a:b]))
            text, cursor = tm.text[cursor:end], end
        else:
            text = tok.decode(tm.input_ids[a:b], skip_special_tokens=False)
        out.append((text, trained, a == cut_at))
    if tm.offsets is not None and cursor < len(tm.text):
        out.append((tm.text[cursor:], False, False))
    return out


def _roles(c: Any) -> str:
    return ", ".join(f"{role} {n}" for role, n in c.most_common()) or "none"


def show_mask(args: argparse.Namespace, hub: Any = None) -> int:
    """Print row `args.show_mask` with its trained tokens marked, the per-role counts and what max seq cuts."""
    from ftwizard.train.templates import ensure_template
    from ftwizard.train.turn_mask import example_mask

    where, row = _row(args, hub)
    tok = _tokenizer(args.tokenizer)
    from ftwizard.core.data import formats

    added = ensure_template(tok, "auto", formats.is_conversational(row))
    if "chosen" in row or "label" in row:
        raise CliError(f"{where}: --show-mask shows SFT rows; this is {formats.trl_type(row)} data", code=1)
    plan, tm = example_mask(tok, row, True, added)
    counts = tm.counts()
    cut = tm.cut(args.max_seq)
    n = len(tm.input_ids)
    cut_at = args.max_seq if n > args.max_seq else None
    if args.json:
        sys.stdout.write(json.dumps({
            "row": where, "tokenizer": args.tokenizer, "loss_on": plan.mode, "how": tm.how, "message": plan.message,
            "tokens": n, "trained": dict(counts["trained"]), "masked": dict(counts["masked"]),
            "trained_turns": tm.trained_turns, "max_seq": args.max_seq, "cut": cut, "fallbacks": tm.fallbacks,
            "spans": [{"text": t, "trained": tr} for t, tr, _ in _chunks(tm, tok, None)]},
            indent=2, ensure_ascii=False) + "\n")
        return 0
    from rich.console import Console
    from rich.text import Text

    console = Console(soft_wrap=True, emoji=False, highlight=False)
    console.print(Text(f"{where} with {args.tokenizer}: {plan.message}", style="bold"))
    body = Text()
    for text, trained, cut_here in _chunks(tm, tok, cut_at):
        if cut_here:
            body.append(f"✂ max seq {args.max_seq} ✂", style="bold red")
        if console.is_terminal:
            body.append(text, style="reverse green" if trained else "dim")
        else:
            body.append(f"{OPEN}{text}{CLOSE}" if trained else text)
    body.rstrip()
    console.print(body)
    legend = "highlighted" if console.is_terminal else f"inside {OPEN}…{CLOSE}"
    console.print(f"trained ({legend}): {sum(counts['trained'].values())} tokens in {tm.trained_turns} turn(s) — "
                  f"{_roles(counts['trained'])}", markup=False)
    masked = f"masked: {sum(counts['masked'].values())} tokens — {_roles(counts['masked'])}"
    if any(r in counts["masked"] for r in ("assistant", "tool call")):
        masked += " (for assistant / tool call: the turn's header and separators)"
    console.print(masked, markup=False)
    if cut["trained_left"] == 0 and cut["tokens_cut"]:
        line = (f"cut by max seq {args.max_seq}: {n} tokens, and no trained token is left before the cut — a run "
                "drops this row (raise --max-seq / max_seq_length)")
    elif cut["tokens_cut"]:
        line = (f"cut by max seq {args.max_seq}: {n} tokens; {cut['tokens_cut']} trained tokens are lost, "
                f"{cut['turns_cut']} answer(s) cut ({cut['turns_lost']} entirely)")
    else:
        line = f"length {n} tokens: nothing is cut at max seq {args.max_seq}"
    console.print(line, markup=False)
    for f in tm.fallbacks:
        console.print(f"note: {f}", markup=False)
    return 0
