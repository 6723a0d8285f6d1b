"""Plain text / TRL standard language modeling: {"text"} (or {"content"}), for continued pre-training."""

from __future__ import annotations

from ftwizard.core.data.formats.base import Family, Row, check_field


def detect(rec: Row) -> bool:
    return "text" in rec or "content" in rec


def validate(rec: Row) -> list[str]:
    errors: list[str] = []
    check_field(rec, "text" if "text" in rec else "content", errors)
    return errors


def convert(rec: Row) -> Row:
    return {"text": rec["text"] if "text" in rec else rec["content"]}


FAMILY = Family("text", detect, validate, convert, required=(("text", "content"),), min_rows=1000,
                description="plain text documents (continued pre-training)")
