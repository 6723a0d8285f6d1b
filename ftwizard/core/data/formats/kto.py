"""Unpaired preference (KTO): {"prompt", "completion", "label": true|false}, as text or message lists."""

from __future__ import annotations

from ftwizard.core.data.formats.base import Family, Row, check_same_style, check_text_or_messages, typename


def detect(rec: Row) -> bool:
    return "completion" in rec and "label" in rec


def validate(rec: Row) -> list[str]:
    errors: list[str] = []
    check_same_style(rec, ("prompt", "completion"), errors)
    if not errors:
        check_text_or_messages(rec, "prompt", errors, "prompt")
        check_text_or_messages(rec, "completion", errors, "completion")
    if not isinstance(rec.get("label"), bool):
        errors.append(f"field 'label' should be true or false, got {typename(rec.get('label'))}")
    return errors


def convert(rec: Row) -> Row:
    return {"prompt": rec["prompt"], "completion": rec["completion"], "label": rec["label"]}


def variant(rec: Row) -> str:
    return "kto_messages" if isinstance(rec.get("prompt"), list) else "kto"


FAMILY = Family("kto", detect, validate, convert, required=(("prompt",), ("completion",), ("label",)), min_rows=500,
                variant=variant, description="prompt/completion/label rows (unpaired preference, KTO)")
