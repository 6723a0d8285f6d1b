"""Prompt-completion: {"prompt", "completion"}, both text or both message lists (TRL masks the prompt)."""

from __future__ import annotations

from ftwizard.core.data.formats.base import (
    Family,
    Row,
    check_same_style,
    check_text_or_messages,
    normalize_messages,
)


def detect(rec: Row) -> bool:
    return "prompt" in rec and "completion" in rec


def validate(rec: Row) -> list[str]:
    errors: list[str] = []
    check_same_style(rec, ("prompt", "completion"), errors)
    if not errors:
        check_text_or_messages(rec, "prompt", errors, "prompt")
        check_text_or_messages(rec, "completion", errors, "completion")
    return errors


def convert(rec: Row) -> Row:
    return {"prompt": normalize_messages(rec["prompt"]), "completion": normalize_messages(rec["completion"])}


def variant(rec: Row) -> str:
    return "prompt_completion_messages" if isinstance(rec.get("prompt"), list) else "prompt_completion"


FAMILY = Family("prompt_completion", detect, validate, convert, required=(("prompt",), ("completion",)), variant=variant,
                description="prompt/completion pairs, text or message lists")
