"""preference: on the test pairs (any run whose test split has `chosen`/`rejected`: DPO, ORPO, …), how often
the model gives the chosen answer a higher log-probability than the rejected one (win rate, also called
preference accuracy) and the mean margin in nats, base vs tuned."""

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


def logprob(model: Any, tok: Any, prompt: str, full: str, torch: Any) -> float:
    """Sum of the log-probabilities of the completion tokens (those after the prompt)."""
    ids = tok(full, return_tensors="pt", add_special_tokens=False)["input_ids"].to(model.device)
    n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"]) if prompt and full.startswith(prompt) else 0
    n_prompt = max(1, n_prompt)  # the first token has no prediction
    with torch.no_grad():
        logits = model(input_ids=ids).logits.float()
    logp = torch.log_softmax(logits[0, :-1], dim=-1)
    target = ids[0, 1:]
    picked = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return float(picked[n_prompt - 1:].sum())


def run(ctx: Context) -> dict[str, Any]:
    rows = [r for r in ctx.split_rows("test")[: ctx.options.limit] if "chosen" in r and "rejected" in r]
    tok = ctx.tokenizer
    triples = [t for t in (_texts(tok, r) for r in rows) if t is not None]
    if not triples:
        return {"preference": {"skipped": "the test split has no chosen/rejected pairs (a preference run's data)"}}
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
    return (f"chosen preferred {b['preference_accuracy']:.2f} → {t['preference_accuracy']:.2f} of {res['n']} test "
            f"pairs, mean margin {b['preference_margin']:+.2f} → {t['preference_margin']:+.2f} nats")
