"""merge: merge_and_unload into the 16-bit base, save to <run>/merged with the tokenizer, reload, re-measure."""

from __future__ import annotations

from typing import Any

from ftwizard.core.eval import metrics
from ftwizard.train.checks._base import Context, generate, max_new_tokens


def run(ctx: Context) -> dict[str, Any]:
    from transformers import AutoTokenizer

    rd, cfg = ctx.rd, ctx.cfg
    if not rd.adapter.exists():
        return {"merged": {"skipped": f"full fine-tuning: the model in {rd.full_model} is already merged"}}
    model = ctx.load(cfg.model, rd.adapter)
    merged = model.merge_and_unload()
    merged.save_pretrained(str(rd.merged))
    src = str(rd.adapter) if (rd.adapter / "tokenizer_config.json").exists() else cfg.model
    tok = AutoTokenizer.from_pretrained(src, trust_remote_code=cfg.trust_remote_code)
    tok.save_pretrained(str(rd.merged))
    del model, merged
    reloaded = ctx.load(str(rd.merged))
    res: dict[str, Any] = {"path": str(rd.merged)}
    _, prompts, refs = ctx.test_chat(min(ctx.options.limit, 100))
    if prompts:
        preds = generate(reloaded, tok, prompts, max_new_tokens(tok, refs), ctx.torch)
        res.update(metrics.text_metrics(preds, refs), n=len(refs), sample=preds[0])
    return {"merged": res}


def summary(checks: dict[str, Any]) -> str:
    res = checks["merged"]
    if "skipped" in res:
        return "skipped: " + res["skipped"]
    return f"merged to {res.get('path')}; exact match {res.get('exact_match', '—')}"
