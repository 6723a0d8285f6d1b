"""general: did the tuned model keep what the base model knew? (the forgetting check)

Always: the shipped general questions (ftwizard/data/general_questions.jsonl — "What is the capital of France?" …),
answered by base and tuned; a question the base answered right and the tuned model no longer does is a changed
general answer, shown with both answers. With `--general FILE` (a general chat set) also base vs tuned
loss/perplexity on its answers.
"""

from __future__ import annotations

from typing import Any

from ftwizard.core.eval import metrics, probes
from ftwizard.train.checks._base import Context, answer_loss, batch_size, generate

MAX_NEW = 40  # a short factual answer; the probes look for one word


def _probe_answers(ctx: Context) -> dict[str, Any]:
    qs = probes.general()
    chats = [[{"role": "user", "content": q.prompt}] for q in qs]
    answers: dict[str, list[str]] = {}
    for name, model in ctx.base_then_tuned():
        side = "base" if name == "baseline" else "tuned"

        def on_batch(done: int, total: int, side: str = side) -> None:
            ctx.options.say(f"general: {side} {done}/{total} questions")

        answers[side] = generate(model, ctx.tokenizer, chats, MAX_NEW, ctx.torch, bs=batch_size(ctx.torch),
                                 on_batch=on_batch)
        del model
    base_ok, tuned_ok = probes.score(answers["base"], qs), probes.score(answers["tuned"], qs)
    changed = [{"prompt": q.prompt, "expected": list(q.expect_any), "base": b, "tuned": t}
               for q, b, t, bo, to in zip(qs, answers["base"], answers["tuned"], base_ok, tuned_ok, strict=True)
               if bo and not to]
    return {"n": len(qs), "base_right": sum(base_ok), "tuned_right": sum(tuned_ok),
            "kept": sum(b and t for b, t in zip(base_ok, tuned_ok, strict=True)), "changed": changed,
            "answers": [{"prompt": q.prompt, "base": b, "tuned": t}
                        for q, b, t in zip(qs, answers["base"], answers["tuned"], strict=True)]}


def run(ctx: Context) -> dict[str, Any]:
    from ftwizard.core.data.formats import to_trl_rows
    from ftwizard.core.data.report import analyze

    out: dict[str, Any] = {"questions": _probe_answers(ctx)}
    q = out["questions"]
    out["forgetting"] = bool(q["changed"])
    own = ctx.rd.split_file("general")
    src = ctx.options.general_file or (str(own) if own.exists() else None)
    if not src:
        return _done(out)
    rep = analyze(src)
    if not rep.usable:
        out["file_skipped"] = f"the general set has errors: {rep.errors[0]}"
        return _done(out)
    rows = to_trl_rows(rep.family, [r.data for r in rep.valid])[: ctx.options.limit]  # type: ignore[arg-type]
    rows = [r for r in rows if "messages" in r]
    out.update({"file": src, "n": len(rows)})
    for name, model in ctx.base_then_tuned():
        loss = answer_loss(model, ctx.tokenizer, rows, ctx.torch)
        out[name] = {"loss": round(loss, 4), "perplexity": metrics.perplexity(loss)}
        del model
    out["forgetting"] = out["forgetting"] or out["tuned"]["perplexity"] > 1.1 * out["baseline"]["perplexity"]
    return _done(out)


def _done(out: dict[str, Any]) -> dict[str, Any]:
    out["ok"] = not out["forgetting"]  # the checklist shows ✗ when general answers changed
    q = out.get("questions") or {}
    if out["ok"] and "baseline" not in out and q and not q.get("base_right"):
        out["inconclusive"] = ("the base model answered none of the general questions right, so they cannot show "
                               "forgetting: pass --general FILE (everyday chats) to compare perplexity")
    return {"general": out}


def summary(checks: dict[str, Any]) -> str:
    res = checks["general"]
    if "skipped" in res:
        return "skipped: " + res["skipped"]
    parts = []
    q = res.get("questions")
    if q:
        parts.append(f"general questions: base {q['base_right']}/{q['n']} right, tuned kept {q['kept']}"
                     + (f", changed: {q['changed'][0]['prompt']!r} → {q['changed'][0]['tuned'][:60]!r}"
                        if q["changed"] else ""))
    if "baseline" in res:
        parts.append(f"perplexity {res['baseline']['perplexity']} → {res['tuned']['perplexity']}")
    return "; ".join(parts) + (" (forgetting!)" if res.get("forgetting") else "")
