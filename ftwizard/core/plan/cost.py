"""Time and cost before launch (pure): tokens to train, hours on a GPU, and what it costs.

- tokens = rows × tokens per row × epochs (from the data report);
- FLOPs per token: full fine-tuning 6 × params (forward 2, backward 4); an adapter method 4 × params (forward 2,
  backward through the activations 2: no weight gradients for frozen weights) + 6 × trainable; gradient
  checkpointing adds one more forward (2 × params);
- hours = FLOPs / (GPUs × peak dense bf16 TFLOPS × utilisation), the utilisation a stated range (35–45%;
  QLoRA's dequantization makes it ~25% slower);
- cost: your own card (board power × hours × a kWh price), rented GPUs (price per GPU-hour) and hosted
  fine-tuning APIs (price per 1M training tokens).

Every number comes from `presets/gpu_prices.yaml` / `presets/api_prices.yaml` (with their date and sources),
merged with the user's `~/.config/ftwizard/prices.yaml`. `plan_cost` is what the Plan/Launch screens call.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from ftwizard.core.prices import price_tables, user_prices_path

QLORA_SLOWDOWN = 0.75  # QLoRA reaches ~75% of LoRA's speed (4-bit weights dequantized in every matmul)


def find_gpu(name: str, table: dict[str, Any]) -> str | None:
    """The table key for a GPU name: exact, or every token of `name` in the key ('4090', 'A100-80', 'H100')."""
    if name in table:
        return name
    tokens = [t for t in re.split(r"[^a-z0-9]+", name.lower()) if t and t not in ("nvidia", "geforce", "rtx", "gb")]
    for key in table:
        k = key.lower()
        if tokens and all(t in k for t in tokens):
            return key
    return None


def training_tokens(rows: int, tokens_per_row: float, epochs: float) -> float:
    return float(rows) * float(tokens_per_row) * float(epochs)


def flops_per_token(params: float, trainable: float, method: str, grad_ckpt: bool = False) -> float:
    """Training FLOPs per token (see the module docstring)."""
    if method == "full":
        f = 6.0 * params
    else:
        f = 4.0 * params + 6.0 * trainable
    if grad_ckpt:
        f += 2.0 * params  # the forward pass again, layer by layer, during backward
    return f


@dataclass
class RentOption:
    gpu: str
    gpus: int
    price_per_gpu_hour: float
    hours: float
    cost: float
    fits: bool | None  # the memory estimate's top fits this card (None: not checked)
    source: str


@dataclass
class ApiOption:
    name: str
    per_million: float
    cost: float
    source: str


@dataclass
class CostEstimate:
    tokens: float
    flops: float
    gpu: str | None
    gpus: int
    utilisation: tuple[float, float]
    hours: tuple[float, float] | None  # (fast, slow) on the chosen GPU; None: unknown GPU
    own_kwh: float | None
    own_cost: tuple[float, float] | None
    kwh_price: float
    rent: list[RentOption] = field(default_factory=list)
    api: list[ApiOption] = field(default_factory=list)
    currency: str = "USD"
    sources: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """Short human lines for the CLI and the Plan/Launch screens."""
        c = self.currency
        size = f"{self.tokens / 1e6:,.1f}M" if self.tokens >= 1e5 else f"{self.tokens:,.0f}"
        out = [f"{size} training tokens, {self.flops:.2e} FLOPs"]
        if self.hours and self.gpu == "CPU":
            out.append(f"this CPU: {span(fmt_hours(self.hours[0]), fmt_hours(self.hours[1]))} of training at "
                       f"{CPU_FLOPS[0] / 1e9:.0f}–{CPU_FLOPS[1] / 1e9:.0f} GFLOP/s per thread")
        elif self.hours:
            lo, hi = self.hours
            own = f"; own card {c} {self.own_cost[0]:.2f}–{self.own_cost[1]:.2f} in power" if self.own_cost else ""
            out.append(f"{self.gpus}× {self.gpu}: {span(fmt_hours(lo), fmt_hours(hi))} at "
                       f"{self.utilisation[1]:.0%}–{self.utilisation[0]:.0%} of peak{own} "
                       f"({self.kwh_price:.2f} {c}/kWh)")
        elif self.gpu:
            out.append(f"{self.gpu}: no peak-TFLOPS figure in the price table; add it to {user_prices_path()}")
        for r in self.rent:
            tag = "" if r.fits is not False else " (does not fit this card)"
            out.append(f"rent {r.gpus}× {r.gpu} at {c} {r.price_per_gpu_hour:.2f}/h: {about(r.hours)} of "
                       f"training, {money(r.cost, c)}{tag}")
        for a in self.api:
            out.append(f"API {a.name} at {c} {a.per_million:.2f}/1M tokens: ~{c} {a.cost:.2f} (training only)")
        return out


def money(amount: float, currency: str = "USD") -> str:
    """~USD 1.23, or < USD 0.01 for what rounds to nothing."""
    return f"< {currency} 0.01" if amount < 0.005 else f"~{currency} {amount:.2f}"


def about(h: float) -> str:
    """~3 min, or < 1 s (no tilde before a bound)."""
    text = fmt_hours(h)
    return text if text.startswith("<") else f"~{text}"


def span(lo: str, hi: str) -> str:
    """Two formatted bounds as one range: '< 1 s' (not '< 1 s–< 1 s'), '27–48 min' (the unit said once)."""
    if lo == hi:
        return lo
    a, b = lo.rsplit(" ", 1), hi.rsplit(" ", 1)
    if len(a) == 2 and len(b) == 2 and a[1] == b[1] and not lo.startswith("<"):
        return f"{a[0]}–{hi}"
    return f"{lo}–{hi}"


def fmt_size(gib: float, digits: int = 1, mib_below: float = 0.1) -> str:
    """A memory or disk size: GiB, or MiB below `mib_below` GiB (a tiny model's figures are not "0.0 GiB")."""
    return f"{gib:.{digits}f} GiB" if gib >= mib_below else f"{max(gib * 1024, 1):.0f} MiB"


def fmt_hours(h: float) -> str:
    if h * 3600 < 1:
        return "< 1 s"
    if h < 1 / 60:
        return f"{h * 3600:.0f} s"
    if h < 1:
        return f"{h * 60:.0f} min"
    return f"{h:.1f} h"


# Training on the CPU (no GPU found, or the plan says cpu): achieved FLOP/s of one torch thread, measured with
# SmolLM2-135M-Instruct + LoRA r16 on all linear layers (`ftwizard train` of the plan's config, 2026-12-05, another
# job on the other core: 2.67 s per 232-token step at 567 MFLOP/token = 49 GFLOP/s). The range is the spread a
# shared machine shows (core/plan/timing.py RANGE).
CPU_FLOPS_PER_THREAD = 49e9
CPU_FLOPS = (CPU_FLOPS_PER_THREAD / 1.35, CPU_FLOPS_PER_THREAD / 0.75)


def estimate_cost(*, params: float, trainable: float, method: str, tokens: float, gpu: str | None = None,
                  gpus: int = 1, grad_ckpt: bool = False, peak_gib: float | None = None,
                  kwh_price: float | None = None, tables: dict[str, Any] | None = None) -> CostEstimate:
    """Time and cost of training `tokens` tokens. `peak_gib` (the memory estimate's top, per GPU) marks which
    rented cards it fits on."""
    t = tables if tables is not None else price_tables()
    util = (float(t["utilisation"]["low"]), float(t["utilisation"]["high"]))
    notes: list[str] = []
    if method == "qlora":
        util = (util[0] * QLORA_SLOWDOWN, util[1] * QLORA_SLOWDOWN)
        notes.append(f"QLoRA: utilisation × {QLORA_SLOWDOWN} (4-bit weights are dequantized in every matmul)")
    flops = flops_per_token(params, trainable, method, grad_ckpt) * tokens
    gpus = max(1, gpus)
    price = float(kwh_price if kwh_price is not None else t["electricity"]["price_per_kwh"])

    def hours_on(spec: dict[str, Any], n: int) -> tuple[float, float]:
        peak = float(spec["tflops"]) * 1e12 * n
        return flops / (peak * util[1]) / 3600, flops / (peak * util[0]) / 3600

    hours = own_kwh = own_cost = None
    key = find_gpu(gpu, t["specs"]) if gpu else None
    if gpu is None:  # the CPU
        hours = (flops / CPU_FLOPS[1] / 3600, flops / CPU_FLOPS[0] / 3600)
        notes.append(f"CPU: {CPU_FLOPS[0] / 1e9:.0f}–{CPU_FLOPS[1] / 1e9:.0f} GFLOP/s per training thread "
                     f"({CPU_FLOPS_PER_THREAD / 1e9:.0f} measured on a shared 2-core machine)")
    if key:
        spec = t["specs"][key]
        hours = hours_on(spec, gpus)
        kw = float(spec["watts"]) * gpus / 1000
        own_kwh = kw * hours[1]
        own_cost = (kw * hours[0] * price, kw * hours[1] * price)
    rent: list[RentOption] = []
    for name, r in t.get("rent", {}).items():
        skey = find_gpu(name, t["specs"])
        if not skey:
            continue
        fits = None if peak_gib is None else peak_gib <= float(r.get("memory_gib") or 0)
        n = gpus if fits is not False else gpus  # same count; flagged when it does not fit
        lo, hi = hours_on(t["specs"][skey], n)
        mid = (lo + hi) / 2
        rent.append(RentOption(name, n, float(r["price"]), mid, mid * n * float(r["price"]), fits,
                               str(r.get("source", ""))))
    api = [ApiOption(name, float(a["per_million_training_tokens"]),
                     tokens / 1e6 * float(a["per_million_training_tokens"]), str(a.get("source", "")))
           for name, a in t.get("api", {}).items()]
    sources = {"gpu_prices": f"presets/gpu_prices.yaml ({t['gpu_date']})",
               "api_prices": f"presets/api_prices.yaml ({t['api_date']})", "user_file": t.get("user_file")}
    return CostEstimate(tokens=tokens, flops=flops, gpu=key or gpu or "CPU", gpus=gpus, utilisation=util, hours=hours,
                        own_kwh=own_kwh, own_cost=own_cost, kwh_price=price, rent=rent, api=api,
                        currency=str(t.get("currency", "USD")), sources=sources, notes=notes)


def plan_cost(est: Any, *, rows: int, tokens_per_row: float, epochs: float, gpu: str | None, gpus: int = 1,
              tables: dict[str, Any] | None = None) -> CostEstimate:
    """Time and cost for a memory `Estimate` (core/plan/memory.py) and the data: what Plan/Launch show."""
    return estimate_cost(params=est.compute_params, trainable=est.trainable_params, method=est.inp.method,
                         tokens=training_tokens(rows, tokens_per_row, epochs), gpu=gpu, gpus=gpus,
                         grad_ckpt=est.inp.grad_ckpt, peak_gib=est.high_gib, tables=tables)


def measured_utilisation(tokens_per_s: float, *, params: float, trainable: float, method: str, gpu: str,
                         gpus: int = 1, grad_ckpt: bool = False, tables: dict[str, Any] | None = None) -> float | None:
    """The utilisation a running job reaches (its tokens/s × FLOPs per token over the peak): replaces the
    stated 35–45% once training runs. None for a GPU without a TFLOPS figure."""
    t = tables if tables is not None else price_tables()
    key = find_gpu(gpu, t["specs"])
    if not key or tokens_per_s <= 0:
        return None
    peak = float(t["specs"][key]["tflops"]) * 1e12 * max(1, gpus)
    return tokens_per_s * flops_per_token(params, trainable, method, grad_ckpt) / peak


def remaining_hours(tokens_left: float, tokens_per_s: float) -> float:
    """Time left at the measured speed (what the monitor's ETA shows once training runs)."""
    return tokens_left / tokens_per_s / 3600 if tokens_per_s > 0 else float("inf")
