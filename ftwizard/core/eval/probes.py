"""Behaviour probes: prompts the training data never showed, each with what a right answer must contain.

Two uses: the identity/persona check (did the tuned model learn the new name on held-out phrasings?) and the
general-knowledge check (does it still answer what the base model answered?). A probe passes when the answer
contains any of its `expect_any` strings as a word (case-insensitive). Pure: the answers come from the caller.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path


@dataclass(frozen=True)
class Probe:
    prompt: str
    expect_any: tuple[str, ...]


def passes(answer: str, expect_any: tuple[str, ...] | list[str]) -> bool:
    text = answer.lower()
    return any(re.search(rf"(?<![\w]){re.escape(e.lower())}(?![\w])", text) for e in expect_any)


def read(path: str | Path) -> list[Probe]:
    """Probes from a JSONL file of {"prompt": ..., "expect_any": [...]} lines."""
    out = []
    for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            out.append(Probe(str(d["prompt"]), tuple(str(x) for x in d["expect_any"])))
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"{path}:{i}: expected {{\"prompt\": ..., \"expect_any\": [...]}}") from None
    return out


def general() -> list[Probe]:
    """The shipped general-knowledge questions (ftwizard/data/general_questions.jsonl)."""
    return read(str(resources.files("ftwizard.data") / "general_questions.jsonl"))


def score(answers: list[str], probes: list[Probe]) -> list[bool]:
    return [passes(a, p.expect_any) for a, p in zip(answers, probes, strict=True)]
