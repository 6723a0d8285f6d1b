"""modelfile: an Ollama Modelfile for the trained model in <run>/Modelfile (template and stop tokens from the
tokenizer trained with; FROM the GGUF, else the merged or full model folder, else base + ADAPTER; SYSTEM: the
training rows' most common system message, else the chat template's default system prompt, else none)."""

from __future__ import annotations

from typing import Any

from ftwizard.core.run import modelfile
from ftwizard.train.checks._base import Context


def _stop_tokens(tok: Any, *model_dirs: Any) -> list[str]:
    """The EOS token plus any other end-of-turn ids in the generation config (of the first folder that has one)."""
    stops = [tok.eos_token] if tok.eos_token else []
    from transformers import GenerationConfig

    for model_dir in model_dirs:
        try:
            ids = GenerationConfig.from_pretrained(str(model_dir)).eos_token_id
        except (OSError, ValueError, TypeError):
            continue
        for i in ids if isinstance(ids, list) else [ids] if ids is not None else []:
            t = tok.convert_ids_to_tokens(int(i))
            if t and t not in stops:
                stops.append(t)
        break
    return stops


def run(ctx: Context) -> dict[str, Any]:
    rd, tok = ctx.rd, ctx.tokenizer
    adapter = None
    if rd.gguf_path.exists():
        source, weights = str(rd.gguf_path), rd.gguf_path.parent
    elif rd.merged.exists():
        source, weights = str(rd.merged.resolve()), rd.merged
    elif rd.full_model.exists():
        source, weights = str(rd.full_model.resolve()), rd.full_model
    else:
        source, weights, adapter = ctx.cfg.model, ctx.cfg.model, str(rd.adapter.resolve())

    def render() -> tuple[str | None, str]:
        user = [{"role": "user", "content": modelfile.PROMPT_MARK}]
        try:
            with_sys = tok.apply_chat_template([{"role": "system", "content": modelfile.SYSTEM_MARK}, *user],
                                               tokenize=False, add_generation_prompt=True)
        except Exception:  # noqa: BLE001 - templates that refuse a system turn raise their own errors
            with_sys = None
        return with_sys, tok.apply_chat_template(user, tokenize=False, add_generation_prompt=True)

    rendered: tuple[str | None, str] | None = None
    if tok.chat_template:
        try:
            rendered = render()
        except Exception:  # noqa: BLE001 - any template error: no converted template, no template default system
            rendered = None
    system, system_from = modelfile.system_prompt(rd.split_file("train"), rendered)
    stops = _stop_tokens(tok, weights, ctx.cfg.model)
    if ctx.template_note.get("source") == "chatml" and "<|im_end|>" not in stops:
        stops.append("<|im_end|>")  # the ChatML ftwizard added writes its end marker as text, before the EOS
    mf = modelfile.build(source, tok.chat_template, stops, adapter=adapter,
                         render=(lambda: rendered) if rendered is not None else None, system=system)
    rd.modelfile.write_text(mf.text, encoding="utf-8")
    notes = []
    if adapter:
        notes.append("FROM the base model + ADAPTER: merge first (`--only merge`) for a single folder Ollama imports")
    if mf.family == "plain":
        notes.append("no chat template was found: a plain User:/Assistant: template is used — check it matches training")
    return {"modelfile": {"path": str(rd.modelfile), "from": source, "template": mf.family, "stop": list(mf.stops),
                          "system": system, "system_from": system_from, "notes": notes}}


_SYSTEM_FROM = {"data": "the training rows' system prompt", "template": "the chat template's default system prompt"}


def summary(checks: dict[str, Any]) -> str:
    res = checks["modelfile"]
    system = f"; SYSTEM: {_SYSTEM_FROM[res['system_from']]}" if res.get("system_from") in _SYSTEM_FROM else ""
    return (f"written {res['path']} ({res['template']} template, stop {', '.join(res['stop'])}{system}); "
            "then: ollama create NAME -f " + res["path"])
