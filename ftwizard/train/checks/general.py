"""general: base vs tuned loss/perplexity on a general held-out chat set (the forgetting check)."""

from __future__ import annotations

from typing import Any

from ftwizard.core.eval import metrics
from ftwizard.train.checks._base import Context, answer_loss


def run(ctx: Context) -> dict[str, Any]:
    from ftwizard.core.data.formats import to_trl
    from ftwizard.core.data.report import analyze

    own = ctx.rd.split_file("general")
    src = ctx.options.general_file or (str(own) if own.exists() else None)
    if not src:
        return {"general": {"skipped": "no general set: pass one with `ftwizard check RUN --only general "
                                       "--general FILE` (a few hundred everyday chat examples)"}}
    rep = analyze(src)
    if not rep.usable:
        return {"general": {"skipped": f"the general set has errors: {rep.errors[0]}"}}
    rows = [to_trl(rep.family, r.data) for r in rep.valid][: ctx.options.limit]  # type: ignore[arg-type]
    rows = [r for r in rows if "messages" in r]
    out: dict[str, Any] = {"file": src, "n": len(rows)}
    for name, model in ctx.base_then_tuned():
        loss = answer_loss(model, ctx.tokenizer, rows, ctx.torch)
        out[name] = {"loss": round(loss, 4), "perplexity": metrics.perplexity(loss)}
        del model
    out["forgetting"] = out["tuned"]["perplexity"] > 1.1 * out["baseline"]["perplexity"]
    return {"general": out}


def summary(checks: dict[str, Any]) -> str:
    res = checks["general"]
    if "skipped" in res:
        return "skipped: " + res["skipped"]
    return (f"perplexity {res['baseline']['perplexity']} → {res['tuned']['perplexity']}"
            + (" (forgetting!)" if res.get("forgetting") else ""))
