"""reward: for GRPO runs, the mean reward of base and tuned answers to the test prompts, per reward function
(the run's `grpo_rewards`, or `--reward` names), one greedy answer per prompt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ftwizard.train.checks._base import Context, generate


def run(ctx: Context) -> dict[str, Any]:
    from ftwizard.train.rewards import RewardError, resolve_reward

    cfg = ctx.cfg
    names = [x.strip() for x in (ctx.options.reward.split(",") if ctx.options.reward else cfg.grpo_rewards) if x.strip()]
    rows = [r for r in ctx.split_rows("test")[: ctx.options.limit] if "prompt" in r]
    if not rows:
        return {"reward": {"skipped": "the test split has no prompt rows (a GRPO run's data)"}}
    max_new = ctx.open_tokens(cfg.grpo_max_completion_length)
    try:
        fns = {n: resolve_reward(n, max_new, Path.cwd()) for n in names}
    except RewardError as exc:
        return {"reward": {"skipped": str(exc)}}
    prompts = [r["prompt"] for r in rows]
    chat = isinstance(prompts[0], list)
    columns = {k: [r.get(k) for r in rows] for k in rows[0] if k != "prompt"}
    out: dict[str, Any] = {"rewards": names, "n": len(rows)}
    for side, model in ctx.base_then_tuned():
        texts = generate(model, ctx.tokenizer, prompts, max_new, ctx.torch, bs=16)
        del model
        completions: list[Any] = [[{"role": "assistant", "content": t}] for t in texts] if chat else texts
        ids = [ctx.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        means: dict[str, float | None] = {}
        for name, fn in fns.items():
            try:
                vals = [v for v in fn(prompts=prompts, completions=completions, completion_ids=ids, **columns)
                        if v is not None]
            except RewardError as exc:
                return {"reward": {"skipped": str(exc)}}
            means[name] = round(sum(vals) / len(vals), 4) if vals else None
        means["total"] = round(sum(v for v in means.values() if v is not None), 4)
        out[side] = means
    return {"reward": out, "baseline": {"reward": out["baseline"]["total"]}, "tuned": {"reward": out["tuned"]["total"]}}


def summary(checks: dict[str, Any]) -> str:
    res = checks["reward"]
    if "skipped" in res:
        return "skipped: " + res["skipped"]
    b, t = res["baseline"], res["tuned"]
    per = ", ".join(f"{n} {b[n]} → {t[n]}" for n in res["rewards"])
    return f"mean reward {b['total']:.3f} → {t['total']:.3f} on {res['n']} test prompts ({per})"
