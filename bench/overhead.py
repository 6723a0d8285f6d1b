"""Tokens/s of a run launched through ftwizard vs a plain TRL script, same model/data/settings, one run.

    python bench/overhead.py [--steps 60] [--repeats 2]

Both train the same tiny Llama (built from a config, 4 layers × 128) with full fine-tuning on the same
date-format data with SFTTrainer; each is a fresh subprocess. Tokens/s = tokens seen / train_runtime as
reported by the Trainer itself. Ratio = ftwizard / plain (goal ≥ 1.0). Interleaved to share machine noise.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PLAIN = textwrap.dedent("""
    import json, sys, torch
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer
    model_dir, data_dir, out, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    torch.manual_seed(42)
    ds = load_dataset("json", data_files={"train": f"{data_dir}/train.jsonl"})
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    args = SFTConfig(output_dir=out, per_device_train_batch_size=32, gradient_accumulation_steps=1,
                     learning_rate=3e-3, max_steps=steps, logging_steps=10, save_strategy="no", report_to=[],
                     use_cpu=True, max_length=64, assistant_only_loss=True, disable_tqdm=True, seed=42,
                     include_num_input_tokens_seen=True, lr_scheduler_type="cosine", warmup_steps=0.05,
                     weight_decay=0.0, dataloader_num_workers=0, optim="adamw_torch")
    tr = SFTTrainer(model=model, args=args, train_dataset=ds["train"], processing_class=tok)
    res = tr.train()
    print("RESULT", json.dumps({"tokens": tr.state.num_input_tokens_seen, "runtime": res.metrics["train_runtime"]}))
""")


def run_plain(model: Path, data: Path, out: Path, steps: int) -> float:
    script = out / "plain.py"
    script.write_text(PLAIN)
    p = subprocess.run([sys.executable, str(script), str(model), str(data), str(out / "plain"), str(steps)],
                       capture_output=True, text=True, check=True)
    r = json.loads(p.stdout.split("RESULT", 1)[1])
    return r["tokens"] / r["runtime"]


def run_wizard(model: Path, data: Path, out: Path, steps: int, i: int) -> float:
    from ftwizard.core.launcher import launch, wait
    from ftwizard.core.rundir import RunConfig, RunDir

    cfg = RunConfig(model=str(model), data=str(data), method="full", max_seq_length=64, micro_batch=32,
                    gradient_accumulation=1, learning_rate=3e-3, max_steps=steps, warmup_ratio=0.05, weight_decay=0.0,
                    logging_steps=10, eval_steps=10**9, save_steps=10**9, preflight_steps=0)
    run = out / f"wiz{i}"
    rd = RunDir(run).create(cfg)
    st = wait(launch(run), run)
    assert st["state"] == "done", (run / "stdout.log").read_text()[-2000:]
    done = [e for e in rd.read_events() if e["type"] == "done"][-1]
    logs = [e for e in rd.read_events() if e.get("num_input_tokens_seen")]
    tokens = logs[-1]["num_input_tokens_seen"] if logs else None
    return (tokens or 0) / done["train_runtime"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    from ftwizard.core.data.report import analyze, split_and_write
    from ftwizard.train.tiny import build_tiny, date_examples, write_jsonl

    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        model = build_tiny(root / "model")
        src = write_jsonl(date_examples(4000, seed=1), root / "dates.jsonl")
        split_and_write(analyze(str(src)), root / "data", (0.9, 0.05, 0.05), 42)
        wiz, plain = [], []
        for i in range(a.repeats):
            plain.append(run_plain(model, root / "data", root, a.steps))
            wiz.append(run_wizard(model, root / "data", root, a.steps, i))
        w, p = statistics.median(wiz), statistics.median(plain)
        print(f"plain TRL: {p:,.0f} tok/s  ftwizard: {w:,.0f} tok/s  ratio ftwizard/plain = {w / p:.3f} "
              f"(median of {a.repeats}, {a.steps} steps each; runs: plain {[round(x) for x in plain]}, "
              f"wizard {[round(x) for x in wiz]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
