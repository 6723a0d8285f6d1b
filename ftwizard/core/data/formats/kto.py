"""Unpaired preference (KTO): {"prompt", "completion", "label": true|false}, as text or message lists."""

from __future__ import annotations

from ftwizard.core.data.formats import prompt_completion
from ftwizard.core.data.formats.base import Family, Row, typename

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


def detect(rec: Row) -> bool:
    return "completion" in rec and "label" in rec


def validate(rec: Row) -> list[str]:
    """A prompt/completion row (both text or both message lists) plus a true/false label."""
    errors = prompt_completion.validate(rec)
    if label_value(rec.get("label")) is None:
        got = repr(rec["label"]) if isinstance(rec.get("label"), str | int) else typename(rec.get("label"))
        errors.append(f"field 'label' should be true or false, got {got}")
    return errors


def convert(rec: Row) -> Row:
    return {"prompt": rec["prompt"], "completion": rec["completion"], "label": label_value(rec["label"])}


def variant(rec: Row) -> str:
    return "kto_messages" if isinstance(rec.get("prompt"), list) else "kto"


FAMILY = Family("kto", detect, validate, convert, required=(("prompt",), ("completion",), ("label",)), min_rows=500,
                variant=variant, description="prompt/completion/label rows (unpaired preference, KTO)")
