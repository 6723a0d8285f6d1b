"""Unpaired preference (KTO): {"prompt", "completion", "label": true|false}, as text or message lists — and a whole
conversation with a label, the judged answer being its last assistant turn: TRL's conversational KTO rows
{"messages", "label"} (LLaMA-Factory's kto_en_demo) and LLaMA-Factory's ShareGPT {"conversations", "kto_tag"}.

A conversation with a label is never plain chat: read as chat, every thumbs-down answer would become an SFT target.
"""

from __future__ import annotations

from typing import Any

from ftwizard.core.data.formats import prompt_completion
from ftwizard.core.data.formats.base import (
    Family,
    Row,
    check_messages,
    check_tools,
    normalize_messages,
    tools_json,
    typename,
)
from ftwizard.core.data.formats.sharegpt import SHAREGPT_ROLES, sharegpt_messages

_LABELS = {"true": True, "false": False, "1": True, "0": False}


def label_value(v: object) -> bool | None:
    """The label as a bool: true/false, 1/0, or those words as text (CSV files have no booleans)."""
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    if isinstance(v, str):
        return _LABELS.get(v.strip().lower())
    return None


def _label_key(rec: Row) -> str | None:
    return "label" if "label" in rec else "kto_tag" if "kto_tag" in rec else None


def _convo_key(rec: Row) -> str | None:
    return "messages" if "messages" in rec else "conversations" if "conversations" in rec else None


def detect(rec: Row) -> bool:
    if "completion" in rec and "label" in rec:
        return True
    return _convo_key(rec) is not None and _label_key(rec) is not None and "chosen" not in rec


def _check_label(rec: Row, errors: list[str]) -> None:
    key = _label_key(rec) or "label"
    if label_value(rec.get(key)) is None:
        got = repr(rec[key]) if isinstance(rec.get(key), str | int) else typename(rec.get(key))
        errors.append(f"field '{key}' should be true or false, got {got}")


def validate(rec: Row) -> list[str]:
    """A prompt/completion row (both text or both message lists), or a conversation ending with the judged
    assistant answer, plus a true/false label."""
    convo = _convo_key(rec) if "completion" not in rec else None
    errors: list[str] = []
    if convo is None:
        errors = prompt_completion.validate(rec)
    else:
        msgs = rec[convo]
        if convo == "conversations":
            check_messages(msgs, convo, errors, "from", "value", SHAREGPT_ROLES)
        else:
            check_messages(msgs, convo, errors)
        if not errors:
            last = msgs[-1].get("role", msgs[-1].get("from"))
            roles = SHAREGPT_ROLES if convo == "conversations" else {"assistant": "assistant"}
            if roles.get(str(last).lower()) != "assistant":
                errors.append(f"'{convo}' ends with a {last} turn: the label judges the last answer, so the "
                              "conversation should end with the assistant's answer")
        check_tools(rec, errors)
    _check_label(rec, errors)
    return errors


def _split(msgs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return msgs[:-1], msgs[-1:]


def convert(rec: Row) -> Row:
    label = label_value(rec[_label_key(rec) or "label"])
    convo = _convo_key(rec) if "completion" not in rec else None
    if convo is None:
        return {"prompt": normalize_messages(rec["prompt"]), "completion": normalize_messages(rec["completion"]),
                "label": label}
    if convo == "conversations":
        msgs: list[dict[str, Any]] = sharegpt_messages(rec["conversations"])
        if rec.get("system"):
            msgs.insert(0, {"role": "system", "content": rec["system"]})
    else:
        msgs = normalize_messages(rec["messages"])
    prompt, completion = _split(msgs)
    row: Row = {"prompt": prompt, "completion": completion, "label": label}
    tools = tools_json(rec.get("tools"))
    if tools:
        row["tools"] = tools
    return row


def variant(rec: Row) -> str:
    if "completion" not in rec and _convo_key(rec):
        return "kto_conversation"
    return "kto_messages" if isinstance(rec.get("prompt"), list) else "kto"


FAMILY = Family("kto", detect, validate, convert,
                required=(("prompt", "messages", "conversations"), ("completion", "messages", "conversations"),
                          ("label", "kto_tag")), min_rows=500,
                variant=variant, description="prompt/completion/label rows or labelled conversations "
                                             "(unpaired preference, KTO)")
