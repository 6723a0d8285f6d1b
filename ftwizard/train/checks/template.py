"""template: the tokenizer saved with the result matches the one trained with, and generation stops at EOS."""

from __future__ import annotations

from typing import Any

from ftwizard.train.checks._base import Context


def run(ctx: Context, n: int = 8) -> dict[str, Any]:
    from transformers import AutoTokenizer

    torch, cfg = ctx.torch, ctx.cfg
    out_dir = ctx.rd.result
    problems: list[str] = []
    base_tok = ctx.tokenizer
    try:
        saved_tok = AutoTokenizer.from_pretrained(str(out_dir), trust_remote_code=cfg.trust_remote_code)
    except Exception as exc:  # noqa: BLE001
        saved_tok = None
        problems.append(f"no tokenizer saved next to the weights in {out_dir} ({type(exc).__name__}): save it with "
                        "tokenizer.save_pretrained so the chat template travels with the model")
    if saved_tok is not None:
        if (base_tok.chat_template or "") != (saved_tok.chat_template or ""):
            problems.append("the saved chat template differs from the one used in training")
        for attr in ("eos_token", "pad_token", "bos_token"):
            if getattr(base_tok, attr) != getattr(saved_tok, attr):
                problems.append(f"{attr} differs: trained with {getattr(base_tok, attr)!r}, "
                                f"saved {getattr(saved_tok, attr)!r}")
    if not base_tok.chat_template:
        problems.append("the model has no chat template: inference code must format prompts exactly as in training")
    if base_tok.eos_token is None:
        problems.append("the tokenizer has no EOS token: generation cannot know when to stop")
    stopped, total = 0, 0
    _, prompts, refs = ctx.test_chat(n)
    if prompts and base_tok.eos_token_id is not None and base_tok.chat_template:
        model = ctx.load_tuned()
        ref_len = max(len(base_tok(r, add_special_tokens=False)["input_ids"]) for r in refs)
        max_new = min(512, 2 * ref_len + 16)
        for p in prompts:
            text = base_tok.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
            enc = base_tok(text, return_tensors="pt", add_special_tokens=False).to(model.device)
            with torch.no_grad():
                gen = model.generate(**enc, max_new_tokens=max_new, do_sample=False,
                                     pad_token_id=base_tok.pad_token_id, eos_token_id=base_tok.eos_token_id)
            total += 1
            stopped += int(base_tok.eos_token_id in gen[0, enc["input_ids"].shape[1]:].tolist())
        del model
        if total and stopped < total:
            problems.append(f"generation stopped at EOS in only {stopped}/{total} test prompts: the model may ramble "
                            "past its answer (train with the EOS token at the end of each answer)")
    return {"template": {"ok": not problems, "problems": problems, "stopped_at_eos": f"{stopped}/{total}",
                         "eos_token": base_tok.eos_token, "chat_template": bool(base_tok.chat_template)}}


def summary(checks: dict[str, Any]) -> str:
    res = checks["template"]
    return "consistent; stops at EOS " + res.get("stopped_at_eos", "") if res.get("ok") else "; ".join(res["problems"])
