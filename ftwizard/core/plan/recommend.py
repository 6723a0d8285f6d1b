"""The recommender: decision answers + model facts + GPUs (+ dataset stats) → a Plan.

A pure function. Starting points follow the reference tables (LoRA r by task, alpha = 2r, LR 2e-4 for
adapters and 2e-5 for full fine-tuning, effective batch 32, 3 epochs, 3% warmup, cosine); the memory
estimate then overrides them: method, micro-batch, checkpointing and optimizer are chosen so the
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


def recommend(
    facts: ModelFacts,
    probe: ProbeResult,
    task_kind: str = "domain",
    rows: int = 1000,
    seq_len: int | None = None,
    method: str | None = None,
) -> Plan:
    """Recommend a complete training plan. `seq_len` is the data's long tail (e.g. p99 tokens)."""
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
        C["precision"] = Choice("fp32", "no GPU: the CPU trains in fp32 (only tiny models are practical)")
        warnings.append("No GPU found: this plan is for planning; training on a CPU suits only tiny models "
                        "(try `ftwizard demo`).")
    elif probe.bf16:
        precision = "bf16"
        C["precision"] = Choice("bf16", f"{gpu.name} supports bf16: same range as fp32, no loss scaling")  # type: ignore[union-attr]
    else:
        precision = "fp16"
        C["precision"] = Choice("fp16", f"{gpu.name} has no bf16 (needs compute capability 8.0+); fp16 with loss scaling")  # type: ignore[union-attr]

    # ---- LoRA shape --------------------------------------------------------------------------------
    rank = kind.rank
    targets_key = "attention" if kind.id == "format" else "all-linear"
    targets = tuple(facts.resolve_targets(targets_key))
    dropout = 0.1 if rows < 1000 else (0.0 if rows > 20000 else 0.05)

    # ---- effective batch, epochs -----------------------------------------------------------------
    eff = max(8, min(32, _pow2_floor(rows / 20)))
    epochs = 3 if rows < 5000 else (2 if rows < 20000 else 1)

    # ---- method + memory: the first candidate that fits --------------------------------------------
    base = EstimateInput(method="lora", rank=rank, targets=targets, batch=1, seq=seq, grad_ckpt=False,
                         optim="adamw_torch_fused" if has_gpu else "adamw_torch", precision=precision,
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
    micro = 1
    if has_gpu:
        for b in (8, 4, 2, 1):
            if b > cap:
                continue
            if estimate(facts, replace(chosen, batch=b)).fits(gpu_gib):
                micro = b
                break
    elif facts.params_b < 0.05:
        micro = _pow2_floor(min(cap, 8))
    chosen = replace(chosen, batch=micro)
    est = estimate(facts, chosen)
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
        C["dropout"] = Choice(dropout, "more regularization for small datasets" if rows < 1000 else
                              ("large dataset: dropout not needed" if dropout == 0 else "the standard 0.05"))
        C["target_modules"] = Choice(
            list(targets),
            "attention projections are enough for format/tone" if targets_key == "attention"
            else "all linear layers: the most capacity per parameter (QLoRA paper)")
    C["micro_batch"] = Choice(micro, f"the largest that fits your GPU with the estimate's {est.margin:.0%} margin" if has_gpu
                              else "small: CPU training")
    C["gradient_accumulation"] = Choice(accum, f"reaches an effective batch of {micro * accum * max(1, n_gpus)}")
    lr = 2e-5 if chosen.method == "full" else 2e-4
    if facts.params_b > 30:
        lr /= 2
    C["learning_rate"] = Choice(lr, "2e-4 for adapters, 2e-5 for full fine-tuning" +
                                ("; halved for a model this large" if facts.params_b > 30 else ""))
    C["epochs"] = Choice(epochs, f"{rows:,} examples: " + ("3 passes" if epochs == 3 else
                                  "fewer passes over more data avoid overfitting"))
    C["warmup_ratio"] = Choice(0.03, "3% warmup prevents early loss spikes")
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
