"""GPU memory calibration in one command: real training steps of the HF stack on random-weight models.

    python bench/gpu_calibrate.py                       # the default grid on the local GPU
    python bench/gpu_calibrate.py --models qwen2.5-0.5b,llama-3.2-1b --methods lora,qlora --quick
    python bench/gpu_calibrate.py --dry-run --out /tmp/m.csv   # CPU, a tiny config: checks the harness

Models come from real `config.json`s (tests/core/configs/, no download): the weights are random, the memory
is the same. Every grid point (method × micro-batch × sequence × checkpointing × optimizer) runs in its own
subprocess (a clean CUDA context): the model is built (QLoRA: saved once in bf16 and reloaded in 4-bit with
the trainer's BitsAndBytesConfig), wrapped with PEFT like ftwizard's trainer, and trained for a few steps on
random tokens with the optimizer ftwizard would use. Written per point: the measured peaks
(torch max_memory_allocated / max_memory_reserved, NVML used), tokens/s after the first step, and next to
them ftwizard's estimate (peak allocated, peak with overhead, the top of its range) and the errors —
`bench/data/measured_<gpu>.csv`. A point that runs out of memory is recorded as `oom` (that is data too).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONFIGS = ROOT / "tests" / "core" / "configs"
DATA = ROOT / "bench" / "data"
GIB = 1024**3
DEFAULT_MODELS = ("qwen2.5-0.5b", "llama-3.2-1b", "qwen3-0.6b", "gemma-2-2b", "phi-3-mini-4k", "qwen2.5-7b",
                  "llama-3.1-8b")
FIELDS = ["gpu", "model", "params_b", "method", "rank", "micro_batch", "seq", "grad_ckpt", "optim", "status",
          "alloc_gib", "reserved_gib", "nvml_used_gib", "nvml_base_gib", "tokens_per_s", "est_alloc_gib",
          "est_peak_gib", "est_high_gib", "err_alloc_pct", "err_peak_vs_nvml_pct", "torch", "transformers", "peft",
          "bitsandbytes", "seconds", "error"]
TINY_CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 512, "hidden_size": 64,
               "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
               "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "tie_word_embeddings": False,
               "torch_dtype": "bfloat16"}


def optimizer_for(method: str, choice: str) -> str:
    """ftwizard's optimizer for a method: `default` = what the plan picks (paged 8-bit for QLoRA)."""
    if choice != "default":
        return choice
    return "paged_adamw_8bit" if method == "qlora" else "adamw_torch"


def grid(args: argparse.Namespace) -> list[dict[str, Any]]:
    pts = []
    for model, method, mb, seq, ck, opt in itertools.product(
            args.models.split(","), args.methods.split(","), [int(x) for x in args.batches.split(",")],
            [int(x) for x in args.seqs.split(",")], [x == "on" for x in args.ckpt.split(",")], args.optims.split(",")):
        pts.append({"model": model, "method": method, "micro_batch": mb, "seq": seq, "grad_ckpt": ck,
                    "optim": optimizer_for(method, opt), "rank": args.rank, "steps": args.steps})
    return pts


def estimate_for(cfg: dict[str, Any], pt: dict[str, Any], precision: str) -> dict[str, float]:
    from ftwizard.core.plan.memory import EstimateInput, estimate
    from ftwizard.core.plan.model_facts import facts_from_config

    facts = facts_from_config(cfg, name=pt["model"])
    targets = tuple(facts.resolve_targets("all-linear")) if pt["method"] != "full" else ()
    est = estimate(facts, EstimateInput(method=pt["method"], rank=pt["rank"], targets=targets, batch=pt["micro_batch"],
                                        seq=pt["seq"], grad_ckpt=pt["grad_ckpt"], optim=pt["optim"],
                                        precision=precision, lora_dropout=0.05))
    return {"params_b": round(facts.param_count / 1e9, 3), "est_alloc_gib": round(est.peak_allocated_gib, 3),
            "est_peak_gib": round(est.peak_gib, 3), "est_high_gib": round(est.high_gib, 3)}


# ---- one point, in its own process ---------------------------------------------------------------------------
def _nvml_used(index: int) -> float | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        return float(pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(index)).used)
    except Exception:  # noqa: BLE001 - NVML is optional
        return None


def _build(cfg: dict[str, Any], pt: dict[str, Any], device: str, cache: Path) -> Any:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    hf_cfg = AutoConfig.for_model(**{k: v for k, v in cfg.items() if k not in ("architectures", "auto_map")})
    if pt["method"] == "qlora":
        from transformers import BitsAndBytesConfig

        folder = cache / pt["model"]
        if not (folder / "config.json").exists():  # random bf16 weights saved once, reloaded in 4-bit
            with torch.device("cpu"):
                m = AutoModelForCausalLM.from_config(hf_cfg, dtype=dtype)
            m.save_pretrained(folder)
            del m
        q = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                               bnb_4bit_compute_dtype=dtype)
        return AutoModelForCausalLM.from_pretrained(folder, quantization_config=q, dtype=dtype, device_map={"": 0})
    with torch.device(device):
        return AutoModelForCausalLM.from_config(hf_cfg, dtype=dtype)


def _optimizer(params: list[Any], name: str) -> Any:
    import torch

    if name in ("adamw_torch", "adamw_torch_fused"):
        return torch.optim.AdamW(params, lr=1e-5, fused=name.endswith("fused"))
    import bitsandbytes as bnb

    cls = {"adamw_bnb_8bit": bnb.optim.AdamW8bit, "paged_adamw_8bit": bnb.optim.PagedAdamW8bit,
           "paged_adamw_32bit": bnb.optim.PagedAdamW32bit}[name]
    return cls(params, lr=1e-5)


def run_point(pt: dict[str, Any], cfg: dict[str, Any], cache: Path) -> dict[str, Any]:
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    out: dict[str, Any] = {"status": "ok"}
    index = torch.cuda.current_device() if device == "cuda" else 0
    out["nvml_base_gib"] = (_nvml_used(index) or 0) / GIB if device == "cuda" else None
    t0 = time.time()
    try:
        model = _build(cfg, pt, device, cache)
        if pt["method"] != "full":
            from peft import LoraConfig, get_peft_model

            model = get_peft_model(model, LoraConfig(r=pt["rank"], lora_alpha=2 * pt["rank"], lora_dropout=0.05,
                                                     target_modules="all-linear", use_dora=pt["method"] == "dora",
                                                     task_type="CAUSAL_LM"))
        if pt["grad_ckpt"]:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            if hasattr(model, "enable_input_require_grads"):
                model.enable_input_require_grads()
        model.config.use_cache = False
        model.train()
        opt = _optimizer([p for p in model.parameters() if p.requires_grad], pt["optim"])
        vocab = int(cfg.get("vocab_size") or cfg.get("text_config", {}).get("vocab_size"))
        gen = torch.Generator(device="cpu").manual_seed(0)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        nvml_peak = 0.0
        t_steps = None
        for step in range(max(2, pt["steps"])):
            if step == 1:
                if device == "cuda":
                    torch.cuda.synchronize()
                t_steps = time.time()
            ids = torch.randint(0, vocab, (pt["micro_batch"], pt["seq"]), generator=gen).to(device)
            loss = model(input_ids=ids, labels=ids).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if device == "cuda":
                torch.cuda.synchronize()
                nvml_peak = max(nvml_peak, _nvml_used(index) or 0.0)
        dt = time.time() - (t_steps or t0)
        out["tokens_per_s"] = round(pt["micro_batch"] * pt["seq"] * (max(2, pt["steps"]) - 1) / dt, 1)
        if device == "cuda":
            out["alloc_gib"] = round(torch.cuda.max_memory_allocated() / GIB, 3)
            out["reserved_gib"] = round(torch.cuda.max_memory_reserved() / GIB, 3)
            out["nvml_used_gib"] = round(nvml_peak / GIB, 3) if nvml_peak else None
    except torch.cuda.OutOfMemoryError as exc:
        out.update(status="oom", error=str(exc).splitlines()[0][:200])
        if device == "cuda":
            out["alloc_gib"] = round(torch.cuda.max_memory_allocated() / GIB, 3)
            out["reserved_gib"] = round(torch.cuda.max_memory_reserved() / GIB, 3)
    except Exception as exc:  # noqa: BLE001 - one point failing must not stop the grid
        out.update(status="error", error=f"{type(exc).__name__}: {exc}"[:300])
    out["seconds"] = round(time.time() - t0, 1)
    return out


# ---- the driver ----------------------------------------------------------------------------------------------
def load_config(model: str, dry_run: bool) -> dict[str, Any]:
    if dry_run:
        return dict(TINY_CONFIG)
    return json.loads((CONFIGS / f"{model}.json").read_text(encoding="utf-8"))


def gpu_label() -> str:
    import torch

    if not torch.cuda.is_available():
        return "cpu"
    name = torch.cuda.get_device_name(0).replace("NVIDIA ", "").replace("GeForce ", "")
    return "".join(c if c.isalnum() else "_" for c in name).strip("_").lower()


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for pkg in ("torch", "transformers", "peft", "bitsandbytes"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = ""
    return out


def _pct(est: float | None, meas: float | None) -> float | None:
    return round(100 * (est - meas) / meas, 1) if est and meas else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS), help="config names in tests/core/configs")
    ap.add_argument("--methods", default="full,lora,qlora,dora")
    ap.add_argument("--batches", default="1,4")
    ap.add_argument("--seqs", default="512,2048")
    ap.add_argument("--ckpt", default="off,on")
    ap.add_argument("--optims", default="default", help="default (ftwizard's pick per method), adamw_torch, …")
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--max-params-b", type=float, default=None, help="skip full fine-tunes above this size")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per point")
    ap.add_argument("--quick", action="store_true", help="micro-batch 1, seq 1024, checkpointing on only")
    ap.add_argument("--dry-run", action="store_true", help="CPU, a tiny config, full/lora/dora: checks the harness")
    ap.add_argument("--out", type=Path, help="CSV path (default bench/data/measured_<gpu>.csv)")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one point (JSON) and print its result
    args = ap.parse_args(argv)

    if args.one:
        req = json.loads(args.one)
        res = run_point(req["pt"], req["cfg"], Path(req["cache"]))
        print("RESULT " + json.dumps(res), flush=True)
        return 0
    if args.dry_run:  # a tiny config on the CPU; the grid flags still narrow it
        args.models, args.seqs, args.steps = "tiny", "32", 2
        if args.methods == ap.get_default("methods"):
            args.methods = "full,lora,dora"
        if args.batches == ap.get_default("batches"):
            args.batches = "1,2"
    if args.quick:
        args.batches, args.seqs, args.ckpt = "1", "1024", "on"
    label = "cpu-dry-run" if args.dry_run else gpu_label()
    out_path = args.out or DATA / f"measured_{label}.csv"
    vers = versions()
    precision = "fp32" if args.dry_run else "bf16"
    rows = []
    with tempfile.TemporaryDirectory(prefix="ftwizard-calib-") as cache:
        for pt in grid(args):
            cfg = load_config(pt["model"], args.dry_run)
            est = estimate_for(cfg, pt, precision)
            row: dict[str, Any] = {"gpu": label, **{k: pt[k] for k in ("model", "method", "rank", "micro_batch", "seq",
                                                                        "grad_ckpt", "optim")}, **est, **vers}
            if args.max_params_b and pt["method"] == "full" and est["params_b"] > args.max_params_b:
                continue
            req = json.dumps({"pt": pt, "cfg": cfg, "cache": cache})
            env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
            if args.dry_run:
                env["CUDA_VISIBLE_DEVICES"] = ""
            try:
                proc = subprocess.run([sys.executable, __file__, "--one", req], capture_output=True, text=True,
                                      timeout=args.timeout, env=env)
                line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
                res = json.loads(line[7:]) if line else {"status": "error",
                                                         "error": (proc.stderr or proc.stdout)[-300:]}
            except subprocess.TimeoutExpired:
                res = {"status": "timeout"}
            row.update(res)
            row["err_alloc_pct"] = _pct(est["est_alloc_gib"], row.get("alloc_gib"))
            used = row.get("nvml_used_gib")
            base = row.get("nvml_base_gib") or 0
            row["err_peak_vs_nvml_pct"] = _pct(est["est_peak_gib"], used - base if used else None)
            rows.append(row)
            print(f"{row['model']:14} {row['method']:5} b={row['micro_batch']:<2} s={row['seq']:<5} "
                  f"ckpt={'on ' if row['grad_ckpt'] else 'off'} {row['optim']:17} {row['status']:6} "
                  f"alloc {row.get('alloc_gib')}  est {est['est_alloc_gib']}  err {row['err_alloc_pct']}%  "
                  f"{row.get('tokens_per_s')} tok/s", flush=True)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with open(out_path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    ok = [r for r in rows if r["status"] == "ok"]
    print(f"wrote {out_path} ({len(rows)} points, {len(ok)} ok)")
    return 0 if rows and all(r["status"] in ("ok", "oom") for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
