"""`ftwizard distill --teacher MODEL --prompts FILE --out DATA.jsonl`: a local teacher answers your prompts; the
answers are a chat dataset for training a smaller student (SFT, or `trainer: gkd`). Rerun to resume."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ftwizard.cli._common import CliError, console


def register(sub: Any) -> None:
    p = sub.add_parser("distill", help="a teacher model answers your prompts → chat data to train a student on")
    p.add_argument("--teacher", required=True, help="teacher model: a local folder or a cached Hub id")
    p.add_argument("--prompts", required=True, help="prompts: JSONL/JSON/CSV/Parquet rows (prompt or messages) or "
                                                    "a .txt file with one prompt per line")
    p.add_argument("--out", required=True, help="the chat JSONL to write (appended to: a rerun resumes)")
    p.add_argument("--batch-size", type=int, default=8, help="prompts generated together (default 8)")
    p.add_argument("--max-new-tokens", type=int, default=256, help="longest answer in tokens (default 256)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default); > 0 samples")
    p.add_argument("--limit", type=int, help="only the first N prompts")
    p.add_argument("--trust-remote-code", action="store_true", help="run the teacher repository's own code")
    p.add_argument("--allow-download", action="store_true", help="download the teacher from the Hub if not cached")
    p.set_defaults(func=cmd_distill)


def cmd_distill(args: argparse.Namespace) -> int:
    if args.batch_size < 1 or args.max_new_tokens < 1:
        raise CliError("--batch-size and --max-new-tokens must be at least 1")
    if not Path(args.prompts).exists():
        raise CliError(f"{args.prompts}: no such file", "give the file with your prompts (one per line in a .txt)")
    from ftwizard.core.data.report import analyze
    from ftwizard.train.distill import DistillError, distill

    def progress(done: int, total: int) -> None:
        console.print(f"  {done}/{total} prompts answered", highlight=False)

    try:
        res = distill(args.teacher, args.prompts, args.out, batch_size=args.batch_size,
                      max_new_tokens=args.max_new_tokens, temperature=args.temperature, limit=args.limit,
                      trust_remote_code=args.trust_remote_code, allow_download=args.allow_download,
                      on_batch=progress)
    except DistillError as exc:
        raise CliError(str(exc)) from None
    console.print(f"{res.prompts} prompts: {res.already} answered before, {res.written} now"
                  + (f", {res.empty} empty answers skipped (rerun to retry)" if res.empty else "")
                  + f" in {res.seconds:.0f} s → {res.out}", highlight=False)
    if res.written + res.already == 0:
        raise CliError(f"the teacher {args.teacher} answered none of the prompts (every answer was empty)",
                       "check that it is a chat/instruct model whose template ends prompts correctly, or try "
                       "--temperature 0.7")
    rep = analyze(str(res.out))
    if not rep.usable:
        raise CliError(f"{res.out} does not validate: {rep.errors[0] if rep.errors else 'no rows'}")
    console.print(f"data check: {rep.family}, {len(rep.valid)} rows usable. Next: train the student with "
                  f"`ftwizard train --model STUDENT --data {res.out}` (SFT), or trainer: gkd with "
                  f"teacher_model: {args.teacher}", highlight=False)
    return 0
