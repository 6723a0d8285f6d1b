"""Answer one prompt with the base model and the trained one, side by side (the app's Try it screen).

    python -m ftwizard.train.generate RUN --prompt TEXT [--max-new-tokens N] [--json]
    python -m ftwizard.train.generate RUN --serve      (one JSON object per line in and out)

Loads the base, answers, frees it, then loads the tuned model (base + adapter, or the full model) — one at a
time, so a GPU never holds two copies. Greedy decoding, the chat template as in training. Runs in its own
process so the app stays torch-free.

`--serve` is what the app's Try it keeps running: an adapter run is loaded once (base + adapter; the base answers
with the adapter switched off, so one copy of the weights serves both sides) and each line `{"prompt": …}` on
stdin is answered with one line `{"prompt", "base", "tuned"}` (or `{"error"}`); a full fine-tune has two models
and loads them in turn per prompt, as above. It prints `{"ready": true, "load_s": …}` once loaded and exits at
the end of its input (the app closing closes it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ftwizard.core.run.layout import RunDir


def answer_both(run: str | Path, prompt: str, max_new_tokens: int = 128) -> dict[str, str]:
    from ftwizard.train.checks._base import Context, generate

    ctx = Context(Path(run))
    msgs = [{"role": "user", "content": prompt}]
    out: dict[str, str] = {"prompt": prompt}
    for name, model in ctx.base_then_tuned():
        out["base" if name == "baseline" else "tuned"] = generate(model, ctx.tokenizer, [msgs], max_new_tokens,
                                                                  ctx.torch)[0]
        del model
    return out


class Server:
    """Base and tuned answers, the models loaded once (an adapter run) or per prompt (a full fine-tune)."""

    def __init__(self, run: str | Path) -> None:
        from ftwizard.train.checks._base import Context

        self.ctx = Context(Path(run))
        self.model: Any = self.ctx.load_tuned() if self.ctx.rd.adapter.exists() else None

    def answer(self, prompt: str, max_new_tokens: int = 128) -> dict[str, str]:
        if self.model is None:  # a full fine-tune: two models, one at a time
            return answer_both(self.ctx.run, prompt, max_new_tokens)
        from ftwizard.train.checks._base import generate

        msgs = [{"role": "user", "content": prompt}]
        with self.model.disable_adapter():
            base = generate(self.model, self.ctx.tokenizer, [msgs], max_new_tokens, self.ctx.torch)[0]
        tuned = generate(self.model, self.ctx.tokenizer, [msgs], max_new_tokens, self.ctx.torch)[0]
        return {"prompt": prompt, "base": base, "tuned": tuned}


def serve(run: str | Path, max_new_tokens: int, stdin: Any = None, stdout: Any = None) -> int:
    """One JSON line in ({"prompt": …, "max_new_tokens"?: N}), one JSON line out, until the input ends."""
    import time

    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout

    def say(obj: dict[str, Any]) -> None:
        stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
        stdout.flush()

    t0 = time.time()
    server = Server(run)
    say({"ready": True, "load_s": round(time.time() - t0, 2)})
    for line in stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            prompt = str(req["prompt"])
            n = int(req.get("max_new_tokens") or max_new_tokens)
        except (ValueError, KeyError, TypeError) as exc:
            say({"error": f"bad request: {exc}"})
            continue
        try:
            say(server.answer(prompt, max(1, n)))
        except (OSError, ValueError, RuntimeError) as exc:
            say({"error": f"generation failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"})
    return 0


def answer_many(run: str | Path, prompts: list[str], max_new_tokens: int = 64,
                on_progress: Any = None) -> dict[str, list[str]]:
    """Base and tuned answers to many prompts (greedy, batched): {"base": [...], "tuned": [...]}."""
    from ftwizard.train.checks._base import Context, generate

    ctx = Context(Path(run))
    chats = [[{"role": "user", "content": p}] for p in prompts]
    out: dict[str, list[str]] = {}
    for name, model in ctx.base_then_tuned():
        side = "base" if name == "baseline" else "tuned"
        out[side] = generate(model, ctx.tokenizer, chats, max_new_tokens, ctx.torch, bs=16)
        if on_progress:
            on_progress(side, len(prompts))
        del model
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ftwizard.train.generate", description=__doc__.split("\n")[0])
    ap.add_argument("run", help="a run directory with a trained adapter or model")
    ap.add_argument("--prompt", help="the user message")
    ap.add_argument("--serve", action="store_true", help="answer JSON lines from stdin until it ends (Try it)")
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--json", action="store_true", help="print one JSON object: prompt, base, tuned")
    args = ap.parse_args(argv)
    rd = RunDir(args.run)
    if not rd.config_path.exists():
        print(f"error: {args.run} is not a run directory (no config.yaml)", file=sys.stderr)
        return 2
    if not rd.has_result():
        print(f"error: {args.run} has no trained weights yet (train it first)", file=sys.stderr)
        return 2
    if args.max_new_tokens < 1:
        print("error: --max-new-tokens must be at least 1", file=sys.stderr)
        return 2
    if args.serve:
        return serve(args.run, args.max_new_tokens)
    if args.prompt is None:
        print("error: give --prompt TEXT (or --serve)", file=sys.stderr)
        return 2
    try:
        res = answer_both(args.run, args.prompt, args.max_new_tokens)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"error: generation failed: {str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__}",
              file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(res, ensure_ascii=False))
    else:
        print(f"prompt: {res['prompt']}\n--- base ---\n{res['base']}\n--- tuned ---\n{res['tuned']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
