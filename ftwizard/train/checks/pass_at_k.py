"""pass_at_k: sample answers to code problems, run each against its test, report pass@k (unbiased estimator),
base vs tuned. Generated code runs only with --allow-code-exec, each program in a bubblewrap sandbox (no
network, read-only system, empty environment, own pid namespace, time/memory/process limits:
core/eval/sandbox.py) — never here. Where no sandbox can start, it is not run unless the user also passes
--allow-unsandboxed-code; the result says which isolation was used."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

from ftwizard.core.eval.metrics import extract_code
from ftwizard.core.eval.sandbox import CodingProblem, evaluate_code, isolation, no_sandbox_line, run_python
from ftwizard.train.checks._base import Context, generate

NO_EXEC = ("generated code runs only when you allow it: `ftwizard check RUN --only pass_at_k --allow-code-exec` "
           "(each program in a sandbox: no network, read-only system, empty environment, time and memory limits)")


def load_problems(ctx: Context) -> list[CodingProblem]:
    """--code-tests FILE (JSONL: prompt or messages, plus test or reference), else the test split with the
    reference answer's output as the expected output."""
    src = ctx.options.code_tests
    if src:
        probs = []
        for i, line in enumerate(Path(src).read_text(encoding="utf-8").splitlines()):
            if not line.strip():
                continue
            row = json.loads(line)
            msgs = row.get("messages") or [{"role": "user", "content": row["prompt"]}]
            probs.append(CodingProblem([m for m in msgs if m["role"] != "assistant"], row.get("test"), row.get("reference"),
                                 str(row.get("id", i))))
        return probs[: ctx.options.limit]
    _, prompts, refs = ctx.test_chat()
    return [CodingProblem(p, None, extract_code(r), str(i)) for i, (p, r) in enumerate(zip(prompts, refs, strict=True))]


def run(ctx: Context) -> dict[str, Any]:
    if not ctx.options.allow_code_exec:
        return {"pass_at_k": {"skipped": NO_EXEC}}
    iso = isolation()
    # set by `ftwizard check --allow-unsandboxed-code` ("I accept the risk")
    unsandboxed_ok = ctx.options.allow_unsandboxed_code
    if not iso.sandboxed and not unsandboxed_ok:
        return {"pass_at_k": {"skipped": no_sandbox_line(iso)}}
    problems = load_problems(ctx)
    if not problems:
        return {"pass_at_k": {"skipped": "no code problems: pass --code-tests FILE (JSONL with prompt and test)"}}
    n, ks = ctx.options.samples, [k for k in ctx.options.k if k <= ctx.options.samples] or [1]
    out: dict[str, Any] = {"n_samples": n, "k": ks, "problems": len(problems),
                           "source": ctx.options.code_tests or "test split (reference output)",
                           "isolation": iso.description}
    execute = partial(run_python, allow_unsandboxed=unsandboxed_ok)
    for name, model in ctx.base_then_tuned():
        def gen(prompt: Any, count: int, model: Any = model) -> list[str]:
            return generate(model, ctx.tokenizer, [prompt], ctx.open_tokens(384), ctx.torch, sample=True, n=count)

        res = evaluate_code(problems, gen, n, ks, execute=execute)
        out[name] = {**res.scores(), "details": res.problems[:10]}
        del model
    return {"pass_at_k": out, "baseline": {"pass_at_k": {k: v for k, v in out["baseline"].items() if k != "details"}},
            "tuned": {"pass_at_k": {k: v for k, v in out["tuned"].items() if k != "details"}}}


def summary(checks: dict[str, Any]) -> str:
    res = checks["pass_at_k"]
    if "skipped" in res:
        return "skipped: " + res["skipped"]
    b, t = res["baseline"], res["tuned"]
    return ", ".join(f"{k} {b[k]:.2f} → {t[k]:.2f}" for k in b if k.startswith("pass@")) + \
        f" ({res['problems']} problems, {res['n_samples']} samples each)" + \
        (f"; isolation: {res['isolation']}" if res.get("isolation") else "")
