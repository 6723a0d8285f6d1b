"""judge: a local judge model grades base and tuned answers 1–5 with a rubric and a one-sentence reason, side by
side. Replies it cannot parse are counted (parse_failures), never fatal. A small judge model grades poorly:
use the strongest model you can run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ftwizard.core.eval.metrics import DEFAULT_RUBRIC, Verdict, judge_prompt, judge_summary, parse_judge
from ftwizard.train.checks._base import Context, free, generate, prompt_text


def _rubric(text: str | None) -> str:
    if text and Path(text).is_file():
        return Path(text).read_text(encoding="utf-8").strip()
    return text or DEFAULT_RUBRIC


def run(ctx: Context) -> dict[str, Any]:
    judge_path = ctx.options.judge_model
    if not judge_path:
        return {"judge": {"skipped": "needs a local judge model: `ftwizard check RUN --only judge --judge-model FOLDER` "
                                     "(an instruction-tuned model, the stronger the better)"}}
    if not Path(judge_path).is_dir():
        return {"judge": {"skipped": f"judge model folder not found: {judge_path}"}}
    prompts, refs, answers = ctx.predictions(min(ctx.options.limit, 50))
    if not prompts:
        return {"judge": {"skipped": "the test split has no chat rows with an answer"}}
    from transformers import AutoTokenizer

    rubric = _rubric(ctx.options.rubric)
    jtok = AutoTokenizer.from_pretrained(judge_path, trust_remote_code=ctx.cfg.trust_remote_code)
    jmodel = ctx.load(judge_path)
    verdicts: dict[str, list[Verdict]] = {}
    for side in ("baseline", "tuned"):
        asks = [[{"role": "user", "content": judge_prompt(prompt_text(p), a, r, rubric)}]
                for p, a, r in zip(prompts, answers[side], refs, strict=True)]
        verdicts[side] = [parse_judge(x) for x in generate(jmodel, jtok, asks, ctx.open_tokens(96), ctx.torch, bs=8)]
    del jmodel
    free(ctx.torch)
    out: dict[str, Any] = {"model": judge_path, "rubric": rubric,
                           **{side: judge_summary(v) for side, v in verdicts.items()}}
    out["samples"] = [{"prompt": prompt_text(p), "base": answers["baseline"][i], "tuned": answers["tuned"][i],
                       "base_score": verdicts["baseline"][i].score, "base_reason": verdicts["baseline"][i].reason,
                       "tuned_score": verdicts["tuned"][i].score, "tuned_reason": verdicts["tuned"][i].reason}
                      for i, p in enumerate(prompts[:20])]
    return {"judge": out, "baseline": {"judge": out["baseline"]["mean"]}, "tuned": {"judge": out["tuned"]["mean"]}}


def summary(checks: dict[str, Any]) -> str:
    res = checks["judge"]
    if "skipped" in res:
        return "skipped: " + res["skipped"]
    b, t = res["baseline"], res["tuned"]

    def fmt(x: dict[str, Any]) -> str:
        return "—" if x["mean"] is None else f"{x['mean']:.2f}"

    fails = b["parse_failures"] + t["parse_failures"]
    return (f"judge score {fmt(b)} → {fmt(t)} (1–5, {b['n']} answers each)"
            + (f"; {fails} judge replies could not be parsed" if fails else ""))
