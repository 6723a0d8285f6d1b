"""Prompt-only: {"prompt"} as text or a message list (for online methods such as GRPO; other fields such
as a reference answer are kept)."""

from __future__ import annotations

from ftwizard.core.data.formats.base import Family, Row, check_text_or_messages, normalize_messages


def detect(rec: Row) -> bool:
    return "prompt" in rec


def validate(rec: Row) -> list[str]:
    errors: list[str] = []
    if isinstance(rec.get("completions"), list) and isinstance(rec.get("labels"), list):
        return ["a stepwise-supervision row (prompt, completions, labels: a label per reasoning step, for TRL's "
                "PRMTrainer): ftwizard trains no process reward model — train it with TRL's PRMTrainer, or keep "
                "the steps whose labels are all true as prompt/completion rows for SFT"]
    check_text_or_messages(rec, "prompt", errors, "prompt")
    return errors


def convert(rec: Row) -> Row:
    return {**rec, "prompt": normalize_messages(rec["prompt"])}


def variant(rec: Row) -> str:
    return "prompt_only_messages" if isinstance(rec.get("prompt"), list) else "prompt_only"


FAMILY = Family("prompt_only", detect, validate, convert, required=(("prompt",),), variant=variant,
                description="prompts alone (GRPO and other online methods)")
