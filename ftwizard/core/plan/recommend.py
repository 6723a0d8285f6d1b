"""The recommender: decision answers + model facts + GPUs (+ dataset stats) → a Plan.

A pure function. Starting points follow the reference tables (LoRA r by task, alpha = 2r, LoRA on every linear
layer, 3% warmup, cosine), sized from the data: the number of optimizer steps matters more than epochs, so a
small set gets a smaller effective batch and more passes until the run has at least MIN_STEPS optimizer steps
(at most MAX_EPOCHS), an evaluation before training and about five during it. The adapter learning rate falls
with the model's size. These defaults were chosen by what a real model then *does* (bench/real_sweep.py on
SmolLM2-135M-Instruct: held-out identity phrasings and general questions, base vs tuned), not by its loss.
The memory estimate then overrides them: method, micro-batch, checkpointing and optimizer are chosen so the
predicted peak, with its margin (memory.MARGINS), fits the smallest GPU found.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from ftwizard.core.plan import remedies
from ftwizard.core.plan.decision import TASK_KINDS
from ftwizard.core.plan.hardware import ProbeResult
from ftwizard.core.plan.memory import Estimate, EstimateInput, estimate, input_from_values, values_from_input
from ftwizard.core.plan.model_facts import ModelFacts


@dataclass(frozen=True)
class Choice:
    value: Any
    reason: str


@dataclass
class Plan:
    model: str
    task_kind: str
    choices: dict[str, Choice]
    estimate: Estimate
    gpu_name: str | None
    gpu_gib: float | None
    gpus: int
    fits: bool
    warnings: list[str] = field(default_factory=list)

    def value(self, key: str) -> Any:
        return self.choices[key].value

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "task_kind": self.task_kind,
            "choices": {k: {"value": c.value, "reason": c.reason} for k, c in self.choices.items()},
            "memory": self.estimate.to_dict(),
            "gpu": {"name": self.gpu_name, "total_gib": self.gpu_gib, "count": self.gpus},
            "fits": self.fits,
            "warnings": self.warnings,
        }


def _pow2_floor(x: float) -> int:
    return 1 << max(0, int(math.floor(math.log2(max(x, 1)))))


MIN_STEPS = 40  # optimizer steps a run needs before a behaviour shows (bench/real_sweep.py: 15 steps taught nothing)
MAX_EPOCHS = 10  # more passes than this over a tiny set memorise it: collect more data instead
TRAIN_SHARE = 0.8  # the default split's training share (RunConfig.split)


@dataclass(frozen=True)
class Schedule:
    """How long a run is: effective batch, epochs, optimizer steps, and how often to evaluate."""

    train_rows: int
    effective_batch: int
    epochs: int
    steps_per_epoch: int
    eval_steps: int
    stretched: bool  # epochs were raised to reach MIN_STEPS

    @property
    def steps(self) -> int:
        return self.steps_per_epoch * self.epochs


def schedule(rows: int, train_share: float = TRAIN_SHARE) -> Schedule:
    """The run's length from the data: an effective batch of about a sixteenth of the training rows (4 to 32),
    3 epochs (2 from 5k rows, 1 from 20k), raised until there are MIN_STEPS optimizer steps (≤ MAX_EPOCHS), and an
    evaluation about every fifth of the run (every tenth on long runs)."""
    train = max(1, round(rows * train_share))
    eff = max(4, min(32, _pow2_floor(train / 16)))
    per_epoch = max(1, math.ceil(train / eff))
    base = 3 if rows < 5000 else (2 if rows < 20000 else 1)
    epochs = base
    if per_epoch * epochs < MIN_STEPS:
        epochs = max(base, min(MAX_EPOCHS, math.ceil(MIN_STEPS / per_epoch)))
    steps = per_epoch * epochs
    evals = 5 if steps < 500 else 10
    return Schedule(train, eff, epochs, per_epoch, max(1, round(steps / evals)), epochs > base)


def adapter_lr(params_b: float) -> tuple[float, str]:
    """The adapter (LoRA) learning rate by model size: small models need a larger step to move in few steps
    (bench/real_sweep.py on a 135M model: 2e-4 taught nothing in 40 steps); large ones the reference 2e-4 or less."""
    if params_b < 0.5:
        return 1e-3, "1e-3: a model under 0.5B parameters needs a larger step (2e-4 taught a 135M model nothing)"
    if params_b < 3:
        return 5e-4, "5e-4: between the small-model 1e-3 and the usual 2e-4 for 7B-class models"
    if params_b <= 30:
        return 2e-4, "2e-4, the usual LoRA learning rate for models of this size"
    return 1e-4, "1e-4: halved for a model this large"


def recommend(
    facts: ModelFacts,
    probe: ProbeResult,
    task_kind: str = "domain",
    rows: int = 1000,
    seq_len: int | None = None,
    method: str | None = None,
    ram_gib: float | None = None,
) -> Plan:
    """Recommend a complete training plan. `seq_len` is the data's long tail (e.g. p99 tokens); `ram_gib` is the
    machine's memory, which bounds a CPU plan's micro-batch (None: not checked)."""
    kind = TASK_KINDS.get(task_kind, TASK_KINDS["domain"])
    warnings: list[str] = []
    gpu = probe.gpus[0] if probe.gpus else None
    gpu_gib = probe.min_total_gib if gpu else None
    n_gpus = probe.count
    has_gpu = gpu is not None
    C: dict[str, Choice] = {}

    # ---- sequence length -------------------------------------------------------------------------
    max_pos = facts.max_positions or 4096
    if seq_len:
        want = int(math.ceil(seq_len / 64) * 64)
        seq = min(max_pos, want)
        if want > max_pos:
            why = f"the model's limit ({max_pos} tokens); longer examples (up to {seq_len} tokens) are cut"
        elif want != seq_len:
            why = f"covers your data's longest examples ({seq_len} tokens), rounded up to a multiple of 64"
        else:
            why = f"covers your data's longest examples ({seq_len} tokens)"
        C["max_seq_length"] = Choice(seq, why)
    else:
        seq = min(2048, max_pos)
        C["max_seq_length"] = Choice(seq, "a common default; set it from your data's token lengths")

    # ---- precision -------------------------------------------------------------------------------
    if not has_gpu:
        precision = "fp32"
        C["precision"] = Choice("fp32", "no GPU: the CPU trains in fp32 (practical for models up to ~0.5B)")
        if facts.params_b > 1:
            warnings.append(f"No GPU found: a {facts.params_b:.1f}B model trains slowly on a CPU (the time line says "
                            "how slowly for your data); for more than a little data, take this plan to a GPU machine "
                            "(Launch can write the run folder to take there).")
    elif probe.bf16:
        precision = "bf16"
        C["precision"] = Choice("bf16", f"{gpu.name} supports bf16: same range as fp32, no loss scaling")  # type: ignore[union-attr]
    else:
        precision = "fp16"
        C["precision"] = Choice("fp16", f"{gpu.name} has no bf16 (needs compute capability 8.0+); fp16 with loss scaling")  # type: ignore[union-attr]

    # ---- LoRA shape --------------------------------------------------------------------------------
    rank = kind.rank
    targets_key = "all-linear"  # attention-only (q,k,v,o) taught the real model less at the same steps
    targets = tuple(facts.resolve_targets(targets_key))
    dropout = 0.0 if rows > 20000 else 0.05

    # ---- effective batch, epochs, evaluation: sized from the data ----------------------------------
    sched = schedule(rows)
    eff, epochs = sched.effective_batch, sched.epochs

    # ---- method + memory: the first candidate that fits --------------------------------------------
    base = EstimateInput(method="lora", rank=rank, targets=targets, batch=1, seq=seq, grad_ckpt=False,
                         optim="adamw_torch_fused" if has_gpu else "adamw_torch", precision=precision,
                         device="cuda" if has_gpu else "cpu",
                         gpus=max(1, n_gpus), lora_dropout=dropout)
    candidates: list[tuple[EstimateInput, str]] = []
    if method:
        m = method
        optim = "paged_adamw_8bit" if m == "qlora" else base.optim
        candidates += [(replace(base, method=m, optim=optim, grad_ckpt=ck), f"you chose {m}") for ck in (False, True)]
    else:
        if rows >= 5000 and kind.id in ("complex", "knowledge") and facts.params_b <= 8:
            for ck in (False, True):
                candidates.append((replace(base, method="full", grad_ckpt=ck, lora_dropout=0.0),
                                   f"{rows:,} examples of a hard task: full fine-tuning has the highest ceiling and fits"))
        lora_why = "LoRA: ~1% of the weights trained, 90–95% of full fine-tuning quality, fits your GPU"
        candidates.append((base, lora_why))
        # then down the one remedy ladder (core/plan/remedies.py), each step on top of the previous
        why_by_remedy = {"checkpointing": lora_why, "optimizer_8bit": "LoRA with an 8-bit optimizer to fit your GPU",
                         "qlora": "QLoRA: the base model in 4-bit so it fits your GPU; slightly below 16-bit LoRA "
                                  "in quality"}
        values = values_from_input(base)
        for r in remedies.LADDER:
            if r.id == "qlora" and not facts.requantizable:
                continue  # its own quantization stays: bitsandbytes cannot take over (core/run/source_checks.py)
            ch = r.changes(values, facts.vocab_size) if r.id in why_by_remedy else None
            if ch:
                values = {**values, **ch}
                candidates.append((input_from_values(base, values), why_by_remedy[r.id]))
    chosen, why = candidates[-1]
    if has_gpu:
        for cand, reason in candidates:
            # without checkpointing, insist on room for micro-batch 2 (else checkpointing is the better trade)
            probe_batch = 1 if cand.grad_ckpt or cand is candidates[-1][0] else min(2, eff)
            if estimate(facts, replace(cand, batch=probe_batch)).fits(gpu_gib):
                chosen, why = cand, reason
                break
    else:
        chosen, why = candidates[0][0] if method else base, "LoRA: the lightest full-quality option"
        why = candidates[0][1] if method else why

    # micro-batch: the largest that fits (capped by the tables' 4–8 and by the effective batch)
    cap = min(8 if chosen.method != "full" else 16, eff)
    micro, ram_bound = 1, False
    if has_gpu:
        for b in (8, 4, 2, 1):
            if b > cap:
                continue
            if estimate(facts, replace(chosen, batch=b)).fits(gpu_gib):
                micro = b
                break
    elif facts.params_b < 1:
        micro = _pow2_floor(min(cap, 8 if facts.params_b < 0.05 else 4))  # batching uses the cores better
        # ...but in fp32 a long row's activations are large (SmolLM2-135M at 2048 tokens × 4 rows: ~24 GiB): keep
        # the peak within half the machine's RAM (the rest: the OS, the app, the data)
        while ram_gib and micro > 1 and estimate(facts, replace(chosen, batch=micro)).peak_gib > ram_gib / 2:
            micro, ram_bound = micro // 2, True
    chosen = replace(chosen, batch=micro)
    est = estimate(facts, chosen)
    if not has_gpu and ram_gib and est.peak_gib > ram_gib * 0.9:
        warnings.append(f"Training on this CPU needs ~{est.peak_gib:.1f} GiB of RAM and the machine has "
                        f"{ram_gib:.1f} GiB: use shorter sequences (max_seq_length), a smaller model, or a GPU.")
    fits = (not has_gpu) or est.fits(gpu_gib)
    if has_gpu and not fits:
        warnings.append(f"Even {chosen.method} with micro-batch 1 and gradient checkpointing needs "
                        f"~{est.peak_gib:.1f} GiB of {gpu_gib:.1f} GiB: use a smaller model, shorter sequences, "
                        "or more GPUs.")
    accum = max(1, math.ceil(eff / (micro * max(1, n_gpus))))

    C["method"] = Choice(chosen.method, why)
    if chosen.method in ("prefix", "prompt"):
        C["virtual_tokens"] = Choice(chosen.virtual_tokens, "20 trainable virtual tokens, the usual start "
                                     "(more: more capacity, longer sequences)")
    elif chosen.method in ("lora", "qlora", "dora"):
        C["rank"] = Choice(rank, f"{kind.label.split(' (')[0].lower()}: rank {rank} "
                                 f"(8 simple, 16–32 instructions, 64 complex/knowledge)")
        C["alpha"] = Choice(2 * rank, "alpha = 2 × rank, the usual scaling")
        C["dropout"] = Choice(dropout, "large dataset: dropout not needed" if dropout == 0 else "the standard 0.05")
        C["target_modules"] = Choice(
            list(targets),
            "attention projections are enough for format/tone" if targets_key == "attention"
            else "all linear layers: the most capacity per parameter (QLoRA paper)")
    C["micro_batch"] = Choice(micro, f"the largest that fits your GPU with the estimate's {est.margin:.0%} margin" if has_gpu
                              else f"CPU training: the most rows per pass whose memory stays within half of the "
                                   f"{ram_gib:.0f} GiB of RAM" if ram_bound and ram_gib and est.peak_gib <= ram_gib / 2
                              else f"CPU training: one row per pass, the least memory (~{est.peak_gib:.1f} GiB of the "
                                   f"{ram_gib:.0f} GiB of RAM)" if ram_bound and ram_gib
                              else "CPU training: a few rows per pass use the cores better than one" if micro > 1
                              else "CPU training: one row per pass")
    real_eff = micro * accum * max(1, n_gpus)
    C["gradient_accumulation"] = Choice(accum, f"reaches an effective batch of {real_eff}: about 1/16 of your "
                                        f"{sched.train_rows:,} training rows (4–32), so each epoch has "
                                        f"{sched.steps_per_epoch} optimizer steps")
    if chosen.method == "full":
        lr, lr_why = ((1e-5, "1e-5: full fine-tuning of a model this large") if facts.params_b > 30 else
                      (2e-5, "2e-5, the usual full fine-tuning learning rate"))
    else:
        lr, lr_why = adapter_lr(facts.params_b)
    C["learning_rate"] = Choice(lr, lr_why)
    steps = math.ceil(sched.train_rows / real_eff) * epochs
    C["epochs"] = Choice(epochs, f"{epochs} passes = {steps} optimizer steps" + (
        f": raised from {3 if rows < 5000 else 2 if rows < 20000 else 1} so a small set gets the ~{MIN_STEPS} steps "
        "a behaviour needs" + (f" (capped at {MAX_EPOCHS}: more data would help)" if epochs == MAX_EPOCHS else "")
        if sched.stretched else (": the usual 3 for a set this size" if epochs == 3 else
                                 ": fewer passes over more data avoid overfitting")))
    ev = max(1, round(steps / (5 if steps < 500 else 10)))
    C["eval_steps"] = Choice(ev, f"evaluate every {ev} steps ({steps // ev} times) and once before training, "
                                 "so the curve shows whether it learns")
    C["warmup_ratio"] = Choice(0.03 if steps >= 100 else 0.1,
                               "3% warmup prevents early loss spikes" if steps >= 100 else
                               "10% warmup: a few steps of a short run, so the first steps do not overshoot")
    C["lr_scheduler"] = Choice("cosine", "cosine decay is the usual schedule for fine-tuning")
    C["weight_decay"] = Choice(0.01, "light regularization")
    C["gradient_checkpointing"] = Choice(
        chosen.grad_ckpt, "recompute activations to save memory (~30% slower)" if chosen.grad_ckpt
        else "not needed: activations fit, so training runs faster")
    C["optimizer"] = Choice(chosen.optim, {
        "adamw_torch_fused": "fused AdamW: fast, standard",
        "adamw_torch": "AdamW",
        "adamw_bnb_8bit": "8-bit AdamW states: 4× smaller optimizer memory",
        "paged_adamw_8bit": "paged 8-bit AdamW, the QLoRA recipe: survives memory spikes",
    }.get(chosen.optim, chosen.optim))
    if n_gpus > 1:
        engine = "fsdp" if chosen.method == "full" else "ddp"
        C["engine"] = Choice(engine, "FSDP shards weights, gradients and optimizer across GPUs"
                             if engine == "fsdp" else "DDP: each GPU holds the adapter model, data is split")
    if rows < kind.min_examples:
        warnings.append(f"{rows:,} examples is below the ~{kind.min_examples:,} suggested for "
                        f"{kind.label.lower()}; results may be weak.")
    return Plan(model=facts.name, task_kind=kind.id, choices=C, estimate=est,
                gpu_name=gpu.name if gpu else None, gpu_gib=round(gpu_gib, 2) if gpu_gib else None,
                gpus=n_gpus, fits=fits, warnings=warnings)
