"""Which metrics fit which task (the reference sheets' evaluation table), and how a run's task is found.

The kinds here are about *answers* (a label, a short text, a long text, code, open chat); the planner's
`TASK_KINDS` (format/domain/complex/knowledge) and the data report's task names map onto them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class EvalTask:
    id: str
    label: str
    metrics: tuple[str, ...]  # the metrics that fit, most telling first (loss/perplexity are always measured)
    checks: tuple[str, ...] = ()  # extra checks (train/checks) this task calls for


EVAL_TASKS: dict[str, EvalTask] = {t.id: t for t in (
    EvalTask("classification", "Classification (one label per input)", ("exact_match", "f1")),
    EvalTask("extraction", "Extraction (fields or spans from the input)", ("exact_match", "f1")),
    EvalTask("translation", "Translation", ("bleu", "rouge_l"), ("bertscore",)),
    EvalTask("short", "Short generation (a sentence or a formatted value)", ("bleu", "exact_match", "f1")),
    EvalTask("summarization", "Summarization", ("rouge_l", "bleu"), ("bertscore",)),
    EvalTask("long", "Long-form generation", ("rouge_l", "perplexity"), ("bertscore",)),
    EvalTask("code", "Code generation", ("pass_at_k", "exact_match"), ("pass_at_k",)),
    EvalTask("chat", "Open chat, style or tone", ("judge", "perplexity"), ("judge",)),
)}

METRIC_LABELS = {"exact_match": "exact match", "f1": "token F1", "bleu": "BLEU", "rouge_l": "ROUGE-L",
                 "perplexity": "perplexity", "bertscore": "BERTScore", "pass_at_k": "pass@k",
                 "judge": "LLM-as-judge (1–5)"}

# other vocabularies → ours: the planner's TASK_KINDS and the data report's MIN_ROWS task names
ALIASES = {"identity": "short", "persona": "short", "format": "short", "domain": "long", "complex": "extraction",
           "knowledge": "long", "style": "chat", "generation": "short", "qa": "extraction", "summary": "summarization"}


def resolve(name: str) -> str:
    """Our task id for `name` (ours or an alias); ValueError listing the known ones otherwise."""
    kind = ALIASES.get(name, name)
    if kind not in EVAL_TASKS:
        raise ValueError(f"unknown task {name!r}: known tasks are {', '.join(EVAL_TASKS)}")
    return kind


_CODE = re.compile(r"```|^\s*(def|class|import|from \S+ import|function|public|#include)\b|\breturn\b.*[;)]?$", re.M)


def guess(refs: Sequence[str]) -> str:
    """The task the reference answers look like: code, a few repeated labels, short, or long text."""
    refs = [r for r in refs if r.strip()]
    if not refs:
        return "short"
    if sum(bool(_CODE.search(r)) for r in refs) >= 0.5 * len(refs):
        return "code"
    words = sum(len(r.split()) for r in refs) / len(refs)
    distinct = len(set(refs))
    if words <= 4 and len(refs) >= 10 and distinct <= max(2, len(refs) // 5):
        return "classification"
    if words <= 40:
        return "short"
    return "summarization" if words <= 150 else "long"


def metric_line(kind: str) -> str:
    """"BLEU, exact match, token F1" for a task kind."""
    return ", ".join(METRIC_LABELS[m] for m in EVAL_TASKS[kind].metrics)
