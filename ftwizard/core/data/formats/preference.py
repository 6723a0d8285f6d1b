"""Preference pairs (DPO and the other preference trainers): explicit prompt {"prompt", "chosen", "rejected"} or implicit prompt
{"chosen", "rejected"}, as text or message lists; also ShareGPT-style {"conversations", "chosen": {from,
value}, "rejected": {...}} and LLaMA-Factory v1's {"chosen_messages", "rejected_messages"} (whole conversations,
content parts). Converted to an explicit prompt (TRL's `extract_prompt` for implicit ones)."""

from __future__ import annotations

from typing import Any

from ftwizard.core.data.formats.base import (
    Family,
    Row,
    check_completion_messages,
    check_field,
    check_messages,
    check_prompt_messages,
    check_same_style,
    nonempty_str,
    normalize_messages,
)
from ftwizard.core.data.formats.sharegpt import SHAREGPT_ROLES, sharegpt_messages

_V1 = {"chosen_messages": "chosen", "rejected_messages": "rejected"}


def _aliased(rec: Row) -> Row:
    """LLaMA-Factory v1's chosen_messages/rejected_messages under TRL's names."""
    if "chosen" in rec or "chosen_messages" not in rec:
        return rec
    return {_V1.get(k, k): v for k, v in rec.items()}


def detect(rec: Row) -> bool:
    return ("chosen" in rec and "rejected" in rec) or ("chosen_messages" in rec and "rejected_messages" in rec)


def validate(rec: Row) -> list[str]:
    rec = _aliased(rec)
    errors: list[str] = []
    ch, rj = rec.get("chosen"), rec.get("rejected")
    if isinstance(ch, dict) or isinstance(rj, dict):  # ShareGPT-style: conversations + chosen/rejected message
        if "conversations" in rec:
            check_messages(rec["conversations"], "conversations", errors, "from", "value", SHAREGPT_ROLES,
                           need_assistant=False)
        for k in ("chosen", "rejected"):
            m = rec.get(k)
            if not isinstance(m, dict) or not nonempty_str(m.get("value", m.get("content"))):
                errors.append(f"'{k}' should be a message with non-empty text")
        return errors
    explicit = "prompt" in rec
    check_same_style(rec, ("prompt", "chosen", "rejected"), errors)
    if errors:
        return errors
    if isinstance(ch, list) or isinstance(rj, list):
        if explicit:
            check_prompt_messages(rec["prompt"], "prompt", errors)
            for k in ("chosen", "rejected"):
                check_completion_messages(rec.get(k), k, errors)
        else:
            for k in ("chosen", "rejected"):
                check_messages(rec.get(k), k, errors)
        if not errors and ch == rj:
            errors.append("'chosen' and 'rejected' are identical: the pair teaches nothing")
        return errors
    for k in ("prompt", "chosen", "rejected") if explicit else ("chosen", "rejected"):
        check_field(rec, k, errors)
    if not errors and str(ch).strip() == str(rj).strip():
        errors.append("'chosen' and 'rejected' are identical: the pair teaches nothing")
    return errors


def _extract_prompt(ch: Any, rj: Any) -> Row:
    """TRL's `extract_prompt`: the longest common prefix of chosen and rejected is the prompt."""
    n = 0
    limit = min(len(ch), len(rj)) - 1  # leave at least one item/character to each answer
    while n < limit and ch[n] == rj[n]:
        n += 1
    if isinstance(ch, str) and n > 0 and ch[n - 1] == " ":
        n -= 1
    return {"prompt": ch[:n], "chosen": ch[n:], "rejected": rj[n:]}


def convert(rec: Row) -> Row:
    rec = _aliased(rec)
    ch, rj = normalize_messages(rec["chosen"]), normalize_messages(rec["rejected"])
    if isinstance(ch, dict):
        return {"prompt": sharegpt_messages(rec.get("conversations") or []),
                "chosen": [{"role": "assistant", "content": ch.get("value", ch.get("content"))}],
                "rejected": [{"role": "assistant", "content": rj.get("value", rj.get("content"))}]}
    if "prompt" not in rec:
        return _extract_prompt(ch, rj)
    return {"prompt": normalize_messages(rec["prompt"]), "chosen": ch, "rejected": rj}


def variant(rec: Row) -> str:
    if "chosen_messages" in rec and "chosen" not in rec:
        return "preference_v1_messages"
    ch = rec.get("chosen")
    if isinstance(ch, dict):
        return "preference_sharegpt"
    prompt = "explicit_prompt" if "prompt" in rec else "implicit_prompt"
    if isinstance(ch, list):
        return f"preference_messages_{prompt}"
    return "preference_strings" if "prompt" in rec else "preference_strings_implicit_prompt"


FAMILY = Family("preference", detect, validate, convert,
                required=(("chosen", "chosen_messages"), ("rejected", "rejected_messages")), min_rows=500,
                variant=variant, description="chosen/rejected pairs, with or without a prompt (DPO and other preference "
                "trainers)")
