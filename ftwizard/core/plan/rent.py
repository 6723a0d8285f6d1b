"""The cheapest rented shape that fits (pure): when a plan does not fit the local or chosen GPU, which card × count
from the rent table (presets/gpu_prices.yaml, merged with the user's prices) fits it, and what it costs.

Each rented card is tried with 1, 2, 4 and 8 GPUs on one machine (how clouds rent them), with the plan's own
settings; more than one GPU shards the weights, gradients and optimizer with FSDP (QLoRA stays on DDP: its 4-bit
weights are not sharded here, as `core/run/accel.py` resolves it), estimated by the same memory estimator
(`gpus=N, engine=fsdp`). If nothing fits with the plan's gradient checkpointing off, it is tried on. Time is the
FLOPs model of `core/plan/cost.py` with N GPUs scaling linearly (real multi-GPU runs lose some of that to
communication), so a card's cost does not depend on N: the smallest N that fits is taken, and the cheapest card
wins (fewer GPUs, then the faster one, on a tie).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from ftwizard.core.plan.cost import about, estimate_cost, find_gpu, money, price_tables
from ftwizard.core.plan.memory import EstimateInput, estimate
from ftwizard.core.plan.model_facts import ModelFacts

MAX_GPUS = 8  # one machine
COUNTS = (1, 2, 4, 8)  # how clouds rent GPUs on one machine

# rent/spec table key → SkyPilot's accelerator name (`sky show-gpus`); the export also takes these names
SKY_NAMES: dict[str, str] = {
    "NVIDIA GeForce RTX 3060": "RTX3060", "NVIDIA GeForce RTX 3090": "RTX3090", "NVIDIA GeForce RTX 4070": "RTX4070",
    "NVIDIA GeForce RTX 4080": "RTX4080", "NVIDIA GeForce RTX 4090": "RTX4090", "NVIDIA GeForce RTX 5090": "RTX5090",
    "NVIDIA RTX A6000": "A6000", "NVIDIA L4": "L4", "NVIDIA A10G": "A10G", "NVIDIA L40S": "L40S", "Tesla T4": "T4",
    "Tesla V100-SXM2-16GB": "V100", "NVIDIA A100-SXM4-40GB": "A100", "NVIDIA A100-SXM4-80GB": "A100-80GB",
    "NVIDIA H100 80GB HBM3": "H100", "NVIDIA H200": "H200", "NVIDIA RTX A4000": "A4000", "NVIDIA RTX A5000": "A5000",
    "NVIDIA A10": "A10", "NVIDIA A40": "A40", "NVIDIA L40": "L40", "Tesla V100-SXM2-32GB": "V100-32GB",
    "NVIDIA A100 80GB PCIe": "A100-80GB", "NVIDIA H100 PCIe": "H100", "NVIDIA B200": "B200",
}


def sky_name(gpu: str) -> str:
    """SkyPilot's name for a card: the table's, or the name as given without spaces (`A100-80GB` stays itself)."""
    if gpu in SKY_NAMES.values():
        return gpu
    if gpu in SKY_NAMES:
        return SKY_NAMES[gpu]
    for short in SKY_NAMES.values():
        if short.lower() == gpu.lower().replace(" ", ""):
            return short
    key = find_gpu(gpu, SKY_NAMES)
    return SKY_NAMES[key] if key else gpu.replace(" ", "")


@dataclass
class RentShape:
    gpu: str  # the rent table's key
    accelerator: str  # SkyPilot's name, e.g. A100-80GB
    gpus: int
    engine: str  # single | fsdp | ddp
    gradient_checkpointing: bool
    turns_on_checkpointing: bool  # the plan had it off: the shape needs it on
    peak_gib: float  # the estimate's top per GPU at this shape (what is checked against memory_gib)
    memory_gib: float
    hours: tuple[float, float]  # (fast, slow)
    price_per_gpu_hour: float
    cost: float  # at the middle of the time range
    currency: str = "USD"

    @property
    def sky_accelerators(self) -> str:
        return f"{self.accelerator}:{self.gpus}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sky_accelerators"] = self.sky_accelerators
        return d

    def label(self) -> str:
        how = f" with {self.engine.upper()}" if self.gpus > 1 else ""
        ckpt = ", gradient checkpointing on" if self.turns_on_checkpointing else ""
        mid = sum(self.hours) / 2
        return f"{self.gpus}× {self.accelerator}{how}{ckpt} ({about(mid)}, {money(self.cost, self.currency)})"

    def export_hint(self, run: str = "RUN") -> str:
        return f"ftwizard export {run} --to skypilot --gpu {self.accelerator} --gpus {self.gpus}"

    def line(self, here: str | None, run: str = "RUN") -> str:
        """'does not fit your RTX 4090; rent 2× A100-80GB with FSDP (~3.1 h, ~USD 9.30) — ftwizard export …'"""
        where = f"your {short_gpu(here)}" if here else "this machine"
        return f"does not fit {where}; rent {self.label()} — {self.export_hint(run)}"


def short_gpu(name: str) -> str:
    """'NVIDIA GeForce RTX 4070 Ti SUPER' → 'RTX 4070 Ti SUPER', 'NVIDIA H100 80GB HBM3' → 'H100 80GB': the words
    that tell the card apart, without the vendor and the form factor."""
    words = str(name).removeprefix("NVIDIA ").removeprefix("GeForce ").split()
    keep = [w for w in words if w not in ("HBM3", "Generation")]
    if keep and keep[0] == "RTX":  # RTX 4060 Ti, RTX 4070 Ti SUPER, RTX 6000 Ada, RTX A6000
        return " ".join(keep[:4])
    return " ".join(keep[:2])


def shard_engine(method: str, gpus: int) -> str:
    if gpus <= 1:
        return "single"
    return "ddp" if method == "qlora" else "fsdp"


def rent_shape(facts: ModelFacts, inp: EstimateInput, tokens: float, *, tables: dict[str, Any] | None = None,
               max_gpus: int = MAX_GPUS, counts: tuple[int, ...] = COUNTS) -> RentShape | None:
    """The cheapest card × count from the rent table that fits `inp` (the plan's estimator input), or None when
    nothing in the table fits even `max_gpus` GPUs."""
    t = tables if tables is not None else price_tables()
    currency = str(t.get("currency", "USD"))
    best: tuple[tuple[float, int, float], RentShape] | None = None
    ckpts = [inp.grad_ckpt] if inp.grad_ckpt else [False, True]
    for ckpt in ckpts:
        for name, r in t.get("rent", {}).items():
            mem = float(r.get("memory_gib") or 0)
            spec = find_gpu(name, t.get("specs", {}))
            if not mem or not spec:
                continue
            for n in (c for c in counts if c <= max_gpus):
                eng = shard_engine(inp.method, n)
                e = estimate(facts, replace(inp, gpus=n, engine="ddp" if eng == "single" else eng, grad_ckpt=ckpt))
                if not e.fits(mem):
                    if eng == "ddp" and n > 1:
                        break  # DDP does not shard: more GPUs never fit
                    continue
                cst = estimate_cost(params=e.compute_params, trainable=e.trainable_params, method=inp.method, tokens=tokens,
                                  gpu=spec, gpus=n, grad_ckpt=ckpt, tables=t)
                if not cst.hours:
                    break
                mid = sum(cst.hours) / 2
                price = float(r["price"])
                shape = RentShape(name, sky_name(name), n, eng, ckpt, ckpt and not inp.grad_ckpt, round(e.high_gib, 2),
                                  mem, cst.hours, price, mid * n * price, currency)
                key = (shape.cost, n, mid)
                if best is None or key < best[0]:
                    best = (key, shape)
                break  # the smallest count that fits: more GPUs on this card cost the same or more
        if best is not None:
            return best[1]
    return None


def plan_rent_shape(view: Any, facts: ModelFacts, tokens: float, *,
                    tables: dict[str, Any] | None = None) -> RentShape | None:
    """For a plan (core/wizard.PlanView) that does not fit its GPU: the cheapest rented shape; None when it fits,
    plans for the CPU, or nothing fits."""
    if view.fits or not view.gpu_gib:
        return None
    try:
        return rent_shape(facts, view.estimate.inp, tokens, tables=tables)
    except (ValueError, KeyError, OSError):  # a broken user price file: no proposal, the plan still shows
        return None


def config_rent_shape(values: dict[str, Any], facts: ModelFacts, *, gpu: str | None = None, gpus: int | None = None,
                      tables: dict[str, Any] | None = None) -> RentShape | None:
    """The cheapest shape for a run config (`RunConfig.to_dict()`), limited to one card (`gpu`, any name
    `find_gpu` knows: A100-80GB, H100 …) and/or one count (`gpus`). What `ftwizard export` picks when not told."""
    from ftwizard.core.plan.memory import estimate_input  # the plan's own config → estimator input

    t = dict(tables if tables is not None else price_tables())
    if gpu:
        rent = t.get("rent", {})
        key = find_gpu(gpu, rent) or next((k for k, short in SKY_NAMES.items() if short.lower() == gpu.lower()
                                           and k in rent), None)
        if key is None:
            return None
        t["rent"] = {key: rent[key]}
    if values.get("precision") in (None, "", "auto"):
        values = {**values, "precision": "bf16"}  # what `auto` becomes on a rented card (all have bf16)
    inp = estimate_input(facts, values, int(values.get("num_gpus") or 1), True)
    return rent_shape(facts, inp, 1.0, tables=t, counts=(gpus,) if gpus else COUNTS)  # cost ∝ tokens: 1 ranks them
