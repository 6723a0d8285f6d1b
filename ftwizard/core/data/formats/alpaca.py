"""Alpaca: {"instruction", "input"?, "output" | "response", "system"?, "history"?}.

Converted to TRL's *conversational prompt-completion* (prompt = [system?, user], completion = [assistant]) so the
trainer masks the prompt whatever the chat template supports; a row with a `history` becomes a conversation
(`messages`) whose every answer is trained, and then every row of the file does (`formats.to_trl_rows`).
"""

from __future__ import annotations

from ftwizard.core.data.formats.base import Family, Row, check_field, nonempty_str, typename


def detect(rec: Row) -> bool:
    return "instruction" in rec and ("output" in rec or "response" in rec)


def validate(rec: Row) -> list[str]:
    errors: list[str] = []
    check_field(rec, "instruction", errors)
    check_field(rec, "output" if "output" in rec else "response", errors)
    if "input" in rec and rec["input"] is not None and not isinstance(rec["input"], str):
        errors.append(f"field 'input' should be text, got {typename(rec['input'])}")
    if "system" in rec and rec["system"] is not None and not isinstance(rec["system"], str):
        errors.append(f"field 'system' should be text, got {typename(rec['system'])}")
    if "history" in rec and rec["history"] is not None:
        h = rec["history"]
        if not isinstance(h, list) or any(not (isinstance(p, list) and len(p) == 2) for p in h):
            errors.append("field 'history' should be a list of [instruction, response] pairs")
    return errors


def convert(rec: Row) -> Row:
    """A prompt/completion conversation; with a `history`, the whole conversation (`messages`), so that the history's
    answers are trained too, as LLaMA-Factory trains them (its `mask_history` is off by default)."""
    prompt: list[dict[str, str]] = []
    if nonempty_str(rec.get("system")):
        prompt.append({"role": "system", "content": rec["system"]})
    history = rec.get("history") or []
    for q, a in history:
        prompt += [{"role": "user", "content": str(q)}, {"role": "assistant", "content": str(a)}]
    user = rec["instruction"].strip()
    if nonempty_str(rec.get("input")):
        user = f"{user}\n\n{rec['input'].strip()}"
    prompt.append({"role": "user", "content": user})
    answer = rec["output"] if "output" in rec else rec["response"]
    if history:
        return {"messages": [*prompt, {"role": "assistant", "content": answer}]}
    return {"prompt": prompt, "completion": [{"role": "assistant", "content": answer}]}


FAMILY = Family("alpaca", detect, validate, convert, required=(("instruction",), ("output", "response")),
                description="instruction/input/output rows")
