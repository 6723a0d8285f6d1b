"""Preflight: the first optimizer step on the longest batch, so an out-of-memory shows in seconds, not hours.

Forward + backward alone misses the optimizer: AdamW allocates its states (8 bytes per trainable fp32
parameter) at the first `step()`. So the preflight runs a real step — the trainer's own optimizer, with the
learning rate at 0 — on the longest examples, reads the memory after backward and after the step
(allocated, reserved and what NVML says the card holds), and compares it with the card and the estimate:

- fits → the trainable weights, the RNG state and the optimizer are put back as they were, training starts;
- over the card → with `auto_fit`, the first runtime rung of the remedy ladder (core/plan/remedies.py: a
  smaller micro-batch with more accumulation, then gradient checkpointing) is applied to the trainer, a
  `memory_fix` event says so, and the preflight runs again; without it (or when nothing is left) the run
  stops with an out-of-memory diagnosis and the fix.

Measured vs predicted goes to `<run>/memory.json` and a `preflight` event. On a CPU, "memory" is counted
from the tensors (parameters, gradients, optimizer states, saved activations); `FTWIZARD_FAKE_GPU_GIB`
sets a card size to check against (tests simulate a small GPU this way).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

from ftwizard.core.plan import remedies
from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.layout import RunDir

GIB = 1024**3
FAKE_GPU_ENV = "FTWIZARD_FAKE_GPU_GIB"
CARD_LIMIT = 0.95  # the step may use at most this share of the card (the allocator's pool grows later)
SNAPSHOT_LIMIT_BYTES = 8 * GIB  # trainable weights up to this size are copied to the CPU and restored


class PreflightOutOfMemory(RuntimeError):
    """The first step does not fit. The message contains "out of memory" so the diagnosis names it."""


# ---- memory readers --------------------------------------------------------------------------------------------
class CudaReader:
    """torch's allocator peaks and the card's used memory from NVML (all processes)."""

    device = "cuda"

    def __init__(self, torch: Any) -> None:
        self.torch = torch
        self.index = torch.cuda.current_device()
        self._nvml: Any = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml.nvmlDeviceGetHandleByIndex(self._physical_index())
        except Exception:  # noqa: BLE001 - NVML is optional: allocator figures still work
            self._nvml = None

    def _physical_index(self) -> int:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
        ids = [v for v in visible.split(",") if v.strip()]
        return int(ids[self.index]) if ids and ids[self.index].strip().isdigit() else self.index

    def total_bytes(self) -> float | None:
        return float(self.torch.cuda.get_device_properties(self.index).total_memory)

    def reset(self) -> None:
        self.torch.cuda.synchronize()
        self.torch.cuda.reset_peak_memory_stats()

    def saved_bytes_hook(self) -> Any:
        return None

    def sample(self, model: Any, optimizer: Any) -> dict[str, float | None]:
        self.torch.cuda.synchronize()
        used = None
        if self._nvml is not None:
            import pynvml

            used = float(pynvml.nvmlDeviceGetMemoryInfo(self._nvml).used)
        return {"allocated": float(self.torch.cuda.max_memory_allocated()),
                "reserved": float(self.torch.cuda.max_memory_reserved()), "nvml_used": used}


class TensorBytesReader:
    """CPU: bytes of the parameters, gradients and optimizer states, plus the activations autograd saved
    (counted with saved-tensor hooks) — the same quantities that fill a GPU, without an allocator."""

    device = "cpu"

    def __init__(self, torch: Any) -> None:
        self.torch = torch
        self.saved = 0.0

    def total_bytes(self) -> float | None:
        return None

    def reset(self) -> None:
        self.saved = 0.0

    def saved_bytes_hook(self) -> Any:
        seen: set[int] = set()
        params: set[int] = set()

        def pack(t: Any) -> Any:
            if not params and self._model is not None:
                params.update(p.untyped_storage().data_ptr() for p in self._model.parameters())
            try:
                ptr = t.untyped_storage().data_ptr()
                if ptr not in seen and ptr not in params:
                    seen.add(ptr)
                    self.saved += t.untyped_storage().nbytes()
            except (RuntimeError, NotImplementedError):
                pass
            return t

        return self.torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t)

    _model: Any = None

    def sample(self, model: Any, optimizer: Any) -> dict[str, float | None]:
        def nbytes(t: Any) -> float:
            return float(t.numel() * t.element_size())

        params = sum(nbytes(p) for p in model.parameters())
        grads = sum(nbytes(p.grad) for p in model.parameters() if p.grad is not None)
        states = 0.0
        if optimizer is not None:
            for st in optimizer.state.values():
                states += sum(nbytes(v) for v in st.values() if hasattr(v, "numel") and v.dim() > 0)
        # backward's peak holds the saved activations and the gradients; the step's the optimizer states
        # (the activations are gone by then)
        live = states if optimizer is not None else self.saved
        return {"allocated": params + grads + live, "reserved": None, "nvml_used": None}


def memory_reader(torch: Any) -> CudaReader | TensorBytesReader:
    return CudaReader(torch) if torch.cuda.is_available() else TensorBytesReader(torch)


def card_total_bytes(reader: Any) -> float | None:
    """The card's size: `FTWIZARD_FAKE_GPU_GIB` when set (a simulated GPU), else what the device reports."""
    fake = os.environ.get(FAKE_GPU_ENV)
    if fake:
        try:
            return float(fake) * GIB
        except ValueError:
            raise ValueError(f"{FAKE_GPU_ENV}={fake!r} is not a number of GiB (e.g. 24)") from None
    return reader.total_bytes()


# ---- one measured step -----------------------------------------------------------------------------------------
@dataclass
class StepMemory:
    after_backward: dict[str, float | None]
    after_step: dict[str, float | None]
    seconds: float
    oom: bool = False
    step_seconds: list[float] = field(default_factory=list)

    def peak(self, key: str = "allocated") -> float | None:
        vals = [d.get(key) for d in (self.after_backward, self.after_step)]
        present = [v for v in vals if v is not None]
        return max(present) if present else None

    def card_bytes(self) -> float | None:
        """What the card must hold: NVML's used where known, else reserved, else allocated."""
        for key in ("nvml_used", "reserved", "allocated"):
            v = self.peak(key)
            if v is not None:
                return v
        return None


def _longest_batch(trainer: Any, micro_batch: int) -> tuple[dict[str, Any], int]:
    ds = trainer.train_dataset
    lens = [len(x) for x in ds["input_ids"]]
    if not lens:
        raise ValueError("dataset error: no training rows left after tokenization — raise max_seq_length")
    order = sorted(range(len(lens)), key=lambda i: -lens[i])[:micro_batch]
    batch = trainer.data_collator([ds[i] for i in order])
    dev = next(p for p in trainer.model.parameters()).device
    keep = ("input_ids", "attention_mask", "labels", "position_ids")
    return {k: v.to(dev) for k, v in batch.items() if k in keep and hasattr(v, "to")}, max(lens)


def measure_step(trainer: Any, batch: dict[str, Any], reader: Any, torch: Any, steps: int = 1,
                 with_optimizer: bool = True) -> StepMemory:
    """Forward, backward and an optimizer step (learning rate 0) on `batch`; the trainable weights, the RNG
    and the trainer's optimizer slot are restored afterwards, so training is unchanged."""
    model = trainer.model
    trainable = [p for p in model.parameters() if p.requires_grad]
    size = sum(p.numel() * p.element_size() for p in trainable)
    snapshot = [p.detach().to("cpu", copy=True) for p in trainable] if size <= SNAPSHOT_LIMIT_BYTES else None
    rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    optimizer = None
    if isinstance(reader, TensorBytesReader):
        reader._model = model
    after_backward: dict[str, float | None] = {}
    after_step: dict[str, float | None] = {}
    t = time.time()
    step_times: list[float] = []  # each step's seconds: the first includes warm-up (allocations, kernel choice)
    oom = False
    try:
        if with_optimizer:
            trainer.optimizer = None
            optimizer = trainer.create_optimizer()
            for group in optimizer.param_groups:
                group["lr"] = 0.0  # states are allocated exactly as in training; the weights do not move
        model.train()
        for _ in range(max(1, steps)):
            t_step = time.time()
            reader.reset()
            hook = reader.saved_bytes_hook()
            if hook is not None:
                with hook:
                    out = model(**batch)
            else:
                out = model(**batch)
            out.loss.backward()
            after_backward = reader.sample(model, None)
            if optimizer is not None:
                optimizer.step()
                after_step = reader.sample(model, optimizer)
                optimizer.zero_grad(set_to_none=True)
            else:
                after_step = dict(after_backward)
            del out
            step_times.append(round(time.time() - t_step, 3))
    except torch.cuda.OutOfMemoryError:
        oom = True
    finally:
        model.zero_grad(set_to_none=True)
        if snapshot is not None:
            with torch.no_grad():
                for p, saved in zip(trainable, snapshot, strict=True):
                    p.copy_(saved.to(p.device))
        if optimizer is not None:
            optimizer.state.clear()
        trainer.optimizer = None  # the trainer builds its own at train(), with the schedule
        del optimizer
        torch.set_rng_state(rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
            torch.cuda.empty_cache()
    return StepMemory(after_backward, after_step, round(time.time() - t, 2), oom, step_times)


# ---- auto-fit --------------------------------------------------------------------------------------------------
def apply_runtime_fix(trainer: Any, cfg: RunConfig) -> tuple[str, dict[str, Any]] | None:
    """Apply the next runtime rung of the remedy ladder to the built trainer and `cfg`; None when none is left."""
    values = cfg.to_dict()
    for remedy, ch in remedies.applicable(values, runtime=True):
        label = remedy.label(values)
        if "micro_batch" in ch:
            trainer.args.per_device_train_batch_size = ch["micro_batch"]
            trainer.args.gradient_accumulation_steps = ch["gradient_accumulation"]
            cfg.micro_batch, cfg.gradient_accumulation = ch["micro_batch"], ch["gradient_accumulation"]
        if ch.get("gradient_checkpointing"):
            model = trainer.model
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            if hasattr(model, "enable_input_require_grads"):
                model.enable_input_require_grads()
            trainer.args.gradient_checkpointing = True
            cfg.gradient_checkpointing = True
        return label, ch
    return None


# ---- the preflight ---------------------------------------------------------------------------------------------
@dataclass
class PreflightResult:
    info: dict[str, Any]
    fixes: list[dict[str, Any]] = field(default_factory=list)


def _gib(b: float | None) -> float | None:
    return round(b / GIB, 6) if b is not None else None


def preflight(trainer: Any, cfg: RunConfig, rd: RunDir, torch: Any, reader: Any = None,
              emit: Any = None) -> PreflightResult | None:
    """Run the first step on the longest batch with the optimizer; stop or auto-fit when it does not fit."""
    ds = trainer.train_dataset
    if cfg.preflight_steps <= 0 or ds is None or "input_ids" not in ds.column_names:
        return None
    if emit is None:
        from ftwizard.train.callback import IS_MAIN

        emit = rd.append_event if IS_MAIN else (lambda _ev: None)
    reader = reader or memory_reader(torch)
    total = card_total_bytes(reader)
    multi = int(os.environ.get("WORLD_SIZE", "1")) > 1  # sharding is set up inside train(): no step here
    fixes: list[dict[str, Any]] = []
    while True:
        batch, longest = _longest_batch(trainer, cfg.micro_batch)
        # two steps: the first is cold (allocations, kernel choice), the second times a warm step for the run's
        # time estimate (on the CPU the tensor-bytes reader counts the same bytes on both)
        steps = min(cfg.preflight_steps, 2)
        m = measure_step(trainer, batch, reader, torch, steps=steps, with_optimizer=not multi)
        need = m.card_bytes()
        over = m.oom or (total is not None and need is not None and need > total * CARD_LIMIT)
        info: dict[str, Any] = {
            "device": reader.device, "longest_tokens": longest, "micro_batch": cfg.micro_batch,
            "gradient_accumulation": cfg.gradient_accumulation,
            "gradient_checkpointing": cfg.gradient_checkpointing,
            "estimate_gib": cfg.estimate_gib, "card_total_gib": _gib(total),
            "fake_card": bool(os.environ.get(FAKE_GPU_ENV)),
            "includes_optimizer_step": not multi,
            "after_backward_gib": {k: _gib(v) for k, v in m.after_backward.items()},
            "after_step_gib": {k: _gib(v) for k, v in m.after_step.items()},
            "measured_peak_allocated_gib": _gib(m.peak("allocated")),
            "measured_peak_reserved_gib": _gib(m.peak("reserved")),
            "measured_nvml_used_gib": _gib(m.peak("nvml_used")),
            "verdict": "out_of_memory" if over else ("fits" if total is not None else "unchecked"),
            "seconds": m.seconds, "step_seconds": m.step_seconds, "fixes": fixes,
        }
        if m.peak("allocated") is not None and cfg.estimate_gib:
            peak = float(m.peak("allocated") or 0.0)
            info["estimate_error_pct"] = round(100 * (cfg.estimate_gib * GIB - peak) / peak, 1)
        if reader.device == "cpu":
            info["note"] = "CPU: memory counted from tensors (weights, gradients, optimizer states, saved activations)"
        if multi:
            info["note"] = "several processes: forward+backward only (sharding starts in train())"
        rd.memory_path.write_text(json.dumps(info, indent=2), encoding="utf-8")
        if not over:
            emit({"type": "preflight", **info})
            return PreflightResult(info, fixes)
        what = ("ran out of memory" if m.oom else
                f"needs {need / GIB:.2f} GiB of the card's {total / GIB:.2f} GiB")  # type: ignore[operator]
        fix = apply_runtime_fix(trainer, cfg) if cfg.auto_fit else None
        if fix is None:
            emit({"type": "preflight", **info})
            raise PreflightOutOfMemory(
                f"CUDA out of memory (preflight): the first optimizer step on the longest batch ({longest} tokens × "
                f"{cfg.micro_batch}) {what}; forward+backward alone took "
                f"{(m.after_backward.get('allocated') or 0) / GIB:.2f} GiB")
        label, ch = fix
        fixes.append({"change": label, "changes": ch, "because": what})
        emit({"type": "memory_fix", "message": f"the first step {what}: {label}", "changes": ch})
        rd.config_path.write_text(cfg.to_yaml(), encoding="utf-8")  # resume uses what actually runs
