"""How long `ftwizard train` will take (pure): before launch from a throughput model, after the preflight from its
measured step, during training from the steps themselves (the monitor's ETA).

Everything `ftwizard train` does, in order, each priced:
- **start**: Python imports (torch, transformers, TRL, PEFT) and the process start — a fixed figure per device class;
- **load**: the model's weights read from disk (bytes ÷ a read rate; a Hub download is not counted);
- **data**: the split, tokenization and the template — rows × a per-row cost;
- **preflight**: `preflight_steps` forward+backward+optimizer steps on the longest micro-batch;
- **train**: the padded tokens of every optimizer step × training FLOPs per token (core/plan/cost.py:
  4 × params + 6 × trainable for adapters, 6 × params for full, + 2 × params with gradient checkpointing)
  ÷ the device's achieved FLOP/s, plus a fixed cost per optimizer step;
- **evals**: forward passes (2 × params FLOPs per token) over the validation rows, at step 0 when the plan asks and
  every `eval_steps`;
- **saves**: every `save_steps` and at the end: the adapter (or the model) and the optimizer state, bytes ÷ a
  write rate plus a fixed cost.

Padded tokens: a micro-batch is padded to its longest row, so a row costs about the expected longest of
`micro_batch` rows (from the data report's length quantiles), not the mean.

Achieved FLOP/s: on the CPU one torch thread reached 49 GFLOP/s training SmolLM2-135M-Instruct with LoRA r16 on
all linear layers (2026-12-05, this project's 2-core machine, another job on the other core: 2.67 s per step of
232 padded tokens × 567 MFLOP/token); threads scale sub-linearly (× threads^0.8). A GPU reaches the price table's
utilisation of its peak bf16 TFLOPS (core/plan/cost.py, 35–45%; QLoRA 75% of that).

`from_preflight` replaces the throughput model with the preflight's measured seconds per step (scaled from the
longest batch to the average one), and `eta` with the trainer's own median step time once steps run.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ftwizard.core.plan.cost import (
    CPU_FLOPS_PER_THREAD,  # measured (module docstring)
    QLORA_SLOWDOWN,
    find_gpu,
    flops_per_token,
    fmt_hours,
    price_tables,
    span,
)

CPU_THREAD_SCALING = 0.8  # achieved FLOP/s ∝ threads^0.8 (memory bandwidth and synchronisation)
# fixed costs per device class, seconds (measured on the CPU: imports 7.4 s, trainer start → first event 5.7 s)
START_S = {"cpu": 9.0, "gpu": 20.0}  # imports, process start, CUDA context on a GPU
READ_BYTES_S = {"cpu": 400e6, "gpu": 1.5e9}  # weights from a local disk into memory
WRITE_BYTES_S = {"cpu": 150e6, "gpu": 1.0e9}  # a checkpoint to disk
SAVE_FIXED_S = {"cpu": 1.0, "gpu": 2.0}  # per save: files, RNG and trainer state, the config, the tokenizer
STEP_FIXED_S = {"cpu": 0.05, "gpu": 0.03}  # per optimizer step: optimizer, scheduler, logging, the callback
ROW_PREP_S = 0.002  # per data row: split, template, tokenization
RANGE = (0.75, 1.35)  # the throughput model's spread on a machine shared with other jobs
MEASURED_RANGE = (0.88, 1.15)  # after the preflight measured a step


@dataclass
class TimeEstimate:
    """`plan --json`'s `time`: seconds for the device the plan is for; `total_seconds` is everything `ftwizard
    train` takes (start, load, data, preflight, training, evaluations, saves)."""

    device: str
    tokens: float  # padded training tokens (rows × padded tokens per row × epochs)
    train_seconds: float
    total_seconds: float
    basis: str  # "model: …" (the throughput model) or "measured: …" (the preflight's step)
    parts: dict[str, float] = field(default_factory=dict)
    range_seconds: tuple[float, float] = (0.0, 0.0)
    steps: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["range_seconds"] = list(self.range_seconds)
        return d

    def line(self) -> str:
        lo, hi = self.range_seconds
        evals, saves = int(self.parts.get("eval_count", 0)), int(self.parts.get("save_count", 0))
        before = (f"{fmt_seconds(self.parts['so_far'])} so far" if "so_far" in self.parts
                  else "start, load, preflight")
        return (f"~{fmt_seconds(self.total_seconds)} in all on {self.device} ({span(fmt_seconds(lo), fmt_seconds(hi))}): "
                f"training {fmt_seconds(self.train_seconds)} for {self.steps} steps, + {before}, "
                f"{evals} evaluation{'s' * (evals != 1)}, {saves} save{'s' * (saves != 1)} · {self.basis}")


def fmt_seconds(s: float) -> str:
    if s < 1:
        return "< 1 s"
    if s < 90:
        return f"{s:.0f} s"
    return fmt_hours(s / 3600) if s >= 3600 else f"{s / 60:.1f} min"


@dataclass
class Workload:
    """What the run computes (from the plan and the data report)."""

    params: float
    trainable: float
    method: str
    grad_ckpt: bool
    model_bytes: float  # the weights as loaded
    rows: int  # all rows of the data (before the split)
    tokens_per_row: float  # mean, after the template
    seq_quantiles: dict[str, float]  # p50 / p90 / p99 / max tokens (any subset)
    max_seq_length: int
    micro_batch: int
    gradient_accumulation: int
    epochs: float
    max_steps: int = -1
    gpus: int = 1
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    eval_steps: int = 0
    eval_on_start: bool = False
    save_steps: int = 500
    preflight_steps: int = 2
    checkpoint_bytes_per_param: float = 0.0  # 0: from the method
    exact_rows: tuple[int, int] | None = None  # (train, validation) rows once the split exists (the trainer)

    @property
    def train_rows(self) -> int:
        return max(1, self.exact_rows[0] if self.exact_rows else round(self.rows * self.split[0]))

    @property
    def val_rows(self) -> int:
        return max(0, self.exact_rows[1] if self.exact_rows else round(self.rows * self.split[1]))

    def steps(self) -> int:
        if self.max_steps and self.max_steps > 0:
            return self.max_steps
        per_epoch = math.ceil(self.train_rows / (self.micro_batch * self.gradient_accumulation * max(1, self.gpus)))
        return max(1, math.ceil(per_epoch * self.epochs))

    def padded_row(self) -> float:
        """Tokens a row costs in a micro-batch padded to its longest row: about the quantile micro/(micro+1) of the
        lengths (the expected longest of `micro_batch` rows), interpolated between the report's quantiles."""
        mean = float(self.tokens_per_row)
        q = self.micro_batch / (self.micro_batch + 1)
        points = [(0.5, self.seq_quantiles.get("p50", mean))]
        for key, at in (("p90", 0.9), ("p99", 0.99), ("max", 1.0)):
            if self.seq_quantiles.get(key):
                points.append((at, float(self.seq_quantiles[key])))
        if self.micro_batch <= 1 or len(points) < 2:
            value = mean
        else:
            value = points[-1][1]
            for (q0, v0), (q1, v1) in zip(points, points[1:], strict=False):
                if q <= q1:
                    value = v0 + (v1 - v0) * max(0.0, q - q0) / (q1 - q0)
                    break
            value = max(value, mean)
        return min(value, float(self.max_seq_length))

    def longest_row(self) -> float:
        longest = self.seq_quantiles.get("max") or self.seq_quantiles.get("p99") or self.tokens_per_row
        return min(float(longest), float(self.max_seq_length))

    def checkpoint_bytes(self) -> float:
        per = self.checkpoint_bytes_per_param
        if self.method == "full":
            return self.params * (per or 2 + 8)  # bf16 weights + AdamW's two fp32 moments
        return self.trainable * (per or 4 + 8)  # fp32 adapter + its two moments


def device_class(gpu: str | None) -> str:
    return "gpu" if gpu else "cpu"


def achieved_flops(gpu: str | None, gpus: int, method: str, threads: int = 1,
                   tables: dict[str, Any] | None = None) -> tuple[float, str] | None:
    """FLOP/s the device reaches training, and where the figure comes from; None for a GPU the table lacks."""
    if gpu is None:
        f = CPU_FLOPS_PER_THREAD * max(1, threads) ** CPU_THREAD_SCALING
        return f, (f"model: this CPU at {f / 1e9:.0f} GFLOP/s ({threads} thread{'s' * (threads != 1)}; "
                   f"{CPU_FLOPS_PER_THREAD / 1e9:.0f} measured per thread)")
    t = tables if tables is not None else price_tables()
    key = find_gpu(gpu, t["specs"])
    if not key:
        return None
    util = (float(t["utilisation"]["low"]) + float(t["utilisation"]["high"])) / 2
    if method == "qlora":
        util *= QLORA_SLOWDOWN
    peak = float(t["specs"][key]["tflops"]) * 1e12 * max(1, gpus)
    return peak * util, f"model: {peak / 1e12:.0f} TFLOPS peak at {util:.0%} utilisation"


def estimate_time(w: Workload, *, gpu: str | None = None, device: str | None = None, threads: int = 1,
                  tables: dict[str, Any] | None = None) -> TimeEstimate | None:
    """The whole `ftwizard train` on `gpu` (None: this CPU with `threads` threads). None for an unknown GPU."""
    got = achieved_flops(gpu, w.gpus, w.method, threads, tables)
    if got is None:
        return None
    flops_s, basis = got
    cls = device_class(gpu)
    steps = w.steps()
    tokens = padded_tokens(w, steps)
    per_token = flops_per_token(w.params, w.trainable, w.method, w.grad_ckpt)
    train = tokens * per_token / flops_s + steps * STEP_FIXED_S[cls]
    longest_step = w.longest_row() * w.micro_batch * per_token / flops_s
    return _assemble(w, cls, device or (f"{w.gpus}× {gpu}" if gpu and w.gpus > 1 else gpu or "this CPU"),
                     tokens, train, longest_step, flops_s, basis, RANGE, steps)


def padded_tokens(w: Workload, steps: int) -> float:
    """Padded tokens over the run: every training row once per epoch (the last micro-batch of an epoch may be short),
    or `max_steps` full optimizer steps."""
    if w.max_steps and w.max_steps > 0:
        rows: float = steps * w.micro_batch * w.gradient_accumulation * max(1, w.gpus)
    else:
        rows = w.train_rows * w.epochs
    return rows * w.padded_row()


def _assemble(w: Workload, cls: str, device: str, tokens: float, train: float, longest_step: float,
              flops_s: float, basis: str, spread: tuple[float, float], steps: int) -> TimeEstimate:
    evals = (1 if w.eval_on_start else 0) + (steps // w.eval_steps if w.eval_steps > 0 and w.val_rows else 0)
    eval_tokens = w.val_rows * w.padded_row()
    eval_s = evals * eval_tokens * 2 * w.params / flops_s
    saves = steps // max(1, w.save_steps) + (0 if steps % max(1, w.save_steps) == 0 else 1)
    save_s = saves * (SAVE_FIXED_S[cls] + w.checkpoint_bytes() / WRITE_BYTES_S[cls])
    parts = {
        "start": START_S[cls],
        "load": w.model_bytes / READ_BYTES_S[cls],
        "data": w.rows * ROW_PREP_S,
        "preflight": max(0, min(w.preflight_steps, 2)) * longest_step,
        "train": train,
        "evals": eval_s,
        "saves": save_s,
    }
    total = sum(parts.values())
    out = {k: round(v, 1) for k, v in parts.items()}
    out.update(eval_count=evals, save_count=saves)
    fixed = total - train - eval_s
    lo = fixed + (train + eval_s) * spread[0]
    hi = fixed + (train + eval_s) * spread[1]
    return TimeEstimate(device, round(tokens), round(train, 1), round(total, 1), basis, out, (round(lo), round(hi)),
                        steps)


def from_preflight(w: Workload, *, measured_s: float, measured_steps: int, longest_tokens: int, device: str,
                   elapsed_s: float, gpu: str | None = None) -> TimeEstimate:
    """The estimate once the preflight has run (`elapsed_s` since `ftwizard train` started): its seconds per
    forward+backward+optimizer step on the longest micro-batch, scaled to the average padded micro-batch, replace
    the throughput model for the training, the evaluations and the saves still to come."""
    cls = device_class(gpu)
    steps = w.steps()
    per_step = measured_s / max(1, measured_steps)  # one micro-batch of `longest_tokens`-long rows
    longest = max(1.0, float(longest_tokens))
    per_micro = per_step * (w.padded_row() / longest)
    tokens = padded_tokens(w, steps)
    micro_batches = tokens / max(1.0, w.padded_row() * w.micro_batch)
    train = micro_batches * per_micro + steps * STEP_FIXED_S[cls]
    per_token = flops_per_token(w.params, w.trainable, w.method, w.grad_ckpt)
    flops_s = longest * w.micro_batch * per_token / max(1e-9, per_step)
    basis = f"measured: the preflight's step took {per_step:.2f} s on {longest_tokens} tokens × {w.micro_batch}"
    est = _assemble(w, cls, device, tokens, train, per_step, flops_s, basis, MEASURED_RANGE, steps)
    for key in ("start", "load", "data", "preflight"):
        del est.parts[key]
    est.parts["so_far"] = round(elapsed_s, 1)  # start, load, data and the preflight: already measured
    left = est.parts["train"] + est.parts["evals"] + est.parts["saves"]
    est.total_seconds = round(elapsed_s + left, 1)
    est.range_seconds = (round(elapsed_s + left * MEASURED_RANGE[0]), round(elapsed_s + left * MEASURED_RANGE[1]))
    return est


def eta_seconds(step: int, max_steps: int, step_s: float | None, evals_left: int = 0, eval_s: float = 0.0,
                saves_left: int = 0, save_s: float = 0.0) -> float | None:
    """Seconds left: the trainer's median step time × steps left, plus the evaluations and saves still to come."""
    if not step_s or step_s <= 0 or not max_steps:
        return None
    return max(0, max_steps - step) * step_s + evals_left * eval_s + saves_left * save_s
