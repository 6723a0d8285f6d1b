"""production: your own prompts (production-representative inputs) through base and tuned, side by side."""

from __future__ import annotations

from typing import Any

from ftwizard.train.checks._base import Context, generate, read_prompts


def run(ctx: Context) -> dict[str, Any]:
    src = ctx.options.prompts_file
    if not src:
        return {"production": {"skipped": "no prompt file: pass real inputs with `ftwizard check RUN --only "
                                          "production --prompts FILE` (JSONL or one prompt per line)"}}
    prompts = read_prompts(src)[: ctx.options.limit]
    if not prompts:
        return {"production": {"skipped": f"{src} holds no prompts"}}
    answers: dict[str, list[str]] = {}
    for name, model in ctx.base_then_tuned():
        answers[name] = generate(model, ctx.tokenizer, prompts, ctx.open_tokens(256), ctx.torch, bs=8)
        del model
    b, t = answers["baseline"], answers["tuned"]
    return {"production": {
        "file": src, "n": len(prompts),
        "changed": sum(x.strip() != y.strip() for x, y in zip(b, t, strict=True)),
        "empty": {"baseline": sum(not x.strip() for x in b), "tuned": sum(not y.strip() for y in t)},
        "samples": [{"prompt": p[-1]["content"], "base": b[i], "tuned": t[i]} for i, p in enumerate(prompts)]}}


def summary(checks: dict[str, Any]) -> str:
    res = checks["production"]
    if "skipped" in res:
        return "skipped: " + res["skipped"]
    e = res["empty"]
    return (f"{res['n']} prompts from {res['file']}: {res['changed']} answers changed, empty answers "
            f"{e['baseline']} → {e['tuned']}; read them side by side in checks.json (production.samples)")
