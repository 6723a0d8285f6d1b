"""Build the offline demo: a tiny model, the date-format task and its run directory.

`python -m ftwizard.train.demo OUT [--examples N]` (the app and `ftwizard demo` call this in a subprocess).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.layout import RunDir
from ftwizard.core.run.service import create_run


def make_demo_run(out: Path, examples: int = 4000) -> Path:
    """Build the tiny model, the date task and a config for it in `out`."""
    from ftwizard.train.tiny import build_tiny, date_examples, write_jsonl

    out.mkdir(parents=True, exist_ok=True)
    base = build_tiny(out / "base_model")
    data = write_jsonl(date_examples(examples + 250, seed=1), out / "dates.jsonl")
    n = examples + 250
    test = 200 / n
    cfg = RunConfig(model=str(base), data=str(data), method="full", max_seq_length=64, micro_batch=32,
                    gradient_accumulation=1, learning_rate=3e-3, epochs=3, warmup_ratio=0.05,
                    weight_decay=0.0, logging_steps=10, eval_steps=100, save_steps=200, split=[1 - 0.01 - test, 0.01, test],
                    preflight_steps=1, optimizer="adamw_torch")
    create_run(out, cfg)
    return out


GRPO_REWARDS = ["exact_match", "char_match"]  # all-or-nothing plus partial credit per character


def grpo_demo_runs(out: Path) -> tuple[Path, Path]:
    """The GRPO demo's two run directories: a short SFT warm-up, then GRPO from its model."""
    return out / "sft", out / "grpo"


def make_grpo_demo(out: Path, examples: int = 2000, prompts: int = 600) -> tuple[Path, Path]:
    """The GRPO demo: GRPO from scratch never sees a reward (a random model writes no date), so a 60-step SFT
    warm-up (`out/sft`) gets the format roughly right, then GRPO (`out/grpo`, 80 steps of 16 prompts) samples
    4 answers per prompt, scores them with exact match + per-character match against the `answer` column and
    reinforces the better ones. Both are ordinary runs, trained and monitored like any other."""
    from ftwizard.train.tiny import build_tiny, date_examples, write_jsonl

    sft_run, grpo_run = grpo_demo_runs(out)
    out.mkdir(parents=True, exist_ok=True)
    base = build_tiny(out / "base_model")
    data = write_jsonl(date_examples(examples, seed=1), out / "dates.jsonl")
    create_run(sft_run, RunConfig(
        model=str(base), data=str(data), method="full", max_seq_length=64, micro_batch=32, gradient_accumulation=1,
        learning_rate=3e-3, epochs=1, max_steps=60, warmup_ratio=0.05, weight_decay=0.0, logging_steps=10,
        eval_steps=1000, save_steps=1000, split=[0.9, 0.05, 0.05], preflight_steps=1))
    rows = [{"prompt": r["messages"][:1], "answer": r["messages"][1]["content"]}
            for r in date_examples(prompts, seed=7)]
    create_run(grpo_run, RunConfig(
        model=str(RunDir(sft_run).full_model), data=str(write_jsonl(rows, out / "date_prompts.jsonl")), trainer="grpo",
        method="full", max_seq_length=64, micro_batch=64, gradient_accumulation=1, learning_rate=5e-4,
        lr_scheduler="constant", epochs=1, max_steps=80, warmup_ratio=0.0, weight_decay=0.0, logging_steps=4,
        eval_steps=1000, save_steps=1000, split=[0.8, 0.0, 0.2], preflight_steps=0, grpo_num_generations=4,
        grpo_max_completion_length=12, grpo_rewards=list(GRPO_REWARDS)))
    return sft_run, grpo_run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ftwizard.train.demo")
    ap.add_argument("out")
    ap.add_argument("--examples", type=int, default=4000)
    ap.add_argument("--grpo", action="store_true", help="the GRPO demo (SFT warm-up, then GRPO with a reward)")
    args = ap.parse_args(argv)
    if args.grpo:
        make_grpo_demo(Path(args.out))
    else:
        make_demo_run(Path(args.out), args.examples)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
