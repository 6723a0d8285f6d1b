"""GPU memory estimator for fine-tuning, shown in parts.

Models the Hugging Face stack that ftwizard's trainer runs (transformers + PEFT + TRL + bitsandbytes):

- weights: by dtype; QLoRA stores the blocks' linear layers in NF4 (0.5 byte/param plus one fp32 absmax
  per 64 weights, or ~0.127 bit/param with double quantization); embeddings, norms and lm_head stay 16-bit.
- trainable parameters → gradients and optimizer states. PEFT keeps adapter weights in fp32 by default,
  so an adapter parameter costs 4 (weight) + 4 (grad) + 8 (AdamW) bytes.
- prefix / prompt / IA3: a frozen base like LoRA's; trainable vectors only (prefix: a key and a value per
  virtual token per layer, 2 × L × n × kv_dim; prompt: n × hidden, and every sequence n tokens longer;
  IA3: L × (2 × kv_dim + intermediate) scales), each with a 4-byte weight, 4-byte gradient and 8-byte AdamW.
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
METHODS = ("full", "lora", "qlora", "dora", "prefix", "prompt", "ia3")
LORA_METHODS = ("lora", "qlora", "dora")
VECTOR_METHODS = ("prefix", "prompt", "ia3")  # PEFT methods that train vectors, not low-rank matrices
PRECISIONS = ("bf16", "fp16", "fp32", "bf16-mixed", "fp16-mixed")
ATTENTIONS = ("sdpa", "flash", "eager")

# Calibrated constants (see bench/estimator_error.py and the closing notes of the estimator issue).
# Outside the allocator, what nvidia-smi shows for a training process: the CUDA context plus the kernel images it
# loads as they are first used (cuBLAS/cuBLASLt, attention, bitsandbytes), ~0.3-0.5 GiB + ~0.5 GiB. Was 0.5: the
# calibration set cannot pin it (15 of 76 rows read nvidia-smi-like peaks, 10 of them with the 4-bit workspace on
# top; 0.5 → 1.0 moves its median 8.6% → 8.8%), and short LoRA runs read that way were 1.1 GB above the parts.
CUDA_CONTEXT_GIB = 1.0
ALLOCATOR_SLACK = 0.08  # reserved-but-unused fraction of the allocator's pool
# On a CPU the figure that matters is the trainer process's resident memory (RAM), measured as its peak RSS on
# SmolLM2-135M LoRA in fp32 (bench/cpu_memory.py): Python, PyTorch, transformers, TRL and the data take ~0.55 GiB
# before the model loads (imports alone: 0.51 GiB), and what training allocates besides the weights (activations,
# logits, gradients, optimizer states) costs ~1.45× its tensor size in RSS: the CPU allocator keeps freed
# intermediates (glibc arenas), so the peak is above the saved tensors the estimate counts.
CPU_RUNTIME_GIB = 0.55
CPU_DYNAMIC_SLACK = 0.45
LOGIT_BYTES_FULL_LOSS = 12.0  # bf16 logits + fp32 copy + fp32 log-softmax + fp32 grad (partly overlapping)
LOGIT_BYTES_NO_UPCAST = 8.0  # 16-bit logits, shifted copy, 16-bit log-softmax and its grad
LOGIT_BYTES_CHUNKED = 6.0  # chunked CE (LitGPT, torchtune): 16-bit logits + fp32 log-softmax saved per chunk
LOGIT_BYTES_FUSED = 0.5  # fused linear+CE (Liger): logits never materialized in full
LOGIT_BYTES_HEAD_LORA = 4.0  # LoRA on lm_head: the adapter's vocab-sized output and the sum
QLORA_WORKSPACE_GIB = 1.5  # bitsandbytes/torchao 4-bit: dequantization buffers, quant states, kernel workspaces
# (QLoRA at short sequences measured 1.5–3.7 GB above the parts; see bench/estimator_error.py)
DEEPSPEED_EXTRA_BYTES = 4.0  # ZeRO mixed precision: a 16-bit copy of the weights and 16-bit gradients
# next to the fp32 master weights and fp32 gradient partitions (20 bytes/param instead of 16)

# Uncertainty: the measured/estimated ratio spread per regime on the published measurements
# (bench/estimator_error.py). `high_gib` = peak × (1 + over) is what "fits" is checked with.
BASE_MARGIN = 0.10
UNDER = 0.25  # HF-stack measurements were up to ~20% below the central estimate (compiled/chunked stacks lower)
SHORT_TOKENS = 1024  # micro-batch × sequence at or below this: fixed costs dominate
MARGINS: dict[tuple[str, str], float] = {
    # (method group, "short" | "long") → extra fraction on top of the central estimate
    ("qlora", "short"): 0.27,
    ("qlora", "long"): 0.12,
    ("adapter", "short"): 0.20,
    ("adapter", "long"): 0.10,
    ("full", "short"): 0.15,
    ("full", "long"): 0.10,
}


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
    virtual_tokens: int = 20  # prefix / prompt tuning: trainable virtual tokens
    # the training objective's own terms (core/trainers.py TrainerSpec): a frozen reference copy, generation
    trainer: str = "sft"
    generations: int = 8  # GRPO: completions per prompt
    completion_len: int = 256  # GRPO: longest generated completion (tokens)
    teacher_params: int | None = None  # GKD: the teacher's parameter count (None: same size as the student)
    device: str = "cuda"  # cuda | cpu: what the overhead is (the CUDA context and pool, or the process's RAM)


@dataclass
class Estimate:
    inp: EstimateInput
    model: str
    params: int
    trainable_params: int
    parts_bytes: dict[str, float]
    notes: list[str] = field(default_factory=list)
    margin: float = BASE_MARGIN  # "fits" means peak × (1 + margin) ≤ the card
    under: float = 0.25  # the measurement may be this fraction below the central estimate
    active_params: int | None = None  # MoE, multimodal: the parameters a text token goes through (compute, time)

    @property
    def compute_params(self) -> int:
        """The parameters a text token's forward and backward pass multiply through: all of them, or a mixture of
        experts' active ones, or a multimodal model's language part (idle experts and encoders take memory, not
        time)."""
        return self.active_params or self.params

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

    @property
    def high_gib(self) -> float:
        """The top of the range: what the plan checks against the card."""
        return self.peak_gib * (1 + self.margin)

    @property
    def low_gib(self) -> float:
        return self.peak_gib * (1 - self.under)

    def fits(self, card_gib: float | None) -> bool:
        """True when the top of the range fits on a card of `card_gib` (no card: nothing to check)."""
        return card_gib is None or self.high_gib <= card_gib

    def part_gib(self, name: str) -> float:
        return self.parts_bytes.get(name, 0.0) / GIB

    def to_dict(self) -> dict[str, Any]:
        inp = asdict(self.inp)
        inp["targets"] = list(self.inp.targets)
        return {
            "model": self.model,
            "params": self.params,
            **({"active_params": self.active_params} if self.active_params else {}),
            "trainable_params": self.trainable_params,
            "trainable_pct": round(100.0 * self.trainable_params / max(self.params, 1), 4),
            "parts_gib": {k: round(v / GIB, 3) for k, v in self.parts_bytes.items()},
            "peak_allocated_gib": round(self.peak_allocated_gib, 3),
            "peak_gib": round(self.peak_gib, 3),
            "low_gib": round(self.low_gib, 3),
            "high_gib": round(self.high_gib, 3),
            "margin": self.margin,
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
    if inp.method == "ia3":  # the scaled k, v and MLP-input tensors are saved for the vectors' gradients
        elems += 2 * kv_out + inter
    if inp.method in LORA_METHODS:
        for lin in facts.targeted_linears(list(inp.targets)):
            # PEFT casts x to the adapter dtype and applies dropout: a saved copy (+ mask) per module
            copy = 2.0 if inp.adapter_dtype == "fp32" and _dtype_bytes(inp.precision) == 2 else 1.0
            elems += lin.in_features * ((copy + 0.5) if inp.lora_dropout > 0 else 0.0) + inp.rank
            if inp.method == "dora":
                elems += lin.out_features  # DoRA keeps the weight-norm path's output
    return elems


def vector_params(facts: ModelFacts, method: str, virtual_tokens: int) -> int:
    """Trainable parameters of prefix tuning, prompt tuning or IA3 (PEFT's default targets: k, v, MLP input)."""
    kv_dim = facts.kv_heads * facts.head_dim
    if method == "prefix":
        return 2 * facts.layers * virtual_tokens * kv_dim
    if method == "prompt":
        return virtual_tokens * facts.hidden_size
    if method == "ia3":
        return facts.layers * (2 * kv_dim + facts.intermediate_size)
    raise ValueError(f"{method!r} is not a vector method ({', '.join(VECTOR_METHODS)})")


def estimate(facts: ModelFacts, inp: EstimateInput) -> Estimate:
    """Estimate the per-GPU peak memory of one training step."""
    if inp.method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {inp.method!r}")
    if inp.precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {inp.precision!r}")
    if inp.method in LORA_METHODS and not inp.targets:
        inp = replace(inp, targets=tuple(facts.resolve_targets("all-linear")))
    notes: list[str] = []
    P = facts.param_count
    wb = _dtype_bytes(inp.precision)
    act_bytes: float = 2 if inp.precision != "fp32" else 4
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
    trainable = trainable_count(facts, inp.method, inp.rank, inp.targets, inp.virtual_tokens)
    if inp.method == "full":
        tb = wb
    else:  # adapters and vectors: their own weights, beside the frozen base
        tb = 4 if inp.adapter_dtype == "fp32" else wb
        weights += trainable * tb
    grads: float = trainable * tb
    opt_per, opt_note = optimizer_bytes_per_param(inp.optim, tb)
    if opt_note:
        notes.append(opt_note)
    optimizer = trainable * opt_per
    if inp.method == "full" and inp.precision in ("bf16-mixed", "fp16-mixed"):
        notes.append("mixed precision: fp32 master weights; autocast makes 16-bit copies layer by layer")
        if engine in ("zero2", "zero3", "deepspeed"):
            weights += trainable * DEEPSPEED_EXTRA_BYTES / 2
            grads += trainable * DEEPSPEED_EXTRA_BYTES / 2
    # torch's foreach AdamW makes a parameter-sized temporary (sqrt of the second moment) during the step;
    # the fused and 8-bit ones do not. It exists after backward, when the activations are gone.
    o = inp.optim.lower()
    step_temp = trainable * tb if (o in ("adamw_torch", "adamw_hf", "adamw_torch_xla") and opt_per > 0) else 0.0

    # ---- sharding across GPUs --------------------------------------------------------------------
    if gpus > 1:
        step_temp /= gpus if engine in ("fsdp", "zero3", "zero2") else 1
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
    seq = inp.seq + (inp.virtual_tokens if inp.method == "prompt" else 0)  # the virtual tokens lead every row
    tokens = inp.batch * seq * sequences_per_example(inp.trainer)
    per_layer_token = _activation_elems_per_token_layer(facts, inp, seq) * act_bytes
    if inp.method == "prefix":  # every layer attends to n more keys/values (saved for backward)
        per_layer_token += 2 * inp.virtual_tokens * facts.kv_heads * facts.head_dim * act_bytes / max(inp.seq, 1)
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
    elif (facts.upcasts_logits or autocast_loss(inp, engine)) and inp.loss != "no-upcast":
        logit_bytes = LOGIT_BYTES_FULL_LOSS + (2 if inp.precision == "fp32" else 0)
    else:
        logit_bytes = LOGIT_BYTES_NO_UPCAST
    if inp.method in LORA_METHODS and "lm_head" in inp.targets:
        logit_bytes += LOGIT_BYTES_HEAD_LORA
    logits = tokens * facts.vocab_size * logit_bytes

    if inp.method == "qlora":
        activations += QLORA_WORKSPACE_GIB * GIB  # transient 4-bit buffers, alive during forward/backward
    step_extra = max(0.0, step_temp - activations - logits)  # the step's peak above backward's peak
    reference, generation = trainer_terms(facts, inp, P, wb, notes)
    allocated = weights + grads + optimizer + activations + logits + step_extra + reference + generation
    if inp.device == "cpu":  # RAM: the runtime, and the CPU allocator's slack on everything but the weights
        overhead = CPU_RUNTIME_GIB * GIB + CPU_DYNAMIC_SLACK * max(0.0, allocated - weights)
    else:
        overhead = CUDA_CONTEXT_GIB * GIB + ALLOCATOR_SLACK * allocated
    parts = {
        "weights": weights,
        "gradients": grads,
        "optimizer": optimizer,
        "activations": activations,
        "logits": logits,
        "optimizer_step": step_extra,
        **({"reference": reference} if reference else {}),
        **({"generation": generation} if generation else {}),
        "overhead": overhead,
    }
    if logits > 0.25 * allocated and inp.loss != "fused":
        notes.append(
            f"logits take {logits / GIB:.1f} GiB (vocab {facts.vocab_size:,}); "
            "a fused loss (use_liger_kernel) or a shorter sequence cuts this"
        )
    margin = uncertainty(inp)
    active = facts.active_param_count if facts.active_param_count != P else None
    return Estimate(inp=inp, model=facts.name, params=P, trainable_params=trainable, parts_bytes=parts,
                    notes=notes, margin=margin, under=UNDER, active_params=active)


def trainable_count(facts: ModelFacts, method: str, rank: int, targets: tuple[str, ...] | list[str],
                    virtual_tokens: int = 20) -> int:
    """Parameters a method trains: all of them (full), the PEFT vectors (prefix/prompt/IA3) or the LoRA/DoRA
    matrices on `targets` (resolved module names)."""
    if method == "full":
        return facts.param_count
    if method in VECTOR_METHODS:
        return vector_params(facts, method, virtual_tokens)
    return facts.lora_params(rank, list(targets), dora=method == "dora")


def autocast_loss(inp: EstimateInput, engine: str) -> bool:
    """True when the loss runs under torch autocast, which computes log-softmax/cross-entropy in fp32 whatever the
    model's code does: the HF Trainer (accelerate) autocasts the forward with bf16/fp16 unless DeepSpeed owns the
    mixed precision. So a model whose own loss stays 16-bit (Qwen v1 remote code) still pays for fp32 logits."""
    return inp.precision != "fp32" and engine not in ("zero2", "zero3", "deepspeed")


def sequences_per_example(trainer: str) -> int:
    """Preference objectives run the chosen and the rejected answer (KTO: the answer and a mismatched KL pair)."""
    from ftwizard.core.trainers import TRAINERS

    spec = TRAINERS.get(trainer)
    return 2 if spec is not None and ("preference" in spec.families or "kto" in spec.families) else 1


def trainer_terms(facts: ModelFacts, inp: EstimateInput, params: int, weight_bytes: float,
                  notes: list[str]) -> tuple[float, float]:
    """(reference, generation) bytes for the objective: a frozen reference copy for a full-model DPO/KTO (with an
    adapter the reference is the base with the adapter off: no copy; reference-free objectives have none); a teacher;
    GRPO's generation KV cache (micro-batch × (prompt + completion) tokens, every layer's keys and values)."""
    from ftwizard.core.trainers import TRAINERS

    spec = TRAINERS.get(inp.trainer)
    if spec is None:
        return 0.0, 0.0
    reference = 0.0
    if spec.reference_model and inp.method == "full":
        reference = params * max(weight_bytes, 2) / max(1, inp.gpus if inp.engine in ("fsdp", "zero3") else 1)
        notes.append(f"{inp.trainer}: a frozen reference copy of the model ({reference / GIB:.1f} GiB); "
                     "with LoRA the reference is the base with the adapter off (no copy)")
    if spec.needs == "teacher_model":  # a distillation objective holds the teacher too
        teacher = (inp.teacher_params or params) * 2
        reference += teacher
        notes.append(f"{inp.trainer}: the teacher's weights in 16-bit ({teacher / GIB:.1f} GiB"
                     + (", assumed the student's size" if inp.teacher_params is None else "") + ")")
    generation = 0.0
    if spec.generates:
        kv_per_token = facts.layers * 2 * facts.kv_heads * facts.head_dim * 2  # 16-bit keys and values
        generation = inp.batch * (inp.seq + inp.completion_len) * kv_per_token
        generation += inp.batch * facts.vocab_size * 4 * 2  # sampling logits (fp32) for the current token
        notes.append(f"{inp.trainer}: generation KV cache for {inp.batch} completions of up to "
                     f"{inp.completion_len} tokens ({generation / GIB:.2f} GiB)")
    return reference, generation


def uncertainty(inp: EstimateInput) -> float:
    """The margin above the central estimate for this regime (see MARGINS)."""
    group = "qlora" if inp.method == "qlora" else "full" if inp.method == "full" else "adapter"
    size = "short" if inp.batch * inp.seq <= SHORT_TOKENS else "long"
    m = MARGINS.get((group, size), BASE_MARGIN)
    if inp.precision in ("bf16-mixed", "fp16-mixed") and inp.method != "full":
        m += 0.36  # adapters over fp32 weights with autocast: one LitGPT measurement 45% above the parts
    return m


# ---- fitting ---------------------------------------------------------------------------------------


# EstimateInput field ↔ RunConfig key (the remedies in core/plan/remedies.py work on RunConfig keys)
_INPUT_KEYS = {"batch": "micro_batch", "grad_ckpt": "gradient_checkpointing", "optim": "optimizer",
               "method": "method", "seq": "max_seq_length", "gpus": "num_gpus", "engine": "engine",
               "loss": "loss", "rank": "rank", "lora_dropout": "dropout", "virtual_tokens": "virtual_tokens",
               "trainer": "trainer", "generations": "grpo_num_generations",
               "completion_len": "grpo_max_completion_length"}


def values_from_input(inp: EstimateInput) -> dict[str, Any]:
    """The estimator input as RunConfig-style values (what the remedy ladder changes)."""
    return {key: getattr(inp, f) for f, key in _INPUT_KEYS.items()}


def input_from_values(base: EstimateInput, values: dict[str, Any]) -> EstimateInput:
    """`base` with the RunConfig-style `values` applied (keys the estimator does not model are ignored)."""
    ch: dict[str, Any] = {f: values[key] for f, key in _INPUT_KEYS.items() if key in values}
    if "micro_batch" in values:
        ch["batch"] = int(values["micro_batch"])
    if ch.get("method") == "qlora" and base.precision not in ("bf16", "fp16"):
        ch["precision"] = "bf16"
    if ch.get("engine") == "deepspeed":
        ch["engine"] = "zero3"
    return replace(base, **ch)


def max_micro_batch(facts: ModelFacts, inp: EstimateInput, gpu_gib: float, limit: int = 256) -> int:
    """The largest micro-batch whose estimate fits in `gpu_gib` with its margin (0 if none)."""
    def ok(b: int) -> bool:
        return estimate(facts, replace(inp, batch=b)).fits(gpu_gib)

    best = 0
    b = 1
    while b <= limit and ok(b):
        best = b
        b *= 2
    if best == 0:
        return 0
    lo, hi = best, min(best * 2, limit + 1)  # binary search in (best, hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
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
    """If it does not fit: the remedy ladder (core/plan/remedies.py), each remedy applied on top of the
    previous ones while the estimate is still too big, with the peak after it. Shorter sequences are halved
    until it fits (down to 256); more GPUs double the count from the original setup."""
    from ftwizard.core.plan import remedies

    first = estimate(facts, inp)
    budget = gpu_gib / (1 + first.margin)
    steps: list[tuple[str, float]] = []
    if first.fits(gpu_gib):
        return FitAdvice(True, first.peak_gib, budget, steps)
    values = values_from_input(inp)
    values["gradient_accumulation"] = 1
    vocab = facts.vocab_size
    cur = first
    for r in remedies.LADDER:
        if cur.fits(gpu_gib):
            break
        if r.id == "smaller_batch":
            ch = remedies.smaller_batch(values, to=1)
        elif r.id == "qlora" and not facts.requantizable:
            ch = None  # its own quantization stays: bitsandbytes cannot take over
        else:
            ch = r.changes(values, vocab)
        if not ch:
            continue
        if r.id == "more_gpus":
            v = {**values_from_input(inp), "gradient_accumulation": 1}
            for n in (2, 4, 8):
                v.update(num_gpus=n, engine="fsdp", gradient_checkpointing=True)
                e = estimate(facts, input_from_values(inp, v))
                steps.append((f"{n} GPUs with FSDP / ZeRO-3 (original method)", e.peak_gib))
                if e.fits(gpu_gib):
                    break
            break
        label = r.label(values, vocab) if r.id != "smaller_batch" else (
            f"micro-batch 1 with gradient accumulation {inp.batch}")
        values = {**values, **ch}
        cur = estimate(facts, input_from_values(inp, values))
        steps.append((label, cur.peak_gib))
        while r.id == "shorter_seq" and not cur.fits(gpu_gib):
            ch = r.changes(values, vocab)
            if not ch:
                break
            label = r.label(values, vocab)
            values = {**values, **ch}
            cur = estimate(facts, input_from_values(inp, values))
            steps.append((label, cur.peak_gib))
    return FitAdvice(False, first.peak_gib, budget, steps)


def estimate_input(facts: ModelFacts, v: dict[str, Any], gpus: int, has_gpu: bool) -> EstimateInput:
    """The estimator's input from a plan's values (core/wizard PlanView.values): its method, adapter, batch, sequence,
    optimizer and objective."""
    method = v["method"]
    targets: tuple[str, ...] = ()
    if method != "full":
        targets = tuple(facts.resolve_targets(v.get("target_modules") or "all-linear"))
    precision = v.get("precision") or "bf16"
    return EstimateInput(method=method, rank=int(v.get("rank") or 16), targets=targets, batch=int(v["micro_batch"]),
                         seq=int(v["max_seq_length"]), grad_ckpt=bool(v["gradient_checkpointing"]),
                         optim=str(v["optimizer"]), precision=precision if has_gpu else "fp32",
                         device="cuda" if has_gpu else "cpu",
                         gpus=max(1, gpus), engine=str(v.get("engine") or "auto"),
                         lora_dropout=float(v.get("dropout") or 0.0), trainer=str(v.get("trainer") or "sft"),
                         virtual_tokens=int(v.get("virtual_tokens") or 20))
