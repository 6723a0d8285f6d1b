"""Estimator error against published peak-memory measurements.

    python bench/estimator_error.py [--csv FILE] [--verbose]
    python bench/estimator_error.py --csv bench/data/heldout_measurements.csv   # held-out rows, one line each

The estimator's constants were calibrated on data/published_measurements.csv only; data/heldout_measurements.csv
holds published runs that were never used for fitting (report the error there).

Each row of the CSV (see ../shared/memory/README.md for the sources) is mapped to an EstimateInput
for the same configuration and stack (loss implementation, adapter dtype), and the estimate is compared
with the metric the source measured: max_memory_allocated / "active" → peak_allocated, reserved →
allocated + allocator slack, nvidia-smi-like or unstated-tool figures → peak (with CUDA context).
Rows the estimator cannot represent (CPU offload, optimizer-in-backward, suspect/derived figures,
Unsloth's custom kernels, unknown flags) are listed as skipped, with the reason.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ftwizard.core.plan.catalog import find_preset  # noqa: E402
from ftwizard.core.plan.memory import ALLOCATOR_SLACK, EstimateInput, estimate  # noqa: E402
from ftwizard.core.plan.model_facts import facts_from_config  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_CSVS = [HERE / "data" / "published_measurements.csv"]
MODEL_CONFIGS = HERE / "data" / "model_configs.json"  # configs of CSV models that have no preset

SKIP_RULES = [
    ("measured_or_estimated", "suspect", "source figure is below the static minimum (suspect)"),
    ("measured_or_estimated", "derived", "derived/extrapolated, not measured"),
    ("measured_or_estimated", "flags unknown", "run flags unknown"),
    ("measured_or_estimated", "caveat", "paged optimizer + optimizer-in-backward: outside allocator stats"),
    ("optimizer", "optimizer_in", "optimizer step fused into backward (not in HF Trainer)"),
    ("grad_ckpt", "offload", "activation offloading to CPU (not modelled)"),
    ("framework", "Unsloth", "Unsloth custom kernels"),
    ("seq_len", "unpacked", "padded per batch to an unstated longest sample"),
    ("measured_or_estimated", "measured range", "a range of reserved-memory readings, not the run's need"),
]


def skip_reason(row: dict[str, str]) -> str | None:
    for col, needle, why in SKIP_RULES:
        if needle.lower() in row[col].lower():
            return why
    return None


def facts_for(name: str):  # noqa: ANN201
    """The preset for a CSV model name ("Mistral-7B (v0.1 and v0.2 identical)" → mistral-7b), else its config in
    data/model_configs.json."""
    found = find_preset(name) or find_preset(re.sub(r"\s*\(.*?\)", "", name).strip())
    if found is None and MODEL_CONFIGS.is_file():
        cfg = json.loads(MODEL_CONFIGS.read_text(encoding="utf-8")).get(name)
        found = facts_from_config(cfg, name) if isinstance(cfg, dict) else None
    return found


def row_to_input(row: dict[str, str]) -> tuple[EstimateInput, str]:
    """Map a CSV row to (EstimateInput, which metric to compare)."""
    facts = facts_for(row["model"])
    if facts is None:
        raise KeyError(f"no preset for {row['model']}")
    m = row["method"].lower()
    method = "full" if m.startswith("full") else "qlora" if m.startswith("qlora") else "lora"
    tm = row["target_modules"].lower()
    if method == "full":
        targets: tuple[str, ...] = ()
    elif tm.replace(" ", "") in ("q,v", "unknown") or tm.startswith("q,v (config"):
        targets = tuple(facts.resolve_targets("minimal"))
    elif tm.startswith("q,v,o"):
        targets = tuple(t for t in facts.resolve_targets("all-linear") if t != "k_proj")
    else:
        targets = tuple(facts.resolve_targets("all-linear"))
    if "head" in tm.split(","):  # LitGPT's lora_head: LoRA on the output layer as well
        targets += ("lm_head",)
    prec = row["precision"].lower()
    precision = ("fp32" if prec.startswith(("fp32", "float32")) else "bf16-mixed" if "mixed" in prec
                 else "fp16" if "fp16" in prec else "bf16")
    if method == "qlora":
        precision = "fp16" if "fp16" in prec else "bf16"
    o = row["optimizer"].lower()
    optim = "paged_adamw_32bit" if "paged" in o and "8bit" not in o else "adamw_bnb_8bit" if "8bit" in o else "adamw_torch"
    fw = row["framework"].lower()
    litgpt = "litgpt" in fw
    torchtune = "torchtune" in fw
    chunked = litgpt or "chunked" in fw
    seq = int(re.search(r"\d+", row["seq_len"]).group())  # type: ignore[union-attr]
    att = row["attention"].lower()
    attention = "flash" if "flash" in att else "eager" if att.startswith("eager") and "sdpa" not in att else "sdpa"
    engine = "zero3" if "zero-3" in fw else "zero2" if "zero-2" in fw else "fsdp" if "fsdp" in fw else "auto"
    inp = EstimateInput(
        method=method, rank=int(row["lora_r"] or 16), targets=targets, batch=int(row["micro_batch"]),
        seq=seq, grad_ckpt=row["grad_ckpt"].lower().startswith(("on", "likely on")), optim=optim,
        precision=precision, attention=attention,
        loss="chunked" if chunked else "full",
        adapter_dtype="model" if (litgpt or torchtune or "adapters bf16" in prec) else "fp32",
        lora_dropout=0.05 if (litgpt or method != "full") else 0.0,
        double_quant="dq" in prec or not litgpt, engine=engine,
    )
    how = row["measured_or_estimated"].lower()
    if "reserved" in how:
        metric = "reserved"
    elif "allocated" in how or "active" in how or "stat unstated" in how or "torchtune" in fw:
        metric = "allocated"
    else:
        metric = "peak"  # tool unstated / nvidia-smi-like
    return inp, metric


def predicted_gb(row: dict[str, str]) -> tuple[float, str]:
    """The central estimate (GB) of the metric the source measured."""
    return predicted_range_gb(row)[0], row_to_input(row)[1]


def predicted_range_gb(row: dict[str, str]) -> tuple[float, float]:
    """(central, high) estimate in GB of the measured metric; high = central × (1 + the estimate's margin)."""
    inp, metric = row_to_input(row)
    facts = facts_for(row["model"])
    assert facts is not None
    est = estimate(facts, inp)
    if metric == "allocated":
        val = est.peak_allocated_bytes
    elif metric == "reserved":
        val = est.peak_allocated_bytes * (1 + ALLOCATOR_SLACK)
    else:
        val = est.peak_bytes
    return val / 1e9, val * (1 + est.margin) / 1e9


def _seq_range(tokens: int) -> str:
    return "≤1k tok" if tokens <= 1024 else "1k–4k tok" if tokens <= 4096 else ">4k tok"


def _engine(row: dict[str, str]) -> str:
    fw = row["framework"].split(" ")[0].split("(")[0]
    return "HF stack" if fw in ("HF", "LLaMA-Factory") else fw


def summary(errs: list[float]) -> str:
    a = sorted(abs(e) for e in errs)
    under = sum(e < -10 for e in errs)
    return (f"n={len(errs):2}  median {statistics.median(a):5.1f}%  worst {max(a):5.1f}%  "
            f"under>10%: {under}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", action="append", type=Path, help="measurement CSV (repeatable)")
    ap.add_argument("--verbose", "-v", action="store_true")
    args = ap.parse_args(argv)
    errors: list[float] = []
    high_errors: list[float] = []
    groups: dict[str, dict[str, list[float]]] = {"method": {}, "engine": {}, "tokens per micro-batch": {}}
    skipped: list[tuple[str, str]] = []
    lines = []
    for path in args.csv or DEFAULT_CSVS:
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                why = skip_reason(row)
                if why:
                    skipped.append((row["id"], why))
                    continue
                try:
                    inp, metric = row_to_input(row)
                    pred, high = predicted_range_gb(row)
                except KeyError as exc:
                    skipped.append((row["id"], str(exc)))
                    continue
                meas = float(row["peak_gb"])
                err = 100.0 * (pred - meas) / meas
                errors.append(err)
                high_errors.append(100.0 * (high - meas) / meas)
                groups["method"].setdefault(inp.method, []).append(err)
                groups["engine"].setdefault(_engine(row), []).append(err)
                groups["tokens per micro-batch"].setdefault(_seq_range(inp.batch * inp.seq), []).append(err)
                lines.append(f"{row['id']:>4} {row['model'][:26]:26} {row['method'][:6]:6} b={row['micro_batch']:>2} "
                             f"s={row['seq_len'][:6]:6} {row['framework'][:22]:22} {metric:9} "
                             f"meas {meas:6.2f}  est {pred:6.2f}  {err:+6.1f}%  high {high:6.2f}")
    if args.verbose or args.csv:  # a CSV named on the command line: show every row
        print("\n".join(lines))
        for rid, why in skipped:
            print(f"skip {rid:>4}: {why}")
    abs_err = sorted(abs(e) for e in errors)
    print(f"rows compared: {len(errors)}  skipped: {len(skipped)}")
    print(f"central estimate: median |error| {statistics.median(abs_err):.1f}%   worst {max(abs_err):.1f}%   "
          f"mean signed {statistics.mean(errors):+.1f}%   within 10%: {sum(e <= 10 for e in abs_err)}/{len(abs_err)}"
          f"   within 25%: {sum(e <= 25 for e in abs_err)}/{len(abs_err)}   under by >10%: "
          f"{sum(e < -10 for e in errors)}")
    print(f"plan figure (high = central × (1 + margin)): {summary(high_errors)}   "
          f"under at all: {sum(e < 0 for e in high_errors)}")
    for name, by in groups.items():
        print(f"by {name} (central):")
        for key, errs in sorted(by.items()):
            print(f"  {key:12} {summary(errs)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
