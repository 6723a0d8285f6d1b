"""`ftwizard demo [--headless]`: the offline demo — a tiny model learns a date format on the CPU; `--real`: a real chat
model (cli/demo_real.py); `--grpo`: the GRPO demo."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from ftwizard.cli._common import console, follow, report_end


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="offline demo: tiny model + date-format task, trained on the CPU, then checked")
    p.add_argument("--headless", action="store_true", help="no app: print progress here")
    p.add_argument("--out", help="run directory (default runs/demo-<timestamp>)")
    p.add_argument("--examples", type=int, default=4000)
    p.add_argument("--real", action="store_true", help="a real chat model (SmolLM2-135M-Instruct, fetched once) learns "
                                                       "its name on this CPU, then base vs tuned on held-out questions")
    p.add_argument("--grpo", action="store_true", help="the GRPO demo: a short SFT warm-up, then GRPO raises an "
                                                       "exact-match + per-character reward (headless)")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from ftwizard.core.run.launcher import launch
    from ftwizard.core.run.service import build_demo, new_run_dir

    if args.grpo:
        return _grpo_demo(args)
    if args.real:
        from ftwizard.cli.demo_real import cmd_real

        return cmd_real(args)
    if not args.headless:
        from ftwizard.ui.app import run_app

        return run_app(demo=True)
    t0 = time.time()
    run = build_demo(Path(args.out) if args.out else new_run_dir(prefix="demo-"), args.examples)
    console.print(f"Demo: a 4-layer model learns YYYY-MM-DD → DD/MM/YYYY on the CPU. Run: {run}")
    st = follow(run, launch(run))
    if st.get("state") != "done":
        return report_end(st, run)
    from ftwizard.train.checks import run_checks

    console.print("checking base vs tuned on held-out dates …")
    res = run_checks(run, only=["compare"])
    for s in res["samples"][:4]:
        console.print(f"  {s['prompt']} → base {s['base']!r:14} tuned {s['tuned']!r:14} expected {s['expected']!r}",
                      markup=False, highlight=False)
    console.print(f"exact match: base {res['baseline']['exact_match']:.2f} → tuned {res['tuned']['exact_match']:.2f} "
                  f"(n={res['tuned']['n']}); total {time.time() - t0:.0f} s")
    return 0


def _grpo_demo(args: argparse.Namespace) -> int:
    """SFT warm-up → GRPO on the date task; the reward during training and on held-out prompts, before → after."""
    import json

    from ftwizard.core.run.launcher import launch
    from ftwizard.core.run.layout import RunDir
    from ftwizard.core.run.service import new_run_dir
    from ftwizard.train.demo import GRPO_REWARDS, make_grpo_demo
    from ftwizard.train.rewards import score_model

    t0 = time.time()
    out = Path(args.out) if args.out else new_run_dir(prefix="demo-grpo-")
    sft_run, grpo_run = make_grpo_demo(out)
    console.print(f"GRPO demo: a 4-layer model learns YYYY-MM-DD → DD/MM/YYYY. 1) a short SFT warm-up so some "
                  f"answers score; 2) GRPO samples 4 answers per date and reinforces the better ones "
                  f"(reward: {' + '.join(GRPO_REWARDS)}). Runs: {out}", highlight=False)
    for run in (sft_run, grpo_run):
        console.print(run.name, style="bold", markup=False)
        st = follow(run, launch(run))
        if st.get("state") != "done":
            return report_end(st, run)
    logged = [e["reward"] for e in RunDir(grpo_run).read_events() if e["type"] == "log" and "reward" in e]
    k = max(1, len(logged) // 4)
    first, last = sum(logged[:k]) / k, sum(logged[-k:]) / k
    rows = [json.loads(x) for x in RunDir(grpo_run).split_file("test").read_text().splitlines() if x.strip()]
    console.print(f"checking the reward on {len(rows)} held-out dates, before (SFT warm-up) and after GRPO …")
    res: dict[str, dict[str, dict[str, float]]] = {}
    for name, how in (("sampled", {"temperature": 1.0, "samples": 4}), ("greedy", {})):
        res[name] = {label: score_model(path, rows, GRPO_REWARDS, max_new_tokens=12, **how)  # type: ignore[arg-type]
                     for label, path in (("before", RunDir(sft_run).full_model),
                                         ("after", RunDir(grpo_run).full_model))}
    console.print(f"training reward (sampled, mean of the first/last {k} logs): {first:.3f} → {last:.3f}",
                  highlight=False)
    for name, r in res.items():
        b, a = r["before"], r["after"]
        console.print(f"held-out, {name:7}: reward {b['reward']:.3f} → {a['reward']:.3f}  (exact match "
                      f"{b['exact_match']:.2f} → {a['exact_match']:.2f}, per-character {b['char_match']:.3f} → "
                      f"{a['char_match']:.3f})", highlight=False)
    g, sm = res["greedy"], res["sampled"]
    if g["after"]["reward"] < g["before"]["reward"]:  # judged the way the model is used: greedy answers
        console.print(f"[b yellow]GRPO did not make the greedy answers better[/]: held-out greedy reward "
                      f"{g['before']['reward']:.3f} → {g['after']['reward']:.3f} while the sampled reward went "
                      f"{sm['before']['reward']:.3f} → {sm['after']['reward']:.3f} — it learned to sample better, not "
                      "to answer better; use the SFT warm-up model, or train GRPO longer / with more generations.",
                      highlight=False)
    else:
        console.print(f"[b green]GRPO made the greedy answers better[/]: held-out greedy reward "
                      f"{g['before']['reward']:.3f} → {g['after']['reward']:.3f}.", highlight=False)
    console.print(f"total {time.time() - t0:.0f} s", highlight=False)
    (out / "grpo_demo.json").write_text(json.dumps({"training_reward": {"first": first, "last": last}, **res},
                                                   indent=2))
    return 0
