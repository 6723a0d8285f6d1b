"""The after-fine-tuning checklist (from the reference sheets), with persisted state in <run>/checklist.json.

Items the tool can do have an `action` (run by `ftwizard check RUN --only ACTION` in its own process);
the rest are tick boxes with a short why.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftwizard.core.run.layout import RunDir


@dataclass(frozen=True)
class Item:
    id: str
    title: str
    why: str
    action: str | None = None  # what `ftwizard check --only` runs; None = a person does it


ITEMS: tuple[Item, ...] = (
    Item("compare", "Compare fine-tuned vs base on the test split",
         "Loss/perplexity, exact match and ROUGE-L on held-out rows, plus side-by-side samples: did it learn?",
         "compare"),
    Item("template", "Chat template and EOS are consistent",
         "The template and special tokens saved with the adapter must be the ones trained with, and generation "
         "must stop at EOS — the top cause of 'gibberish after export'.", "template"),
    Item("merge", "Merge the adapter into the base and evaluate the merged model",
         "Serving a merged model is simpler and faster; don't assume merging preserved quality — re-measure.",
         "merge"),
    Item("general", "General-capability check (forgetting)",
         "Fine-tuning can erode what the model knew; compare base vs tuned on a small general set.", "general"),
    Item("gguf", "Export to GGUF (llama.cpp / Ollama)",
         "For local deployment on limited hardware; evaluate the quantized model too.", "gguf"),
    Item("card", "Write a run card (config, data hashes, results, versions)",
         "So you (or anyone) can reproduce and audit this model later.", "card"),
    Item("samples", "Read 20–50 outputs yourself", "Metrics miss tone, hallucinations and formatting slips."),
    Item("prompt_baseline", "Compare with your best prompt on the base model",
         "If a good prompt gets close, the fine-tune may not be worth its upkeep."),
    Item("safety", "Safety evaluation (refusals, bias)",
         "Fine-tuning on narrow data can undo safety behaviour, even with harmless data."),
    Item("production", "Test with production-representative inputs",
         "Real users send messier inputs than your test split."),
    Item("monitoring", "Set up monitoring for production quality", "Quality drifts as inputs change."),
)
ACTIONS = tuple(i.action for i in ITEMS if i.action)


def state_path(run: str | Path) -> Path:
    return RunDir(run).checklist_path


def load_state(run: str | Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(state_path(run).read_text(encoding="utf-8"))
        return dict(data.get("items", {}))
    except (OSError, ValueError, AttributeError):
        return {}


def save_state(run: str | Path, items: dict[str, dict[str, Any]]) -> None:
    p = state_path(run)
    tmp = p.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"items": items, "updated": time.time()}, indent=2), encoding="utf-8")
    os.replace(tmp, p)


def mark(run: str | Path, item_id: str, done: bool, result: str | None = None) -> dict[str, dict[str, Any]]:
    items = load_state(run)
    entry = items.get(item_id, {})
    entry.update(done=done, time=time.time())
    if result is not None:
        entry["result"] = result
    items[item_id] = entry
    save_state(run, items)
    return items
