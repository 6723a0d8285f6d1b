"""`ftwizard check RUN`: after-training checks → <run>/checks.json."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Any

from rich.markup import escape

from ftwizard.cli._common import CliError, console


def register(sub: Any) -> None:
    from ftwizard.core.eval.tasks import EVAL_TASKS
    from ftwizard.core.run.checklist import check_names

    p = sub.add_parser("check", help="after-training checks: base vs tuned, template/EOS, merge, safety, export …")
    p.add_argument("run")
    p.add_argument("--json", action="store_true", help="print checks.json")
    p.add_argument("--only", help=f"comma-separated: {check_names()} (default: the ones that fit the run)")
    p.add_argument("--all", action="store_true", dest="all_items",
                   help="list every checklist item, also those that do not fit the run's trainer or task")
    p.add_argument("--task", help=f"what the model does, to pick metrics: {', '.join(EVAL_TASKS)} (default: guessed)")
    p.add_argument("--general", metavar="FILE", help="a general chat set for the forgetting check")
    p.add_argument("--prompts", metavar="FILE", help="your real inputs (JSONL or one prompt per line) for `production`")
    p.add_argument("--limit", type=int, default=200, help="test rows to evaluate (default 200)")
    p.add_argument("--judge-model", metavar="FOLDER", help="a local judge model for `judge`")
    p.add_argument("--rubric", help="the judge's rubric (text, or a file holding it)")
    p.add_argument("--allow-code-exec", action="store_true",
                   help="`pass_at_k` may run generated code (in a sandbox: no network, read-only system, empty environment)")
    p.add_argument("--allow-unsandboxed-code", action="store_true",
                   help="with --allow-code-exec, where no sandbox can start: run generated code anyway, with only "
                        "time/memory limits (I accept the risk)")
    p.add_argument("--code-tests", metavar="FILE", help="code problems for pass_at_k: JSONL with prompt and test")
    p.add_argument("--samples", type=int, default=5, help="pass_at_k: answers per problem (default 5)")
    p.add_argument("--k", default="1,5", help="pass_at_k: k values (default 1,5)")
    p.add_argument("--bertscore-model", default="roberta-large", metavar="ID_OR_FOLDER",
                   help="BERTScore's model, used only if already on this machine (default roberta-large)")
    p.add_argument("--reward", metavar="NAMES", help="reward check: comma-separated rewards (default: the run's grpo_rewards)")
    p.add_argument("--max-new-tokens", type=int, metavar="N", help="cap on generated tokens for open-ended answers")
    p.set_defaults(func=cmd_check)


def _options(args: argparse.Namespace) -> Any:
    from ftwizard.core.eval.tasks import resolve
    from ftwizard.train.checks import Options

    try:
        task = resolve(args.task) if args.task else None
    except ValueError as exc:
        raise CliError(f"--task: {exc}") from None
    try:
        ks = tuple(int(x) for x in args.k.split(",") if x.strip())
    except ValueError:
        ks = ()
    if args.samples < 1 or not ks or min(ks) < 1:
        raise CliError("--samples and --k must be positive whole numbers (e.g. --samples 5 --k 1,5)")
    return Options(limit=args.limit, general_file=args.general, prompts_file=args.prompts, task=task,
                   judge_model=args.judge_model, rubric=args.rubric, allow_code_exec=args.allow_code_exec,
                   code_tests=args.code_tests, samples=args.samples, k=ks, bertscore_model=args.bertscore_model,
                   max_new_tokens=args.max_new_tokens, reward=args.reward,
                   allow_unsandboxed_code=args.allow_unsandboxed_code)


_COUNT = re.compile(r"^(.*?)(\d+)/(\d+) (\w+)$")  # "compare: tuned 8/189 rows"


def _progress_printer(terminal: bool | None = None) -> Any:
    """Long checks report each step on stderr, so --json output stays clean. A count ("compare: tuned 8/189 rows")
    updates one line on a terminal, and is printed at each quarter when the output is a file or a pipe (it printed
    one line per 8 rows: 50 lines for a 189-row test split)."""
    from rich.console import Console

    err = Console(stderr=True, highlight=False)
    tty = err.is_terminal if terminal is None else terminal
    last: dict[str, Any] = {"prefix": None, "quarter": -1, "open": False}

    def show(line: str) -> None:
        m = _COUNT.match(line)
        if not m:
            if last["open"]:
                err.file.write("\n")
                last["open"] = False
            err.print(f"[dim]{escape(line)}[/]")
            last["prefix"] = None
            return
        prefix, done, total = m.group(1), int(m.group(2)), int(m.group(3))
        if tty:
            err.file.write(f"\r\x1b[2K\x1b[2m{line}\x1b[0m")
            err.file.flush()
            last["open"] = True
            if done >= total:
                err.file.write("\n")
                last["open"] = False
            return
        quarter = 4 * done // max(1, total)
        if prefix != last["prefix"] or quarter != last["quarter"]:
            last["prefix"], last["quarter"] = prefix, quarter
            err.print(f"[dim]{escape(line)}[/]")

    return show


def print_verdict(v: dict[str, Any] | None) -> None:
    """The verdict in words: did the model learn, did it keep general answers, what to try."""
    if not v:
        return
    colour = "green" if v.get("ok") else ("yellow" if v.get("learned") in ("partly", "unknown") else "red")
    console.print(f"[bold {colour}]{escape(v['headline'])}[/]")
    for line in v.get("lines", []):
        console.print(escape(line), style="red" if v.get("general") == "changed" else None)
    if v.get("fixes"):
        console.print("Try: " + escape("; ".join(v["fixes"])) + ".")


_BOXES = {"passed": "[green]✔[/]", "problems": "[red]✗[/]", "inconclusive": "[yellow]?[/]", "skipped": "[dim]–[/]"}


def cmd_check(args: argparse.Namespace) -> int:
    from ftwizard.core.run.checklist import ITEMS, load_state, metrics_line, outcome, run_items, validate_actions
    from ftwizard.core.run.layout import RunDir

    only = [x.strip() for x in args.only.split(",") if x.strip()] if args.only else None
    try:
        validate_actions(only or [])
    except ValueError as exc:
        raise CliError(str(exc)) from None
    for flag, path in (("--prompts", args.prompts), ("--general", args.general), ("--code-tests", args.code_tests)):
        if path and not os.path.isfile(path):
            raise CliError(f"{flag}: file not found: {path}")
    rd = RunDir(args.run)
    if not rd.config_path.exists():
        raise CliError(f"{args.run} is not a run directory (no config.yaml)")
    if not rd.has_result():
        raise CliError(f"{args.run} has no trained adapter or model yet (state: {rd.status().get('state', '?')})",
                       "wait for the run to finish")
    options = _options(args)
    options.progress = _progress_printer()
    from ftwizard.train.checks import run_checks

    try:
        res = run_checks(args.run, only=only, options=options)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        sys.stdout.write(json.dumps(res, indent=2, ensure_ascii=False) + "\n")
        return 0
    state = load_state(args.run)
    console.print(escape(metrics_line(args.run)))
    print_verdict(res.get("verdict"))
    console.print("[dim]✔ passed   ✗ found problems   ? inconclusive   – skipped   ☐ not run[/]")
    fits = {i.id for i in run_items(args.run, options.task)}
    for item in ITEMS:
        if not (args.all_items or item.id in fits or (only and item.action in only)):
            continue  # does not fit this run's trainer or task (`--all` lists it, `--only NAME` runs it)
        st = state.get(item.id, {})
        box = _BOXES.get(outcome(st) or "", "☐")
        hint = f" (`--only {item.action}`)" if item.action else ""
        console.print(f"{box} {item.title}" + (f"\n    {escape(st['result'])}" if st.get("result") else
                                                f"\n    [dim]{escape(item.why)}{hint}[/]"))
    return 0
