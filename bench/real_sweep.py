"""Which plan teaches a real chat model? A small LoRA sweep on SmolLM2-135M-Instruct, on this CPU.

    python bench/real_sweep.py [--task identity|format|both] [--only NAME,...] [--threads 1] [--out DIR]

Each configuration trains through the real runner (`ftwizard train`, a subprocess) and is then judged by what
the model does, not by its loss:
- identity: the shipped identity set (ftwizard/data/identity_wizzy.jsonl, 48 rows: "I am Wizzy, developed by
  the ftwizard team"); 5 held-out phrasings of "who are you" must name Wizzy;
- format: 96 Alpaca rows (ftwizard/data/format_json.jsonl) whose answers are JSON objects {"answer": ...};
  8 held-out questions must come back as such JSON;
- both: the 8 shipped general questions (France → Paris, …) must still be answered as the base answered them.
Printed: one row per configuration — optimizer steps, train/eval loss, held-out hits base → tuned, general
answers kept, minutes. The recommender's small-data defaults (core/plan/recommend.py) come from this table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ftwizard.cli.demo_real import HELD_OUT, NAME  # noqa: E402
from ftwizard.core.eval import probes  # noqa: E402
from ftwizard.core.plan import smollm  # noqa: E402
from ftwizard.core.plan.gguf import convert  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "ftwizard" / "data"
IDENTITY_PROBES = [probes.Probe(p, (NAME,)) for p in HELD_OUT]  # the same held-out phrasings as `demo --real`
FORMAT_PROBES = [probes.Probe(p, ("{",)) for p in (
    "Name three primary colors.", "What is photosynthesis?", "Give me a synonym for happy.",
    "How many legs does a spider have?", "Suggest a name for a pet goldfish.", "What does a thermometer measure?",
    "Write a one-line motto for a bakery.", "What is the boiling point of water at sea level?")]

# name: (rank, targets, learning rate, micro, accumulation, epochs or None, max_steps or None)
CONFIGS = {
    "old-plan": (8, "attention", 2e-4, 4, 2, 3, None),
    "r16-all-2e-4": (16, "all-linear", 2e-4, 4, 1, None, 40),
    "r16-all-5e-4": (16, "all-linear", 5e-4, 4, 1, None, 40),
    "r16-all-1e-3": (16, "all-linear", 1e-3, 4, 1, None, 40),
    "r16-all-2e-3": (16, "all-linear", 2e-3, 4, 1, None, 40),
    "r8-attn-1e-3": (8, "attention", 1e-3, 4, 1, None, 40),
    "r16-all-1e-3-20": (16, "all-linear", 1e-3, 4, 1, None, 20),
}


def is_json_answer(text: str) -> bool:
    try:
        return isinstance(json.loads(text.strip()), dict) and "answer" in json.loads(text.strip())
    except ValueError:
        return False


def run_one(name: str, task: str, model: Path, out: Path, threads: int) -> dict:
    rank, targets, lr, micro, accum, epochs, steps = CONFIGS[name]
    data = DATA / ("identity_wizzy.jsonl" if task == "identity" else "format_json.jsonl")
    cfg = {"model": str(model), "data": str(data), "method": "lora", "rank": rank, "alpha": 2 * rank,
           "target_modules": targets, "learning_rate": lr, "micro_batch": micro, "gradient_accumulation": accum,
           "epochs": epochs or 100, "max_steps": steps or -1, "max_seq_length": 256, "eval_steps": 10,
           "eval_on_start": True, "logging_steps": 5, "save_steps": 1000, "dropout": 0.05, "warmup_ratio": 0.1}
    run = out / f"{task}-{name}"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{task}-{name}.yaml").write_text(json.dumps(cfg))
    env = {**os.environ, "FTWIZARD_CPU_THREADS": str(threads)}
    t0 = time.time()
    if not (run / "adapter").exists():
        subprocess.run([sys.executable, "-m", "ftwizard.cli", "train", str(out / f"{task}-{name}.yaml"), "--out",
                        str(run)], env=env, check=True, stdout=subprocess.DEVNULL)
    minutes = (time.time() - t0) / 60
    ev = [json.loads(x) for x in (run / "events.jsonl").read_text().splitlines() if x.strip()]
    losses = [e["loss"] for e in ev if e.get("type") == "log" and "loss" in e]
    evals = [e["eval_loss"] for e in ev if "eval_loss" in e]
    steps_done = max((e.get("step", 0) for e in ev if e.get("type") == "log"), default=0)
    from ftwizard.train.generate import answer_many

    task_probes = IDENTITY_PROBES if task == "identity" else FORMAT_PROBES
    gen = probes.general()
    ans = answer_many(run, [p.prompt for p in task_probes + gen], max_new_tokens=48)
    n = len(task_probes)

    def hits(side: str) -> int:
        if task == "format":
            return sum(is_json_answer(a) for a in ans[side][:n])
        return sum(probes.score(ans[side][:n], task_probes))

    gb, gt = probes.score(ans["base"][n:], gen), probes.score(ans["tuned"][n:], gen)
    return {"task": task, "config": name, "steps": steps_done, "loss_first": losses[0] if losses else None,
            "loss_last": losses[-1] if losses else None, "eval_first": evals[0] if evals else None,
            "eval_last": evals[-1] if evals else None, "hits_base": hits("base"), "hits_tuned": hits("tuned"),
            "n": n, "general_base": sum(gb), "general_kept": sum(b and t for b, t in zip(gb, gt, strict=True)),
            "minutes": round(minutes, 1), "samples": {"task": ans["tuned"][:2], "general": ans["tuned"][n:n + 2]}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", choices=["identity", "format", "both"], default="both")
    ap.add_argument("--only", help="comma-separated configuration names")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="runs/sweep")
    args = ap.parse_args()
    os.environ["FTWIZARD_CPU_THREADS"] = str(args.threads)
    model = convert(smollm.fetch(print), print)
    names = args.only.split(",") if args.only else list(CONFIGS)
    tasks = ["identity", "format"] if args.task == "both" else [args.task]
    rows = []
    for task in tasks:
        for name in names:
            r = run_one(name, task, model, Path(args.out), args.threads)
            rows.append(r)
            print(json.dumps(r, ensure_ascii=False), flush=True)
    print(f"\n{'task':9}{'config':18}{'steps':>6}{'loss':>14}{'eval loss':>14}{'held-out':>10}{'general':>9}{'min':>6}")
    for r in rows:
        loss = f"{r['loss_first']:.2f}→{r['loss_last']:.2f}" if r["loss_first"] else "-"
        ev = f"{r['eval_first']:.2f}→{r['eval_last']:.2f}" if r["eval_first"] else "-"
        print(f"{r['task']:9}{r['config']:18}{r['steps']:>6}{loss:>14}{ev:>14}"
              f"{str(r['hits_base']) + '→' + str(r['hits_tuned']) + '/' + str(r['n']):>10}"
              f"{str(r['general_kept']) + '/' + str(r['general_base']):>9}{r['minutes']:>6}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
