"""LLaMA-Factory's demo datasets through ftwizard, as a user would bring them: what `data` says, and a few real
training steps of each readable one on a real chat model, with what the loss was computed on.

    python bench/lf_formats.py LLAMA_FACTORY_DATA_DIR MODEL [--steps 3] [--out DIR] [--only a,b]

LLAMA_FACTORY_DATA_DIR holds `dataset_info.json` and the demo files (the `data/` folder of hiyouga/LLaMA-Factory);
MODEL is a chat model (folder or .gguf; SmolLM2-135M-Instruct in the issue-22 note). Each local entry is read with
`ftwizard data dataset_info.json --dataset NAME --model MODEL --json`, planned with `ftwizard plan MODEL --data
dataset_info.json#NAME --gpu cpu --save-config`, and trained for `--steps` optimizer steps (LoRA, one CPU thread)
with `ftwizard train`. Printed per entry: the format and rows `data` found, usable or the reason it was refused,
the trainer, what the loss is on, the trained part of the first row, and warnings the run gave (rows dropped,
answers cut, documents split).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml


def sh(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ftwizard", *args], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=1800)


def one(info: Path, name: str, model: str, steps: int, out: Path, env: dict[str, str]) -> dict:
    row: dict = {"entry": name}
    res = sh(["data", str(info), "--dataset", name, "--model", model, "--json"], env)
    try:
        rep = json.loads(res.stdout)
    except ValueError:
        row["data"] = f"exit {res.returncode}: " + ((res.stderr or res.stdout).strip().splitlines() or ["?"])[-1][:160]
        return row
    usable = not rep.get("errors")
    row["data"] = (f"{rep.get('format')} ({rep.get('family')}), {rep.get('rows')} rows, "
                   + ("usable" if usable else "refused: " + str((rep.get("errors") or [{}])[0]
                                                               .get("message", ""))[:120]))
    row["warnings"] = [w if isinstance(w, str) else w.get("message", "") for w in rep.get("warnings", [])][:3]
    if not usable:
        return row
    cfg_path = out / f"{name}.yaml"
    res = sh(["plan", model, "--data", f"{info}#{name}", "--gpu", "cpu", "--save-config", str(cfg_path)], env)
    if res.returncode != 0:
        row["train"] = "plan failed: " + ((res.stderr or res.stdout).strip().splitlines() or ["?"])[-1][:160]
        return row
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg.update(max_steps=steps, logging_steps=1, eval_steps=1000, save_steps=1000, preflight_steps=0,
               eval_on_start=False, max_seq_length=min(int(cfg.get("max_seq_length") or 512), 512), micro_batch=2,
               gradient_accumulation=1)
    cfg_path.write_text(yaml.safe_dump(cfg))
    run = out / name
    res = sh(["train", str(cfg_path), "--out", str(run)], env)
    events = [json.loads(x) for x in (run / "events.jsonl").read_text().splitlines() if x.strip()] \
        if (run / "events.jsonl").exists() else []
    losses = [e["loss"] for e in events if e.get("type") == "log" and "loss" in e]
    plan = next((e for e in events if e.get("kind") == "chat_template"), {})
    tokens = next((e for e in events if e.get("kind") == "loss_tokens"), {})
    row["trainer"] = cfg.get("trainer")
    row["loss_on"] = plan.get("loss_on")
    row["trained"] = " ".join(str(tokens.get("trained_text", "")).split())[:120]
    row["run_warnings"] = [e.get("message", "")[:140] for e in events if e.get("type") == "warning"
                           or e.get("kind") in ("packing", "answers_cut", "rows_dropped")][:3]
    row["train"] = (f"{len(losses)} steps, loss {losses[0]:.2f} → {losses[-1]:.2f}" if losses and res.returncode == 0
                    else f"exit {res.returncode}: " + ((res.stderr or res.stdout).strip().splitlines() or ["?"])[-1][:160])
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data_dir")
    ap.add_argument("model")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--out", default="runs/lf-formats")
    ap.add_argument("--only", help="comma-separated dataset_info names")
    args = ap.parse_args()
    info = Path(args.data_dir) / "dataset_info.json"
    entries = json.loads(info.read_text())
    names = args.only.split(",") if args.only else [n for n, e in entries.items()
                                                     if e.get("file_name") and (info.parent / e["file_name"]).exists()]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "FTWIZARD_CPU_THREADS": os.environ.get("FTWIZARD_CPU_THREADS", "1")}
    for name in names:
        r = one(info, name, args.model, args.steps, out, env)
        print(json.dumps(r, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
