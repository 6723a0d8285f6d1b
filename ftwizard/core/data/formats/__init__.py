"""Dataset families: a registry of one module per family (detect, validate, convert to TRL, texts).

Adding a family is one new module under `formats/` that defines `FAMILY = Family(...)` (see `base.py`)
plus one `register_family(...)` line below. Registration order is detection order: the first family
whose `detect` accepts a row names it, so more specific shapes come first.
"""

from __future__ import annotations

from typing import Any

from ftwizard.core.data.formats import (
    alpaca,
    kto,
    openai,
    preference,
    prompt_completion,
    prompt_only,
    sharegpt,
    text,
)
from ftwizard.core.data.formats.base import OPENAI_ROLES, Family, content_text
from ftwizard.core.data.formats.sharegpt import SHAREGPT_ROLES

_REGISTRY: dict[str, Family] = {}


class UnknownFormatError(ValueError):
    """A family name that is not registered."""


def register_family(family: Family) -> Family:
    """Add a family (its position is its detection priority). Returns it, so it can decorate/assign."""
    if family.name in _REGISTRY:
        raise ValueError(f"dataset family '{family.name}' is registered twice")
    _REGISTRY[family.name] = family
    return family


register_family(preference.FAMILY)
register_family(kto.FAMILY)
register_family(openai.FAMILY)
register_family(sharegpt.FAMILY)
register_family(alpaca.FAMILY)
register_family(prompt_completion.FAMILY)
register_family(prompt_only.FAMILY)
register_family(text.FAMILY)

FAMILIES: tuple[str, ...] = tuple(_REGISTRY)


def get_family(name: str) -> Family:
    """The registered family called `name`; an unknown name is an error listing the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownFormatError(f"unknown format '{name}'; choose from {', '.join(_REGISTRY)}") from None


def family_of(rec: dict[str, Any]) -> str | None:
    """The family one record looks like, or None."""
    for fam in _REGISTRY.values():
        if fam.detect(rec):
            return fam.name
    return None


def detect_family(records: list[dict[str, Any]], sample: int = 200) -> str | None:
    """The majority family over the first `sample` records."""
    counts: dict[str, int] = {}
    for rec in records[:sample]:
        fam = family_of(rec)
        if fam:
            counts[fam] = counts.get(fam, 0) + 1
    return max(counts, key=lambda k: counts[k]) if counts else None


def format_name(family: str, rec: dict[str, Any]) -> str:
    """A more specific name for reports (e.g. preference_messages_explicit_prompt, sharegpt_tools)."""
    return get_family(family).format_name(rec)


def validate(family: str, rec: dict[str, Any]) -> list[str]:
    """Problems with one record, in plain words (empty list: fine)."""
    fam = get_family(family)
    actual = family_of(rec)
    if actual == family:
        return fam.validate(rec)
    missing = fam.missing(rec)
    if missing:  # a row of this family with a field missing (so it looks like a smaller family)
        return [f"missing field '{k}'" for k in missing]
    if actual is None:
        return [f"no '{family}' fields here (found: {', '.join(sorted(rec)) or 'nothing'})"]
    return [f"this row looks like '{actual}' but the file is '{family}': rows of a different format are mixed in"]


def to_trl(family: str, rec: dict[str, Any]) -> dict[str, Any]:
    """Convert a valid record to the TRL dataset shape for its family."""
    return get_family(family).convert(rec)


def to_trl_rows(family: str, recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Valid records → TRL rows of one shape. A family that gives some rows as a conversation (`messages`: Alpaca with
    `history`, whose earlier answers are trained too, as LLaMA-Factory does) and others as conversational
    prompt/completion makes every row a conversation, since one dataset has one set of columns."""
    rows = [to_trl(family, r) for r in recs]
    if any("messages" in r for r in rows) and any("completion" in r and "messages" not in r for r in rows):
        rows = [r if "messages" in r or not is_conversational(r) else _as_conversation(r) for r in rows]
    return rows


def _as_conversation(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in ("prompt", "completion")}
    out["messages"] = as_messages(row)
    return out


def trl_type(row: dict[str, Any]) -> str:
    """TRL's dataset type of a converted row: language_modeling, prompt_only, prompt_completion,
    preference or unpaired_preference."""
    keys = set(row)
    if "chosen" in keys:
        return "preference"
    if "label" in keys:
        return "unpaired_preference"
    if "completion" in keys:
        return "prompt_completion"
    if "prompt" in keys:
        return "prompt_only"
    return "language_modeling"


def is_conversational(row: dict[str, Any]) -> bool:
    """TRL's test: some field is a list of {role, ...} messages."""
    for key in ("prompt", "chosen", "rejected", "completion", "messages"):
        v = row.get(key)
        if isinstance(v, list) and v and isinstance(v[0], dict) and "role" in v[0]:
            return True
    return False


def row_texts(row: dict[str, Any]) -> tuple[str, str]:
    """(prompt-ish text, target text) of a converted TRL row."""
    if "messages" in row:
        msgs = row["messages"]
        target = " ".join(content_text([m]) for m in msgs if m.get("role") == "assistant")
        prompt = " ".join(content_text([m]) for m in msgs if m.get("role") != "assistant")
        return prompt, target
    if "chosen" in row:
        return content_text(row.get("prompt")), content_text(row["chosen"]) + " " + content_text(row["rejected"])
    if "completion" in row:
        return content_text(row["prompt"]), content_text(row["completion"])
    if "prompt" in row:
        return content_text(row["prompt"]), ""
    return "", content_text(row.get("text"))


def texts(family: str, rec: dict[str, Any]) -> tuple[str, str]:
    """(prompt-ish text, target text) of a valid record, for lengths, duplicates and PII."""
    return row_texts(to_trl(family, rec))


def as_messages(row: dict[str, Any]) -> list[dict[str, Any]] | None:
    """A converted row as one conversation (prompt + completion/chosen), or None for plain text rows.
    Useful to evaluate or export any SFT row the same way."""
    if "messages" in row:
        return row["messages"]
    prompt = row.get("prompt")
    answer = row.get("completion", row.get("chosen"))
    if prompt is None or answer is None:
        return None
    p = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
    a = answer if isinstance(answer, list) else [{"role": "assistant", "content": answer}]
    return [*p, *a]


__all__ = ["FAMILIES", "OPENAI_ROLES", "SHAREGPT_ROLES", "Family", "UnknownFormatError", "as_messages", "to_trl_rows",
           "detect_family", "family_of", "format_name", "get_family", "is_conversational", "register_family",
           "row_texts", "texts", "to_trl", "trl_type", "validate"]
