"""preference: on the test pairs (any run whose test split has `chosen`/`rejected`: the preference trainers), how
often the model gives the chosen answer a higher log-probability than the rejected one (win rate, also called
preference accuracy) and the mean margin in nats, base vs tuned. For unpaired KTO data (`completion` + `label`),
the same two numbers compare desirable with undesirable completions per token: the share of (desirable,
undesirable) couples ranked right, and the difference of their mean log-probability per token."""

from __future__ import annotations

from typing import Any

from ftwizard.train.checks._base import Context


def _texts(tok: Any, row: dict[str, Any]) -> tuple[str, str, str] | None:
    """(prompt text, prompt+chosen, prompt+rejected) in the model's chat format."""
    prompt, ch, rj = row.get("prompt", ""), row.get("chosen"), row.get("rejected")
    if isinstance(ch, list) and isinstance(rj, list):
        msgs = prompt if isinstance(prompt, list) else ([{"role": "user", "content": prompt}] if prompt else [])
        if not tok.chat_template:
            return None
        p = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True) if msgs else ""
        return (p, tok.apply_chat_template(msgs + ch, tokenize=False), tok.apply_chat_template(msgs + rj, tokenize=False))
    if isinstance(ch, str) and isinstance(rj, str) and isinstance(prompt, str):
        return prompt, prompt + ch, prompt + rj
    return None


def logprob(model: Any, tok: Any, prompt: str, full: str, torch: Any, per_token: bool = False) -> float:
    """Sum (or mean, `per_token`) of the log-probabilities of the completion tokens (those after the prompt)."""
    ids = tok(full, return_tensors="pt", add_special_tokens=False)["input_ids"].to(model.device)
    n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"]) if prompt and full.startswith(prompt) else 0
    n_prompt = max(1, n_prompt)  # the first token has no prediction
    with torch.no_grad():
        logits = model(input_ids=ids).logits.float()
    logp = torch.log_softmax(logits[0, :-1], dim=-1)
    target = ids[0, 1:]
    picked = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    done = picked[n_prompt - 1:]
    return float(done.mean() if per_token else done.sum()) if done.numel() else 0.0


def _kto(ctx: Context, rows: list[dict[str, Any]]) -> dict[str, Any]:
    tok = ctx.tokenizer
    items = []
    for r in rows:
        t = _texts(tok, {"prompt": r["prompt"], "chosen": r["completion"], "rejected": r["completion"]})
        if t is not None:
            items.append((t[0], t[1], bool(r["label"])))
    good, bad = sum(i[2] for i in items), sum(not i[2] for i in items)
    if not good or not bad:
        return {"preference": {"skipped": "the test split needs both desirable and undesirable completions"}}
    out: dict[str, Any] = {"n": len(items), "kind": "kto"}
    for name, model in ctx.base_then_tuned():
        lps = [(logprob(model, tok, p, f, ctx.torch, per_token=True), lab) for p, f, lab in items]
        del model
        d, u = [x for x, lab in lps if lab], [x for x, lab in lps if not lab]
        ranked = sum((a > b) + 0.5 * (a == b) for a in d for b in u) / (len(d) * len(u))
        out[name] = {"preference_accuracy": round(ranked, 4),
                     "preference_margin": round(sum(d) / len(d) - sum(u) / len(u), 4)}
    return {"preference": out, "baseline": dict(out["baseline"]), "tuned": dict(out["tuned"])}


def run(ctx: Context) -> dict[str, Any]:
    test = ctx.split_rows("test")[: ctx.options.limit]
    kto = [r for r in test if "completion" in r and "label" in r and "chosen" not in r]
    if kto:
        return _kto(ctx, kto)
    rows = [r for r in test if "chosen" in r and "rejected" in r]
    tok = ctx.tokenizer
    triples = [t for t in (_texts(tok, r) for r in rows) if t is not None]
    if not triples:
        return {"preference": {"skipped": "the test split has no chosen/rejected pairs or labelled completions "
                                          "(a preference run's data)"}}
    out: dict[str, Any] = {"n": len(triples)}
    for name, model in ctx.base_then_tuned():
        margins = [logprob(model, tok, p, c, ctx.torch) - logprob(model, tok, p, r, ctx.torch) for p, c, r in triples]
        out[name] = {"preference_accuracy": round(sum(m > 0 for m in margins) / len(margins), 4),
                     "preference_margin": round(sum(margins) / len(margins), 4)}
        del model
    return {"preference": out, "baseline": dict(out["baseline"]), "tuned": dict(out["tuned"])}


def summary(checks: dict[str, Any]) -> str:
    res = checks["preference"]
    if "skipped" in res:
        return "skipped: " + res["skipped"]
    b, t = res["baseline"], res["tuned"]
    if res.get("kind") == "kto":
        return (f"desirable ranked above undesirable {b['preference_accuracy']:.2f} → {t['preference_accuracy']:.2f} "
                f"({res['n']} test completions), margin {b['preference_margin']:+.3f} → {t['preference_margin']:+.3f} "
                "nats/token")
    return (f"chosen preferred {b['preference_accuracy']:.2f} → {t['preference_accuracy']:.2f} of {res['n']} test "
            f"pairs, mean margin {b['preference_margin']:+.2f} → {t['preference_margin']:+.2f} nats")
