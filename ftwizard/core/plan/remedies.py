"""The one out-of-memory remedy ladder, as data.

Every place that says "this does not fit, change X" reads this list: the estimator's advice
(`memory.fit_advice`), the plan's one-key fixes (`wizard.fit_fixes`), the recommender's candidates, the
failure diagnosis' relaunch fix (`diagnosis.fix_changes`) and the trainer's preflight auto-fit.

Remedies work on *values*: a dict with `RunConfig` keys (`micro_batch`, `gradient_accumulation`,
`gradient_checkpointing`, `optimizer`, `method`, `max_seq_length`, `num_gpus`, `engine`, …) plus `loss`
(`full` | `fused`: Liger's fused linear+cross-entropy). `memory.input_from_values` / `memory.values_from_input`
translate to and from the estimator's `EstimateInput`. Order = cheapest in quality and speed first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

Values = dict[str, Any]


@dataclass(frozen=True)
class Remedy:
    id: str
    what: str  # the change in words, shown as "what: detail"
    runtime: bool  # the trainer can apply it to a built model before step 1 (preflight auto-fit)
    relaunch: bool  # a relaunch after an OOM may apply it without asking (no quality or hardware change)
    _changes: Callable[[Values, int], Values | None]

    def changes(self, values: Values, vocab_size: int = 0) -> Values | None:
        """The config changes this remedy makes to `values` (None: it does not apply)."""
        ch = self._changes(values, vocab_size)
        if not ch:
            return None
        ch = {k: v for k, v in ch.items() if values.get(k) != v}
        return ch or None

    def label(self, values: Values, vocab_size: int = 0) -> str:
        ch = self.changes(values, vocab_size) or {}
        return _LABELS[self.id](values, ch)


def _mb(v: Values) -> int:
    return int(v.get("micro_batch") or 1)


def _ga(v: Values) -> int:
    return int(v.get("gradient_accumulation") or 1)


def smaller_batch(values: Values, to: int | None = None) -> Values | None:
    """Micro-batch `to` (default: half) with more accumulation, keeping the effective batch."""
    mb = _mb(values)
    if mb <= 1:
        return None
    new = max(1, min(mb - 1, to if to is not None else mb // 2))
    return {"micro_batch": new, "gradient_accumulation": -(-_ga(values) * mb // new)}


def _ckpt(v: Values, _vocab: int) -> Values | None:
    return None if v.get("gradient_checkpointing") else {"gradient_checkpointing": True}


def _optim8(v: Values, _vocab: int) -> Values | None:
    o = str(v.get("optimizer") or "adamw_torch")
    if v.get("method", "full") != "full":
        return None  # an adapter's optimizer states are ~1% of the model: 8-bit saves next to nothing
    if "8bit" in o or "4bit" in o or o in ("sgd", "adafactor"):
        return None
    return {"optimizer": "paged_adamw_8bit" if o.startswith("paged") else "adamw_bnb_8bit"}


def _fused(v: Values, vocab: int) -> Values | None:
    return {"loss": "fused"} if vocab >= 100_000 and v.get("loss", "full") != "fused" else None


def _qlora(v: Values, _vocab: int) -> Values | None:
    m = v.get("method")
    if m not in ("full", "lora", "dora"):
        return None
    ch: Values = {"method": "qlora", "optimizer": "paged_adamw_8bit"}
    if m == "full":
        ch["learning_rate"] = 2e-4
    return ch


def _shorter(v: Values, _vocab: int) -> Values | None:
    seq = int(v.get("max_seq_length") or 0)
    return {"max_seq_length": seq // 2} if seq > 256 else None


def _gpus(v: Values, _vocab: int) -> Values | None:
    n = int(v.get("num_gpus") or 1)
    return {"num_gpus": n * 2, "engine": "fsdp", "gradient_checkpointing": True} if n < 8 else None


_LABELS: dict[str, Callable[[Values, Values], str]] = {
    "smaller_batch": lambda v, ch: (f"micro-batch {ch.get('micro_batch')} with gradient accumulation "
                                    f"{ch.get('gradient_accumulation')} (same effective batch)"),
    "checkpointing": lambda v, ch: "turn on gradient checkpointing (~30% slower)",
    "optimizer_8bit": lambda v, ch: f"8-bit AdamW optimizer ({ch.get('optimizer')})",
    "fused_loss": lambda v, ch: "fused loss (use_liger_kernel=True): the logits are never stored in full",
    "qlora": lambda v, ch: "QLoRA: the base model in 4-bit",
    "shorter_seq": lambda v, ch: f"shorter sequences: {ch.get('max_seq_length')} tokens (long examples get cut)",
    "more_gpus": lambda v, ch: f"{ch.get('num_gpus')} GPUs with FSDP (weights, gradients, optimizer sharded)",
}

LADDER: tuple[Remedy, ...] = (
    Remedy("smaller_batch", "smaller micro-batch", True, True, lambda v, _n: smaller_batch(v)),
    Remedy("checkpointing", "gradient checkpointing", True, True, _ckpt),
    Remedy("optimizer_8bit", "8-bit optimizer", False, True, _optim8),
    Remedy("fused_loss", "fused loss", False, False, _fused),
    Remedy("qlora", "QLoRA", False, True, _qlora),  # a relaunch moves only adapter runs (LoRA/DoRA) to QLoRA
    Remedy("shorter_seq", "shorter sequences", False, False, _shorter),
    Remedy("more_gpus", "more GPUs", False, False, _gpus),
)
BY_ID: dict[str, Remedy] = {r.id: r for r in LADDER}


def get(remedy_id: str) -> Remedy:
    try:
        return BY_ID[remedy_id]
    except KeyError:
        raise KeyError(f"unknown remedy {remedy_id!r}; known: {', '.join(BY_ID)}") from None


def applicable(values: Values, vocab_size: int = 0, *, runtime: bool = False, relaunch: bool = False,
               keys: set[str] | None = None) -> Iterator[tuple[Remedy, Values]]:
    """The remedies that apply to `values`, in ladder order, with their changes. `runtime`/`relaunch` keep only
    the ones the trainer / an automatic relaunch may apply; `keys` only those whose changes are all in `keys`."""
    for r in LADDER:
        if (runtime and not r.runtime) or (relaunch and not r.relaunch):
            continue
        ch = r.changes(values, vocab_size)
        if ch is None or (keys is not None and not set(ch) <= keys):
            continue
        yield r, ch
