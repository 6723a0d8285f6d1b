"""template: the tokenizer saved with the result carries the chat template that was actually trained (the run's
`chat_template` note: the model's own, ChatML added by ftwizard, TRL's patched training copy, or a file), the
same EOS/BOS, and the tuned model stops at an end token (any the generation config lists, e.g. Gemma's
`<end_of_turn>`, Llama-3's `<|eot_id|>`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ftwizard.train.checks._base import Context, chat_text, eos_ids


def trained_templates(ctx: Context) -> tuple[str, list[str] | None]:
    """(source, the templates the saved one may equal) from the run's note; None when it cannot be known now
    (a template file that is gone)."""
    from ftwizard.train.templates import BUILTIN, training_template

    base = ctx.base_tokenizer.chat_template or ""
    source = ctx.template_note.get("source")
    if not source:  # no note (trainers other than SFT): what ensure_template did with the run's setting
        setting = ctx.cfg.chat_template or "auto"
        if setting not in ("auto", "model"):
            source = setting
        elif base:
            source = "model"
        else:  # ChatML is added to a base model for conversational data; plain text keeps none
            return "chatml or none", [BUILTIN["chatml"], ""]
    source = str(source)
    if source in BUILTIN:
        return source, [BUILTIN[source]]
    if source == "trl-patched":  # TRL trains with a patched copy; the tokenizer keeps the model's own
        return source, [base, training_template(ctx.base_tokenizer) or base]
    if source in ("model", "none"):
        return source, [base]
    path = Path(source).expanduser()
    return source, [path.read_text(encoding="utf-8")] if path.is_file() else None


def run(ctx: Context, n: int = 8) -> dict[str, Any]:
    torch = ctx.torch
    problems: list[str] = []
    base_tok, saved = ctx.base_tokenizer, ctx.saved_tokenizer
    source, expected = trained_templates(ctx)
    if saved is None:
        problems.append(f"no tokenizer saved next to the weights in {ctx.rd.result}: save it with "
                        "tokenizer.save_pretrained so the chat template travels with the model")
    else:
        if expected is not None and (saved.chat_template or "") not in expected:
            problems.append(f"the chat template saved with the result differs from the one trained with ({source})")
        for attr in ("eos_token", "bos_token"):
            if getattr(base_tok, attr) != getattr(saved, attr):
                problems.append(f"{attr} differs: the model has {getattr(base_tok, attr)!r}, the result saved "
                                f"{getattr(saved, attr)!r}")
    tok = ctx.tokenizer
    _, prompts, refs = ctx.test_chat(n)
    chats = any(not isinstance(x, str) for x in prompts)  # plain-text prompt/completion trains without a template
    if chats and not tok.chat_template:
        problems.append("the result has no chat template: inference code must format prompts exactly as in training")
    if tok.eos_token is None:
        problems.append("the tokenizer has no EOS token: generation cannot know when to stop")
    stopped, total, ends = 0, 0, []
    if prompts and (tok.chat_template or not chats):
        model = ctx.load_tuned()
        ends = eos_ids(model, tok)
        ref_len = max(len(tok(r, add_special_tokens=False)["input_ids"]) for r in refs)
        max_new = min(512, 2 * ref_len + 16)
        pad = tok.pad_token_id if tok.pad_token_id is not None else (ends[0] if ends else None)
        for p in prompts:
            text = chat_text(tok, p)
            enc = tok(text, return_tensors="pt", add_special_tokens=False).to(model.device)
            with torch.no_grad():
                gen = model.generate(**enc, max_new_tokens=max_new, do_sample=False, pad_token_id=pad,
                                     eos_token_id=ends or None)
            total += 1
            stopped += int(any(t in ends for t in gen[0, enc["input_ids"].shape[1]:].tolist()))
        del model
        if total and stopped < total:
            problems.append(f"generation stopped at an end token in only {stopped}/{total} test prompts: the model may "
                            "ramble past its answer (train longer, or with the EOS token at the end of each answer)")
    return {"template": {"ok": not problems, "problems": problems, "stopped_at_eos": f"{stopped}/{total}",
                         "source": source, "eos_token": tok.eos_token,
                         "end_tokens": [tok.convert_ids_to_tokens(i) for i in ends],
                         "chat_template": bool(tok.chat_template)}}


def summary(checks: dict[str, Any]) -> str:
    res = checks["template"]
    if res.get("ok"):
        return f"consistent ({res.get('source', '?')} template); stops at an end token in {res.get('stopped_at_eos', '')}"
    return "; ".join(res["problems"])
