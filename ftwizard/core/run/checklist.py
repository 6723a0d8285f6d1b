"""The after-fine-tuning checklist (from the reference sheets), with persisted state in <run>/checklist.json.

Items the tool can do have an `action` (run by `ftwizard check RUN --only ACTION` in its own process);
the rest are tick boxes with a short why. This is the checks registry's pure half: adding a check = one `Item(...)`
line here + one module `ftwizard/train/checks/<action>.py` with `run(ctx)` and `summary(checks)`.

Which items a run lists (`applies`) is derived, not written per item: a trainer's own check (`TrainerSpec.check`:
compare, preference, reward) only for the trainers that name it, a task's extra check (`EvalTask.checks`: pass@k,
the judge, BERTScore) only for the tasks that name it, every other item always. A new trainer or task needs no
edit here.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ftwizard.core.data.formats import as_messages
from ftwizard.core.eval import tasks
from ftwizard.core.run.config import load_yaml
from ftwizard.core.run.layout import RunDir
from ftwizard.core.trainers import TRAINERS


@dataclass(frozen=True)
class Item:
    id: str
    title: str
    why: str
    action: str | None = None  # what `ftwizard check --only` runs; None = a person does it


ITEMS: tuple[Item, ...] = (
    Item("compare", "Compare fine-tuned vs base on the test split",
         "Loss/perplexity, exact match, token F1, BLEU and ROUGE-L on held-out rows, plus side-by-side samples: "
         "did it learn?", "compare"),
    Item("preference", "Preference accuracy (preference runs)",
         "How often the model scores the chosen answer above the rejected one on held-out pairs, base vs tuned.",
         "preference"),
    Item("reward", "Mean reward on the test prompts (GRPO runs)",
         "The run's reward functions on base and tuned answers to held-out prompts: did the policy improve?",
         "reward"),
    Item("template", "Chat template and EOS are consistent",
         "The template and special tokens saved with the adapter must be the ones trained with, and generation "
         "must stop at EOS — the top cause of 'gibberish after export'.", "template"),
    Item("merge", "Merge the adapter into the base and evaluate the merged model",
         "Serving a merged model is simpler and faster; don't assume merging preserved quality — re-measure.",
         "merge"),
    Item("general", "General-capability check (forgetting)",
         "Fine-tuning can erode what the model knew; compare base vs tuned on a small general set.", "general"),
    Item("safety", "Safety evaluation (refusals)",
         "Fine-tuning on narrow data can undo safety behaviour, even with harmless data: base vs tuned on a "
         "shipped set of prompts that should be refused or answered.", "safety"),
    Item("production", "Test with production-representative inputs",
         "Real users send messier inputs than your test split: run your own prompt file (--prompts FILE) "
         "through base and tuned side by side.", "production"),
    Item("bertscore", "BERTScore (semantic similarity)",
         "For open-ended text, where word overlap misses paraphrases; needs its model locally.", "bertscore"),
    Item("pass_at_k", "pass@k on code tasks",
         "Runs the generated code against tests — only with --allow-code-exec, each program in a bubblewrap "
         "sandbox (no network, no tokens, read-only system).",
         "pass_at_k"),
    Item("judge", "LLM-as-judge (1–5 with reasons)",
         "A local judge model grades base and tuned answers with a rubric: for style, tone and open chat.",
         "judge"),
    Item("modelfile", "Write an Ollama Modelfile",
         "The chat template and stop tokens of the trained model, so `ollama create` serves it as trained.",
         "modelfile"),
    Item("gguf", "Export to GGUF (llama.cpp / Ollama)",
         "For local deployment on limited hardware; evaluate the quantized model too.", "gguf"),
    Item("card", "Write a run card (config, data hashes, results, versions)",
         "So you (or anyone) can reproduce and audit this model later.", "card"),
    Item("samples", "Read 20–50 outputs yourself", "Metrics miss tone, hallucinations and formatting slips."),
    Item("prompt_baseline", "Compare with your best prompt on the base model",
         "If a good prompt gets close, the fine-tune may not be worth its upkeep."),
    Item("monitoring", "Set up monitoring for production quality", "Quality drifts as inputs change."),
)
ACTIONS = tuple(i.action for i in ITEMS if i.action)
# what a plain `ftwizard check RUN` runs (besides the trainer's own check and the task's extra checks)
DEFAULT_ACTIONS = ("template", "merge", "general", "safety", "modelfile", "gguf", "card")
# the checks that belong to a trainer (its TrainerSpec.check; compare for a trainer not registered) or to a task
TRAINER_CHECKS = frozenset({"compare", *(s.check for s in TRAINERS.values())})
TASK_CHECKS = frozenset(c for t in tasks.EVAL_TASKS.values() for c in t.checks)


def trainer_check(trainer: str) -> str:
    """The after-training check that fits the trainer (compare for SFT-like trainers and unknown ones)."""
    spec = TRAINERS.get(trainer)
    return spec.check if spec is not None and spec.check in ACTIONS else "compare"


def applies(item: Item, trainer: str, task: str) -> bool:
    """Whether `item` fits a run of `trainer` on eval task `task` (the one rule the app and the CLI list by)."""
    if item.action in TRAINER_CHECKS:
        return item.action == trainer_check(trainer)
    if item.action in TASK_CHECKS:
        spec = tasks.EVAL_TASKS.get(task)
        return spec is not None and item.action in spec.checks
    return True


def run_items(run: str | Path, task: str | None = None) -> list[Item]:
    """The checklist items that fit the run's trainer (config.yaml) and task (`run_task`; `task` overrides)."""
    trainer = RunDir(run).config().trainer
    kind = run_task(run, override=task)[0]
    return [i for i in ITEMS if applies(i, trainer, kind)]


def check_names() -> str:
    return ", ".join(ACTIONS)


def validate_actions(names: list[str]) -> list[str]:
    """The names, or ValueError listing the known checks."""
    bad = [n for n in names if n not in ACTIONS]
    if bad:
        raise ValueError(f"unknown check {bad[0]!r}: known checks are {check_names()}")
    return names


def run_task(run: str | Path, refs: list[str] | None = None, override: str | None = None) -> tuple[str, str]:
    """The run's eval task kind (core.eval.tasks) and where it came from: `override`, a clear signal in the test
    answers (code, a few labels), the wizard's answers.yaml, or a guess from the answers' length."""
    rd = RunDir(run)
    if override:
        return tasks.resolve(override), "given"
    if refs is None:
        refs = _test_answers(rd)
    guessed = tasks.guess(refs)
    if guessed in ("code", "classification"):
        return guessed, "guessed from the test answers"
    try:
        answers = load_yaml(rd.answers_path.read_text(encoding="utf-8")) or {}  # no aliases
        return tasks.resolve(str(answers["task_kind"])), f"the plan's task ({answers['task_kind']})"
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError):
        return guessed, "guessed from the test answers"


def _test_answers(rd: RunDir, limit: int = 200) -> list[str]:
    refs: list[str] = []
    try:
        lines = rd.split_file("test").read_text(encoding="utf-8").splitlines()[:limit]
    except OSError:
        return refs
    for line in lines:
        try:
            msgs = as_messages(json.loads(line)) or []
        except (ValueError, AttributeError, TypeError):
            continue
        refs += [m["content"] for m in msgs[-1:] if isinstance(m, dict) and m.get("role") == "assistant"]
    return refs


def default_actions(run: str | Path, task: str | None = None) -> list[str]:
    """What `ftwizard check RUN` runs: the trainer's check (compare, preference, …), the task's extra checks
    (pass@k for code, the judge for chat, BERTScore for long text), and the export/record steps."""
    first = trainer_check(RunDir(run).config().trainer)
    extra = [c for c in tasks.EVAL_TASKS[run_task(run, override=task)[0]].checks if c in ACTIONS] if first == "compare" else []
    return [first, *extra, *DEFAULT_ACTIONS]


def metrics_line(run: str | Path) -> str:
    """One line for the checklist: the run's task and the metrics that fit it."""
    kind, source = run_task(run)
    return f"Task: {tasks.EVAL_TASKS[kind].label} ({source}) — metrics that fit: {tasks.metric_line(kind)}"


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


# a check that ran found nothing wrong / found problems / ran but its measure could not tell (the base model answered
# none of the general questions, the task metric did not move) / could not run
OUTCOMES = ("passed", "problems", "inconclusive", "skipped")


def outcome(entry: dict[str, Any]) -> str | None:
    """passed | problems | inconclusive | skipped for a checklist entry (older entries: from `done` and the result line), or None
    when it has not run."""
    if entry.get("outcome") in OUTCOMES:
        return str(entry["outcome"])
    if str(entry.get("result", "")).startswith("skipped"):
        return "skipped"
    return "passed" if entry.get("done") else None


def mark(run: str | Path, item_id: str, done: bool, result: str | None = None,
         outcome: str | None = None) -> dict[str, dict[str, Any]]:
    """Record a checklist item: `done` (it ran), its one-line result, and its outcome (an OUTCOMES word;
    kept when a person ticks an item that already ran)."""
    items = load_state(run)
    entry = items.get(item_id, {})
    entry.update(done=done, time=time.time())
    if result is not None:
        entry["result"] = result
    if outcome is not None:
        entry["outcome"] = outcome
    elif not done:  # unticked by a person: no outcome (a skipped check still reads as skipped from its result)
        entry.pop("outcome", None)
    items[item_id] = entry
    save_state(run, items)
    return items
