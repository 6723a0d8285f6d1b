"""Did the fine-tune work? One verdict in words, from the checks' numbers and the training log.

A run succeeds when the tuned model does what the data shows on rows it never saw, and still answers what the base
answered — not when the loss went down. Inputs are plain data (checks.json, the events, the run config), so the
CLI, the app and the demo print the same sentences:

    The model did not learn the answers (exact match 0/9 → 0/9, token F1 0.18 → 0.20; training loss 2.6 → 2.4 (fell only
    9%)). Try: raise the learning rate (now 0.0002; …)
    General answers changed: "What is the capital of France?" base "The capital of France is Paris." → tuned …

Thresholds, calibrated on SmolLM2-135M (bench/real_sweep.py): a run that taught the identity moved token F1 on the
test split by ≥ 0.2; the failed plan moved it by < 0.05 and its training loss fell 9%.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

YES_F1, YES_EM = 0.20, 0.30  # gains that mean "learned"
PART_F1, PART_LOSS = 0.08, 0.25  # token F1 gain, or answer-loss drop, that mean "learned some of it"
MIN_STEPS = 40  # below this a small LoRA run rarely learns a behaviour (the planner's floor)


@dataclass
class Verdict:
    learned: str  # "yes" | "partly" | "no" | "unknown"
    general: str  # "kept" | "changed" | "unknown"
    headline: str  # the one line to show first
    lines: list[str] = field(default_factory=list)  # what the numbers were
    fixes: list[str] = field(default_factory=list)  # what to try next

    @property
    def ok(self) -> bool:
        return self.learned == "yes" and self.general != "changed"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}

    def text(self) -> str:
        out = [self.headline, *self.lines]
        if self.fixes:
            out.append("Try: " + "; ".join(self.fixes) + ".")
        return "\n".join(out)


def loss_ends(events: list[dict[str, Any]]) -> tuple[float, float] | None:
    """The training loss at the start and at the end: the mean of the first three logs and of the last three."""
    ls = [float(e["loss"]) for e in events if e.get("type") == "log" and isinstance(e.get("loss"), int | float)]
    if len(ls) < 4:
        return None
    k = min(3, len(ls) // 2)
    return sum(ls[:k]) / k, sum(ls[-k:]) / k


def loss_drop(events: list[dict[str, Any]]) -> float | None:
    """The training loss's fall, first three logs vs last three (0.09 = fell 9%)."""
    ends = loss_ends(events)
    if ends is None:
        return None
    first, last = ends
    return (first - last) / first if first > 0 else None


def _loss_words(ends: tuple[float, float] | None, only: bool) -> str:
    """"training loss 2.47 → 0.0046" (it said "fell 100%", which reads as "fell to zero"); a small fall is named."""
    if ends is None:
        return ""
    first, last = ends
    text = f"; training loss {first:.3g} → {last:.3g}"
    if only and first > 0:
        text += f" (fell only {100 * (first - last) / first:.0f}%)"
    return text


def steps_done(events: list[dict[str, Any]]) -> int:
    return max((int(e.get("step") or 0) for e in events if e.get("type") in ("log", "eval", "train_end")), default=0)


def _count(frac: float, n: int) -> str:
    return f"{round(frac * n)}/{n}"


def _learned(checks: dict[str, Any], drop: float | None, ends: tuple[float, float] | None = None) -> tuple[str, str]:
    b, t = checks.get("baseline") or {}, checks.get("tuned") or {}
    if "f1" in b and "f1" in t:
        n = int(t.get("n") or b.get("n") or 0)
        em_gain, f1_gain = t["exact_match"] - b["exact_match"], t["f1"] - b["f1"]
        loss_gain = (b["loss"] - t["loss"]) / b["loss"] if b.get("loss") else 0.0
        seen = int((checks.get("compare") or {}).get("answers_seen_in_training") or 0)
        nums = (f"exact match {_count(b['exact_match'], n)} → {_count(t['exact_match'], n)}, token F1 "
                f"{b['f1']:.2f} → {t['f1']:.2f} on {n} test rows it never saw"
                + (f", {'all' if seen == n else seen} of them asking in new words an answer the training rows hold"
                   if seen else ""))
        if em_gain >= YES_EM or f1_gain >= YES_F1:
            return "yes", f"The model learned the answers ({nums}{_loss_words(ends, False)})."
        if f1_gain >= PART_F1 or em_gain > 0 or loss_gain >= PART_LOSS:
            return "partly", f"The model learned some of it, not all ({nums}{_loss_words(ends, False)})."
        only = drop is not None and drop < 0.3
        return "no", f"The model did not learn the answers ({nums}{_loss_words(ends, only)})."
    if "preference_accuracy" in t:
        acc_b, acc_t = b.get("preference_accuracy", 0.5), t["preference_accuracy"]
        nums = f"preference accuracy {acc_b:.2f} → {acc_t:.2f} on held-out pairs"
        if acc_t - acc_b >= 0.1:
            return "yes", f"The model learned the preferences ({nums})."
        if acc_t > acc_b:
            return "partly", f"The model moved a little towards the chosen answers ({nums})."
        return "no", f"The model did not learn the preferences ({nums})."
    if "compare" in checks and "skipped" in checks["compare"]:
        return "unknown", f"Not measured on held-out rows: {checks['compare']['skipped']}."
    return "unknown", "Not measured yet: run the compare check (base vs tuned on the test split)."


def _general(checks: dict[str, Any]) -> tuple[str, list[str]]:
    g = checks.get("general") or {}
    q = g.get("questions")
    if not q:
        return "unknown", ["General answers not checked yet: the general check asks base and tuned a few general "
                           "questions (`ftwizard check RUN --only general`)."]
    if q["changed"]:
        c = q["changed"][0]
        more = f" (and {len(q['changed']) - 1} more)" if len(q["changed"]) > 1 else ""
        return "changed", [f"General answers changed: {len(q['changed'])} of the {q['base_right']} general questions "
                           f"the base answered right are now wrong{more} — \"{c['prompt']}\" base "
                           f"\"{clip(c['base'])}\" → tuned \"{clip(c['tuned'])}\"."]
    if not q.get("base_right"):  # nothing the base knew, so nothing that could be forgotten
        return "unknown", [f"General answers not measured: the base model answered none of the {q['n']} general "
                           "questions right (common for a small model), so forgetting cannot be seen here; try "
                           "a few questions of your own side by side."]
    every = "the one" if q["kept"] == 1 else f"all {q['kept']}"
    return "kept", [f"General answers kept: the tuned model still answers {every} of the {q['n']} general "
                    "questions the base answered right."]


def clip(text: str, n: int = 70) -> str:
    """`text` on one line, at most `n` characters (… when cut)."""
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _fixes(learned: str, general: str, cfg: dict[str, Any], steps: int, drop: float | None,
           n_test: int) -> list[str]:
    out: list[str] = []
    if learned in ("no", "partly"):
        adapter = cfg.get("method") in ("lora", "qlora", "dora")
        lr = float(cfg.get("learning_rate") or 0)
        if adapter and lr and lr < 5e-4:
            out.append(f"raise the learning rate (now {lr:g}; LoRA learns a behaviour at 1e-3 below 0.5B parameters, "
                       "5e-4 below 3B)")
        targets = cfg.get("target_modules")
        if adapter and targets not in ("all-linear", None) and not (
                isinstance(targets, list) and any("up" in t or "mlp" in t or "fc" in t for t in targets)):
            out.append("put LoRA on every linear layer (target_modules: all-linear), not only attention")
        if adapter and int(cfg.get("rank") or 16) < 16:
            out.append(f"use LoRA rank 16 (now {cfg.get('rank')})")
        if 0 < steps < MIN_STEPS:
            out.append(f"train for at least {MIN_STEPS} optimizer steps (this run took {steps}): more epochs, or a "
                       "smaller gradient accumulation")
        if drop is not None and drop >= 0.5:
            out.append("the training loss fell but held-out answers did not improve: the model memorised its rows — "
                       "add more varied examples (other phrasings of the same questions)")
        if not out:
            out.append("add more examples, and more varied ones; check a few rows show exactly the answer you want")
        if 0 < n_test < 5:
            out.append(f"the test split has only {n_test} rows, so these scores are noisy")
    if general == "changed":
        out.append("to keep general answers: lower the learning rate or the epochs, or mix some general chat "
                   "examples into the training data")
    return out


def judge(checks: dict[str, Any], events: list[dict[str, Any]], cfg: dict[str, Any]) -> Verdict:
    """The verdict for a run: `checks` is checks.json, `events` the run's events, `cfg` its config."""
    drop = loss_drop(events)
    learned, headline = _learned(checks, drop, loss_ends(events))
    general, glines = _general(checks)
    n_test = int((checks.get("tuned") or {}).get("n") or 0)
    fixes = _fixes(learned, general, cfg, steps_done(events), drop, n_test)
    return Verdict(learned, general, headline, glines, fixes)
