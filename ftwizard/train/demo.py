"""Build the offline demo: a tiny model, the date-format task and its run directory.

`python -m ftwizard.train.demo OUT [--examples N]` (the app and `ftwizard demo` call this in a subprocess).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ftwizard.core.run.config import RunConfig
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ftwizard.train.demo")
    ap.add_argument("out")
    ap.add_argument("--examples", type=int, default=4000)
    args = ap.parse_args(argv)
    make_demo_run(Path(args.out), args.examples)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
