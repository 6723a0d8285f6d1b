"""After-training checks, one module per check (`ftwizard/train/checks/<name>.py`, each with `run(ctx) -> dict`
of checks.json updates and `summary(checks) -> str`), found by name from the registry in
`ftwizard/core/run/checklist.py` (`ITEMS`). Results merge into <run>/checks.json; each check's one-line result
goes to <run>/checklist.json.

checks.json keys: `baseline`/`tuned` (exact_match, f1, bleu, rouge_l, loss, perplexity, n, and as measured:
bertscore, pass_at_k, judge, preference_accuracy, preference_margin, refused), `samples`, `task`, `template`,
`merged`, `general`, `safety`, `production`, `bertscore`, `pass_at_k`, `judge`, `preference`, `modelfile`,
`gguf`, `card`, and `verdict` (did it work, in words: learned, general, headline, lines, fixes, ok).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

from ftwizard.train.checks._base import Context, Options, save

__all__ = ["Context", "Options", "check_module", "check_outcome", "run_checks", "summary_line"]


def check_module(name: str) -> ModuleType:
    """The module of a registered check; ValueError listing the known ones for any other name."""
    from ftwizard.core.run.checklist import validate_actions

    validate_actions([name])
    return importlib.import_module(f"ftwizard.train.checks.{name}")


def summary_line(action: str, checks: dict[str, Any]) -> str:
    """A one-line result for the checklist."""
    try:
        line = str(check_module(action).summary(checks))
        got = checks.get(action)
        res: dict[str, Any] = got if isinstance(got, dict) else {}
        if line.startswith("skipped"):
            return line
        if res.get("problem"):
            return f"{line} — {res['problem']}"
        return f"{line} — inconclusive: {res['inconclusive']}" if res.get("inconclusive") else line
    except (KeyError, TypeError, ValueError) as exc:
        return f"done (no summary: {type(exc).__name__} {exc})"


def _quiet() -> None:
    """The libraries' own notices (transformers' "friendly reminder" about generation length, deprecations,
    bitsandbytes on a CPU) are not for the person reading a check's result: errors still show."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    for category in (FutureWarning, DeprecationWarning, UserWarning):
        warnings.filterwarnings("ignore", category=category)


def run_checks(run: str | Path, only: list[str] | None = None, general_file: str | None = None,
               limit: int = 200, options: Options | None = None) -> dict[str, Any]:
    """Run the checks (`only`, else the ones that fit the run), record each in checklist.json; return checks.json."""
    from ftwizard.core.run.checklist import default_actions, mark, validate_actions

    opts = options or Options(limit=limit, general_file=general_file)
    todo = validate_actions(list(only)) if only else default_actions(run, opts.task)
    _quiet()
    ctx = Context(Path(run), opts)
    res: dict[str, Any] = {}
    for action in todo:
        res = save(ctx.rd, check_module(action).run(ctx))
        line = summary_line(action, res)
        mark(run, action, done=not line.startswith("skipped"), result=line, outcome=check_outcome(action, res, line))
    return save(ctx.rd, {"verdict": verdict_of(ctx.rd, res).to_dict()}) if res else res


def verdict_of(rd: Any, checks: dict[str, Any]) -> Any:
    """The run's verdict in words (core/eval/verdict.py) from checks.json, its events and its config."""
    from ftwizard.core.eval.verdict import judge

    return judge(checks, rd.read_events(), rd.config().to_dict())


def check_outcome(action: str, checks: dict[str, Any], line: str) -> str:
    """skipped (it could not run), problems (its result says `ok: false`), inconclusive (it ran, but what it measures
    could not tell: its result names why in `inconclusive`), else passed."""
    res = checks.get(action)
    if line.startswith("skipped") or (isinstance(res, dict) and "skipped" in res):
        return "skipped"
    if isinstance(res, dict) and res.get("ok") is False:
        return "problems"
    return "inconclusive" if isinstance(res, dict) and res.get("inconclusive") else "passed"
