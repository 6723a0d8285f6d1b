"""The editable plan (pure): `make_plan` turns answers + model facts + the probed GPUs into a `PlanView` — the
recommendation with the user's edits applied, each value with its reason, the memory estimate in parts, and one-key
fixes when the plan does not fit."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ftwizard.core.plan.hardware import GPU, ProbeResult, gpu_from_name
from ftwizard.core.plan.launch_checks import total_ram_gib
from ftwizard.core.plan.memory import Estimate, EstimateInput, estimate, estimate_input, max_micro_batch
from ftwizard.core.plan.model_facts import ModelFacts
from ftwizard.core.plan.recommend import Plan, recommend
from ftwizard.core.trainers import trainer_for_family, trainer_spec
from ftwizard.core.wizard.answers import ADAPTER_ONLY, FIELDS, TRAINER_FIELDS, Answers


def planning_probe(ans: Answers, local: ProbeResult) -> ProbeResult:
    """The GPUs to plan for: the local ones, none (CPU), or a chosen card × count."""
    if ans.gpu == "local":
        return local
    if ans.gpu == "cpu":
        return ProbeResult(gpus=[], backend="cpu", reason="You chose CPU-only: only tiny models are practical.")
    n = max(1, ans.gpu_count)
    gpus: list[GPU] = [gpu_from_name(ans.gpu, i) for i in range(n)]
    return ProbeResult(gpus=gpus, backend="planned", reason=None)


@dataclass
class Fix:
    key: str  # the one key that applies it
    label: str
    changes: dict[str, Any]
    peak_gib: float


@dataclass
class PlanView:
    recommendation: Plan
    values: dict[str, Any]
    reasons: dict[str, str]
    edited: set[str]
    estimate: Estimate
    gpu_name: str | None
    gpu_gib: float | None
    gpus: int
    max_micro_batch: int | None
    fixes: list[Fix]
    warnings: list[str]
    trainer: str = "sft"
    rows: int = 1000  # the rows the plan was sized for (the data report's, else a guess)

    @property
    def fits(self) -> bool:
        return self.estimate.fits(self.gpu_gib)

    @property
    def is_adapter(self) -> bool:
        return self.values["method"] != "full"


def make_plan(ans: Answers, facts: ModelFacts, local: ProbeResult) -> PlanView:
    probe = planning_probe(ans, local)
    rec = recommend(facts, probe, task_kind=ans.task_kind, rows=ans.rows or 1000, seq_len=ans.seq_p99,
                    method=ans.overrides.get("method"), ram_gib=None if probe.gpus else total_ram_gib())
    values: dict[str, Any] = {k: c.value for k, c in rec.choices.items()}
    reasons: dict[str, str] = {k: c.reason for k, c in rec.choices.items()}
    # adapter fields exist in the recommendation only for adapter methods: fill them for an edit to full→lora
    if "rank" not in values:
        from ftwizard.core.plan.decision import TASK_KINDS

        r = TASK_KINDS.get(ans.task_kind, TASK_KINDS["domain"]).rank
        values.update(rank=r, alpha=2 * r, dropout=0.05, target_modules="all-linear")
        for k in ADAPTER_ONLY:
            reasons[k] = "used only by adapter methods"
    trainer = ans.trainer or trainer_for_family(ans.data_format)
    spec = trainer_spec(trainer)
    values["trainer"] = trainer  # the estimate adds the objective's terms (DPO's reference copy, …)
    if spec.needs in TRAINER_FIELDS:
        values[spec.needs] = str(ans.overrides.get(spec.needs) or "")
        reasons[spec.needs] = f"{trainer.upper()}: {TRAINER_FIELDS[spec.needs]}"
    if trainer != "sft":  # each objective has its own starting learning rate (DPO ~5e-6, not SFT's 2e-4)
        lr = spec.lr_full if values["method"] == "full" else spec.lr_lora
        values["learning_rate"] = lr
        what = "full fine-tuning" if values["method"] == "full" else "adapters"
        reasons["learning_rate"] = f"{trainer.upper()}'s starting point for {what} ({spec.title})"
    if ans.seq_p99 and "max_seq_length" in values:
        seq = int(values["max_seq_length"])
        p99 = int(ans.seq_p99)
        reasons["max_seq_length"] = (f"covers your data's longest examples ({p99} tokens)" if seq == p99 else
                                     f"covers your data's longest examples ({p99} tokens), rounded up to {seq}"
                                     if seq > p99 else f"the model's context ({seq}); your longest examples "
                                     f"({p99} tokens) get cut")
    edited: set[str] = set()
    for key, val in ans.overrides.items():
        if key in TRAINER_FIELDS and key != spec.needs:
            continue  # another trainer's required field, kept in the answers for a switch back
        if key in FIELDS and val is not None:
            if values.get(key) != val:
                edited.add(key)
            values[key] = val
            if key in ans.fixed:  # also when the recommender was already asked for it ('you chose qlora')
                reasons[key] = "set by a fix to make it fit"
            elif key in edited:
                reasons[key] = "you set this"
    if "micro_batch" in edited and "gradient_accumulation" not in ans.overrides:
        rec_eff = int(rec.value("micro_batch")) * int(rec.value("gradient_accumulation"))
        values["gradient_accumulation"] = max(1, -(-rec_eff // int(values["micro_batch"])))
        reasons["gradient_accumulation"] = f"keeps the effective batch near the recommended {rec_eff}"
    if values["method"] == "qlora" and "optimizer" not in ans.overrides and "8bit" not in str(values["optimizer"]):
        values["optimizer"] = "paged_adamw_8bit"
        reasons["optimizer"] = "paged 8-bit AdamW, the QLoRA recipe"
    if "eval_steps" in values and "eval_steps" not in edited and edited & {"epochs", "micro_batch",
                                                                           "gradient_accumulation"}:
        from ftwizard.core.plan.recommend import schedule

        eff = int(values["micro_batch"]) * int(values["gradient_accumulation"]) * max(1, probe.count)
        steps = math.ceil(schedule(ans.rows or 1000).train_rows / eff) * math.ceil(float(values["epochs"]))
        values["eval_steps"] = max(1, round(steps / (5 if steps < 500 else 10)))
        reasons["eval_steps"] = f"evaluate about 5 times over your {steps} steps, and once before training"
    has_gpu = probe.count > 0
    inp = estimate_input(facts, values, probe.count, has_gpu)
    est = estimate(facts, inp)
    gib = probe.min_total_gib if has_gpu else None
    # the recommender's "even X needs N GiB" is about its own settings: the verdict and fixes below replace it
    warnings = [w for w in rec.warnings if not w.startswith("Even ")]
    mb = max_micro_batch(facts, inp, gib) if gib else None
    too_big = bool(gib) and not est.fits(gib)
    fixes = fit_fixes(facts, values, inp, gib, "gradient_accumulation" in ans.overrides, mb) if too_big else []  # type: ignore[arg-type]
    if too_big:
        warnings.insert(0, f"Predicted peak {est.peak_gib:.1f} GiB (up to {est.high_gib:.1f} GiB with its "
                           f"{est.margin:.0%} margin) does not fit in {gib:.0f} GiB: training would run out of "
                           "memory. Apply a fix below.")
        # the recommender's reasons promise a fit; after the person's edits they must not
        if "method" not in edited and ("fits your GPU" in reasons.get("method", "") or "so it fits" in reasons.get("method", "")):
            reasons["method"] = f"{values['method']}: the lightest option the recommender had; still too big here"
        if "micro_batch" not in edited:
            reasons["micro_batch"] = "does not fit even at this size: apply a fix" if not mb else \
                f"too big with the other settings: up to {mb} fits"
    elif has_gpu and mb and "micro_batch" not in edited:
        mbv = int(values["micro_batch"])
        reasons["micro_batch"] = ("the largest that fits your GPU with a 10% margin" if mbv >= mb else
                                  f"fits with a 10% margin (up to {mb} would; bigger adds little, raise accumulation instead)")
    if values["method"] == "qlora" and has_gpu and not probe.bf16 and values.get("precision") == "bf16":
        warnings.append("This GPU has no bf16: use fp16 precision.")
    return PlanView(rec, values, reasons, edited, est, probe.gpus[0].name if has_gpu else None, gib, probe.count,
                    mb, fixes, warnings, trainer, ans.rows or 1000)


def fit_fixes(facts: ModelFacts, v: dict[str, Any], inp: EstimateInput, gpu_gib: float,
              accum_pinned: bool = False, largest_batch: int | None = None) -> list[Fix]:
    """Single changes from the remedy ladder (core/plan/remedies.py) that lower the peak, best first; each is
    one key in the plan screen. A smaller micro-batch jumps to the largest that fits and raises gradient
    accumulation to keep the effective batch (explicitly when the user pinned it). `largest_batch` is
    max_micro_batch(facts, inp, gpu_gib) when the caller has it already."""
    from ftwizard.core.plan import remedies
    from ftwizard.core.plan.memory import input_from_values

    scored = []
    for r, ch in remedies.applicable(v, facts.vocab_size):
        if r.id == "more_gpus" or (r.id == "qlora" and not facts.requantizable):
            continue  # hardware, not a setting: fit_advice names it; a checkpoint quantized another way
        if r.id == "smaller_batch":
            if largest_batch is None:
                largest_batch = max_micro_batch(facts, inp, gpu_gib)
            ch = remedies.smaller_batch(v, to=max(1, largest_batch)) or ch
            old_eff = int(v["micro_batch"]) * int(v["gradient_accumulation"])
            new_eff = int(ch["micro_batch"]) * int(ch["gradient_accumulation"])
            same = "same effective batch" if new_eff == old_eff else f"effective batch {old_eff} → {new_eff}"
            label = f"micro-batch {ch['micro_batch']} × accumulation {ch['gradient_accumulation']} ({same})"
            # the accumulation goes with it (pinned or not), so the plan shows exactly what the label says
        else:
            label = r.label(v, facts.vocab_size)
        if "loss" in ch:
            continue  # the trainer has no fused-loss switch yet
        e = estimate(facts, input_from_values(inp, {**v, **ch}))
        scored.append((label, ch, e.peak_gib, e.fits(gpu_gib)))
    # changes that fit on their own come first (cheapest in quality first = the ladder order), then by peak
    fitting = [s for s in scored if s[3]]
    rest = sorted((s for s in scored if not s[3]), key=lambda s: s[2])
    return [Fix(str(i + 1), label, ch, round(peak, 2)) for i, (label, ch, peak, _) in enumerate(fitting + rest)]


def apply_fix(ans: Answers, fix: Fix) -> None:
    ans.overrides.update(fix.changes)
    ans.fixed = sorted(set(ans.fixed) | set(fix.changes))


def set_override(ans: Answers, key: str, value: Any) -> None:
    """The person typed a plan value: it is theirs now (no longer 'set by a fix')."""
    ans.overrides[key] = value
    if key in ans.fixed:
        ans.fixed = [k for k in ans.fixed if k != key]


def planned_steps(view: PlanView) -> int:
    """Optimizer steps of the plan: training rows / effective batch × epochs (the recommender's schedule)."""
    from ftwizard.core.plan.recommend import schedule

    sched = schedule(view.rows)
    eff = int(view.values["micro_batch"]) * int(view.values["gradient_accumulation"]) * max(1, view.gpus)
    return max(1, math.ceil(sched.train_rows / eff) * math.ceil(float(view.values["epochs"])))


def run_cadence(view: PlanView) -> dict[str, Any]:
    """Evaluation, logging and checkpoint cadence for the RunConfig: the plan's eval_steps with an evaluation before
    the first step, a log line about every 2% of the run (≤ 10 steps apart), a checkpoint every quarter."""
    steps = planned_steps(view)
    ev = int(view.values.get("eval_steps") or max(1, steps // 5))
    return {"eval_steps": ev, "eval_on_start": True, "logging_steps": max(1, min(10, steps // 50)),
            "save_steps": max(1, min(500, math.ceil(steps / 4)))}


def auto_fit(ans: Answers, facts: ModelFacts, local: ProbeResult, max_steps: int = 8) -> PlanView:
    """Apply the best fix, re-plan, repeat until the plan fits. When no combination fits, nothing is changed: the
    fixes cost quality (shorter sequences cut the data), and a plan that cuts them and still runs out of memory is
    worse than the one the person had. `fit_steps(...)` gives the labels of the fixes applied."""
    return fit_steps(ans, facts, local, max_steps)[0]


def fit_steps(ans: Answers, facts: ModelFacts, local: ProbeResult, max_steps: int = 8) -> tuple[PlanView, list[str]]:
    """auto_fit, with the label of each fix it applied (empty when it changed nothing)."""
    view = make_plan(ans, facts, local)
    before = (dict(ans.overrides), list(ans.fixed))
    applied: list[str] = []
    for _ in range(max_steps):
        if view.fits or not view.fixes:
            break
        applied.append(view.fixes[0].label)
        apply_fix(ans, view.fixes[0])
        view = make_plan(ans, facts, local)
    if applied and not view.fits:
        ans.overrides, ans.fixed = before
        return make_plan(ans, facts, local), []
    return view, applied
