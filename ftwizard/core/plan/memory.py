"""GPU memory estimator for fine-tuning, shown in parts.

Models the Hugging Face stack that ftwizard's trainer runs (transformers + PEFT + TRL + bitsandbytes):

- weights: by dtype; QLoRA stores the blocks' linear layers in NF4 (0.5 byte/param plus one fp32 absmax
  per 64 weights, or ~0.127 bit/param with double quantization); embeddings, norms and lm_head stay 16-bit.
- trainable parameters → gradients and optimizer states. PEFT keeps adapter weights in fp32 by default,
  so an adapter parameter costs 4 (weight) + 4 (grad) + 8 (AdamW) bytes.
- activations: what autograd saves per layer per token, counted from the layer's shapes (norm inputs,
  projections, attention output, the MLP's intermediate tensors, LoRA dropout copies); with gradient
  checkpointing only each layer's input is kept plus one layer being recomputed.
- logits: batch × seq × vocab in the compute dtype, upcast to fp32 for the loss, plus log-softmax and its
  gradient — large for 128k–256k vocabularies; a fused/chunked loss (Liger) removes most of it.
- overhead: the CUDA context (outside PyTorch's allocator) and allocator fragmentation.

`peak_allocated_gib` predicts torch.cuda.max_memory_allocated(); `peak_gib` what nvidia-smi shows and
what must fit on the card. `bench/estimator_error.py` reports the error against published measurements.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ftwizard.core.plan.model_facts import ModelFacts

GIB = 1024**3
METHODS = ("full", "lora", "qlora", "dora")
PRECISIONS = ("bf16", "fp16", "fp32", "bf16-mixed", "fp16-mixed")
ATTENTIONS = ("sdpa", "flash", "eager")

# Calibrated constants (see bench/estimator_error.py and the closing notes of the estimator issue).
CUDA_CONTEXT_GIB = 0.5  # CUDA context + cuBLAS/cuDNN workspaces, outside the allocator
ALLOCATOR_SLACK = 0.08  # reserved-but-unused fraction of the allocator's pool
LOGIT_BYTES_FULL_LOSS = 12.0  # bf16 logits + fp32 copy + fp32 log-softmax + fp32 grad (partly overlapping)
LOGIT_BYTES_NO_UPCAST = 8.0  # 16-bit logits, shifted copy, 16-bit log-softmax and its grad
LOGIT_BYTES_CHUNKED = 6.0  # chunked CE (LitGPT, torchtune): 16-bit logits + fp32 log-softmax saved per chunk
LOGIT_BYTES_FUSED = 0.5  # fused linear+CE (Liger): logits never materialized in full
LOGIT_BYTES_HEAD_LORA = 4.0  # LoRA on lm_head: the adapter's vocab-sized output and the sum


@dataclass(frozen=True)
class EstimateInput:
    method: str = "lora"
    rank: int = 16
    targets: tuple[str, ...] = ()  # resolved module names
    batch: int = 1
    seq: int = 2048
    grad_ckpt: bool = True
    optim: str = "adamw_torch"
    precision: str = "bf16"
    attention: str = "sdpa"
    gpus: int = 1
    engine: str = "auto"  # ddp | fsdp | zero2 | zero3 | auto
    lora_dropout: float = 0.05
    double_quant: bool = True
    loss: str = "full"  # full (HF default) | fused (Liger linear+CE) | chunked | no-upcast
    adapter_dtype: str = "fp32"  # fp32 (PEFT default) | model (adapters in the base dtype)


@dataclass
class Estimate:
    inp: EstimateInput
    model: str
    params: int
    trainable_params: int
    parts_bytes: dict[str, float]
    notes: list[str] = field(default_factory=list)

    @property
    def peak_allocated_bytes(self) -> float:
        return sum(v for k, v in self.parts_bytes.items() if k != "overhead")

    @property
    def peak_bytes(self) -> float:
        return self.peak_allocated_bytes + self.parts_bytes["overhead"]

    @property
    def peak_gib(self) -> float:
        return self.peak_bytes / GIB

    @property
    def peak_allocated_gib(self) -> float:
        return self.peak_allocated_bytes / GIB

    def part_gib(self, name: str) -> float:
        return self.parts_bytes.get(name, 0.0) / GIB

    def to_dict(self) -> dict[str, Any]:
        inp = asdict(self.inp)
        inp["targets"] = list(self.inp.targets)
        return {
            "model": self.model,
            "params": self.params,
            "trainable_params": self.trainable_params,
            "trainable_pct": round(100.0 * self.trainable_params / max(self.params, 1), 4),
            "parts_gib": {k: round(v / GIB, 3) for k, v in self.parts_bytes.items()},
            "peak_allocated_gib": round(self.peak_allocated_gib, 3),
            "peak_gib": round(self.peak_gib, 3),
            "per_gpu": True,
            "inputs": inp,
            "notes": self.notes,
        }


def _dtype_bytes(precision: str) -> int:
    return 4 if precision in ("fp32", "bf16-mixed", "fp16-mixed") else 2


def optimizer_bytes_per_param(optim: str, param_bytes: int) -> tuple[float, str | None]:
    """Bytes of optimizer state per trainable parameter, and a note for paged optimizers."""
    o = optim.lower()
    note = None
    if o.startswith("paged_"):
        note = "paged optimizer: its states live in CUDA managed memory and can spill to CPU under pressure"
    if "8bit" in o or "8_bit" in o:
        per = 1.0 if "lion" in o else 2.0
    elif "4bit" in o:
        per = 1.0
    elif "lion" in o:
        per = 4.0 if ("32bit" in o or "bnb" in o or o.startswith("paged")) else float(param_bytes)
    elif "bnb" in o or o.startswith("paged_adamw") or "32bit" in o:
        per = 8.0  # bitsandbytes 32-bit states are fp32 regardless of the parameter dtype
    elif o.startswith("adafactor"):
        per = 0.1 * param_bytes  # factored second moment; row+column statistics only
    elif o == "sgd":
        per = 0.0
    elif o in ("adagrad", "rmsprop"):
        per = float(param_bytes)
    else:  # adamw_torch, adamw_torch_fused, adamw_hf, adamw_apex_fused, adamw_torch_xla, …
        per = 2.0 * param_bytes
    return per, note


def _activation_elems_per_token_layer(facts: ModelFacts, inp: EstimateInput, seq: int) -> float:
    """Elements (in the compute dtype) that one layer saves for backward, per token."""
    h = facts.hidden_size
    q_out = facts.heads * facts.head_dim
    kv_out = facts.kv_heads * facts.head_dim
    inter = facts.intermediate_size * max(1, facts.experts_per_token)
    # attention half: norm input (fp32 inside RMSNorm → 2 elems) + normed input, q/k/v (+ rotated q/k),
    # attention output (o_proj input) and the kernel's saved output/logsumexp
    attn = 3 * h + 3 * q_out + 3 * kv_out
    if inp.attention == "eager":
        attn += 3 * facts.heads * seq  # fp32 softmax output + 16-bit copy for the matmul
    # MLP half: norm input + normed input, then the intermediate tensors
    mlp = (0 if facts.parallel_block else 3 * h) + (4 * inter if facts.gated_mlp else 2 * inter)
    elems = float(attn + mlp)
    if inp.method != "full":
        for lin in facts.targeted_linears(list(inp.targets)):
            # PEFT casts x to the adapter dtype and applies dropout: a saved copy (+ mask) per module
            copy = 2.0 if inp.adapter_dtype == "fp32" and _dtype_bytes(inp.precision) == 2 else 1.0
            elems += lin.in_features * ((copy + 0.5) if inp.lora_dropout > 0 else 0.0) + inp.rank
            if inp.method == "dora":
                elems += lin.out_features  # DoRA keeps the weight-norm path's output
    return elems


def estimate(facts: ModelFacts, inp: EstimateInput) -> Estimate:
    """Estimate the per-GPU peak memory of one training step."""
    if inp.method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {inp.method!r}")
    if inp.precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {inp.precision!r}")
    if inp.method != "full" and not inp.targets:
        inp = replace(inp, targets=tuple(facts.resolve_targets("all-linear")))
    notes: list[str] = []
    P = facts.param_count
    wb = _dtype_bytes(inp.precision)
    act_bytes = 2 if inp.precision != "fp32" else 4
    if inp.precision in ("bf16-mixed", "fp16-mixed"):
        act_bytes = 2.5  # autocast: matmul outputs 16-bit, norms/residual stream fp32
    gpus = max(1, inp.gpus)
    engine = inp.engine
    if engine == "auto":
        engine = "fsdp" if (inp.method == "full" and gpus > 1) else "ddp"

    # ---- weights ---------------------------------------------------------------------------------
    if inp.method == "qlora":
        if inp.precision in ("fp32", "bf16-mixed", "fp16-mixed"):
            notes.append("QLoRA computes in 16-bit; precision treated as bf16/fp16 for the base model")
        wb = 2
        act_bytes = 2
        lin = facts.block_linear_params
        per = 0.5 + (0.127 / 8 if inp.double_quant else 4 / 64)
        weights = lin * per + (P - lin) * 2
        # the largest linear is dequantized to 16-bit on the fly, once forward and once backward
        biggest = max(x.in_features * x.out_features for x in facts.linears)
        weights += 2 * biggest * 2
    else:
        weights = P * wb

    # ---- trainable -------------------------------------------------------------------------------
    if inp.method == "full":
        trainable = P
        tb = wb
    else:
        trainable = facts.lora_params(inp.rank, list(inp.targets), dora=inp.method == "dora")
        tb = 4 if inp.adapter_dtype == "fp32" else wb
        weights += trainable * tb
    grads = trainable * tb
    opt_per, opt_note = optimizer_bytes_per_param(inp.optim, tb)
    if opt_note:
        notes.append(opt_note)
    optimizer = trainable * opt_per
    if inp.method == "full" and inp.precision in ("bf16-mixed", "fp16-mixed"):
        notes.append("mixed precision: fp32 master weights; autocast makes 16-bit copies layer by layer")

    # ---- sharding across GPUs --------------------------------------------------------------------
    if gpus > 1:
        if engine in ("fsdp", "zero3"):
            weights_shard = weights / gpus
            # FSDP gathers one layer's full weights at a time
            weights = weights_shard + (weights - weights_shard) / max(facts.layers, 1) * 2
            grads /= gpus
            optimizer /= gpus
        elif engine == "zero2":
            grads /= gpus
            optimizer /= gpus
        elif engine != "ddp":
            raise ValueError(f"unknown engine {engine!r}")
        if engine == "ddp":
            notes.append("DDP keeps a full copy of the model on every GPU")

    # ---- activations -----------------------------------------------------------------------------
    tokens = inp.batch * inp.seq
    per_layer_token = _activation_elems_per_token_layer(facts, inp, inp.seq) * act_bytes
    if inp.grad_ckpt:
        resid_bytes = 4 if inp.precision in ("fp32", "bf16-mixed", "fp16-mixed") else 2
        activations = tokens * (facts.layers * facts.hidden_size * resid_bytes + per_layer_token)
    else:
        activations = tokens * facts.layers * per_layer_token
    activations += tokens * facts.hidden_size * act_bytes * 2  # embeddings output + final norm

    # ---- logits ----------------------------------------------------------------------------------
    if inp.loss == "fused":
        logit_bytes = LOGIT_BYTES_FUSED
    elif inp.loss == "chunked":
        logit_bytes = LOGIT_BYTES_CHUNKED
    elif facts.upcasts_logits and inp.loss != "no-upcast":
        logit_bytes = LOGIT_BYTES_FULL_LOSS + (2 if inp.precision == "fp32" else 0)
    else:
        logit_bytes = LOGIT_BYTES_NO_UPCAST
    if inp.method != "full" and "lm_head" in inp.targets:
        logit_bytes += LOGIT_BYTES_HEAD_LORA
    logits = tokens * facts.vocab_size * logit_bytes

    allocated = weights + grads + optimizer + activations + logits
    overhead = CUDA_CONTEXT_GIB * GIB + ALLOCATOR_SLACK * allocated
    parts = {
        "weights": weights,
        "gradients": grads,
        "optimizer": optimizer,
        "activations": activations,
        "logits": logits,
        "overhead": overhead,
    }
    if logits > 0.25 * allocated and inp.loss != "fused":
        notes.append(
            f"logits take {logits / GIB:.1f} GiB (vocab {facts.vocab_size:,}); "
            "a fused loss (use_liger_kernel) or a shorter sequence cuts this"
        )
    return Estimate(inp=inp, model=facts.name, params=P, trainable_params=trainable, parts_bytes=parts,
                    notes=notes)


# ---- fitting ---------------------------------------------------------------------------------------

SAFETY_MARGIN = 0.90  # plan to use at most 90% of the card


def max_micro_batch(facts: ModelFacts, inp: EstimateInput, gpu_gib: float, limit: int = 256) -> int:
    """The largest micro-batch whose estimated peak fits in `gpu_gib` × SAFETY_MARGIN (0 if none)."""
    budget = gpu_gib * SAFETY_MARGIN
    best = 0
    b = 1
    while b <= limit and estimate(facts, replace(inp, batch=b)).peak_gib <= budget:
        best = b
        b *= 2
    if best == 0:
        return 0
    lo, hi = best, min(best * 2, limit + 1)  # binary search in (best, hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if estimate(facts, replace(inp, batch=mid)).peak_gib <= budget:
            lo = mid
        else:
            hi = mid
    return lo


@dataclass
class FitAdvice:
    fits: bool
    peak_gib: float
    budget_gib: float
    steps: list[tuple[str, float]]  # (what to change, peak after it)


def fit_advice(facts: ModelFacts, inp: EstimateInput, gpu_gib: float) -> FitAdvice:
    """If it does not fit: the ladder gradient checkpointing → 8-bit optimizer → QLoRA → shorter
    sequences → more GPUs (FSDP/ZeRO), each step applied on top of the previous, with its new peak."""
    budget = gpu_gib * SAFETY_MARGIN
    peak = estimate(facts, inp).peak_gib
    steps: list[tuple[str, float]] = []
    if peak <= budget:
        return FitAdvice(True, peak, budget, steps)
    cur = inp
    if cur.batch > 1:
        cur = replace(cur, batch=1)
        steps.append((f"micro-batch 1 with gradient accumulation {inp.batch}", estimate(facts, cur).peak_gib))
    if not cur.grad_ckpt:
        cur = replace(cur, grad_ckpt=True)
        steps.append(("turn on gradient checkpointing", estimate(facts, cur).peak_gib))
    if "8bit" not in cur.optim:
        cur = replace(cur, optim="adamw_bnb_8bit")
        steps.append(("use the 8-bit AdamW optimizer (adamw_bnb_8bit)", estimate(facts, cur).peak_gib))
    if cur.loss != "fused" and facts.vocab_size >= 100_000:
        cur = replace(cur, loss="fused")
        steps.append(("use a fused loss (use_liger_kernel=True)", estimate(facts, cur).peak_gib))
    if cur.method in ("full", "lora", "dora"):
        targets = cur.targets or tuple(facts.resolve_targets("all-linear"))
        cur = replace(cur, method="qlora", targets=targets, precision="bf16")
        steps.append(("switch to QLoRA (4-bit base model)", estimate(facts, cur).peak_gib))
    seq = cur.seq
    while seq > 256 and estimate(facts, cur).peak_gib > budget:
        seq //= 2
        cur = replace(cur, seq=seq)
        steps.append((f"shorten sequences to {seq} tokens", estimate(facts, cur).peak_gib))
    if estimate(facts, cur).peak_gib > budget:
        for n in (2, 4, 8):
            trial = replace(inp, gpus=n, engine="fsdp", grad_ckpt=True)
            p = estimate(facts, trial).peak_gib
            steps.append((f"{n} GPUs with FSDP / ZeRO-3 (original method)", p))
            if p <= budget:
                break
    return FitAdvice(False, peak, budget, steps)
