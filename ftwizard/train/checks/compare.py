"""compare: base vs tuned on the test split — exact match, token F1, BLEU, ROUGE-L, loss/perplexity — with
side-by-side samples, and the metrics that fit the run's task named in `task`."""

from __future__ import annotations

from typing import Any

from ftwizard.core.eval import metrics, tasks
from ftwizard.core.run.checklist import run_task
from ftwizard.train.checks._base import Context, answer_loss, batch_size, generate, max_new_tokens, prompt_text


def run(ctx: Context) -> dict[str, Any]:
    rows, prompts, refs = ctx.test_chat()
    if not rows:
        return {"compare": {"skipped": "the test split has no conversational rows with an answer to compare against"}}
    kind, source = run_task(ctx.run, refs, ctx.options.task)
    tok = ctx.tokenizer
    max_new = max_new_tokens(tok, refs)
    results: dict[str, Any] = {"task": {"kind": kind, "source": source, "metrics": list(tasks.EVAL_TASKS[kind].metrics)}}
    samples: dict[str, list[str]] = {}
    say = ctx.options.say
    say(f"compare: {len(refs)} test rows, base then tuned, up to {max_new} new tokens each")
    for name, model in ctx.base_then_tuned():
        side = "base" if name == "baseline" else "tuned"

        def on_batch(done: int, total: int, side: str = side) -> None:
            say(f"compare: {side} {done}/{total} rows")

        preds = generate(model, tok, prompts, max_new, ctx.torch, bs=batch_size(ctx.torch), on_batch=on_batch)
        samples[name] = preds
        loss = answer_loss(model, tok, rows, ctx.torch)
        results[name] = {**metrics.text_metrics(preds, refs), "loss": round(loss, 4),
                         "perplexity": metrics.perplexity(loss), "n": len(refs)}
        say(f"compare: {side} done — exact match {results[name]['exact_match']:.2f}, token F1 "
            f"{results[name]['f1']:.2f}, answer loss {loss:.3f}")
        del model
    ctx.save_predictions(prompts, refs, samples)
    results["compare"] = verdict_of_metric(results["baseline"], results["tuned"], results["task"]["metrics"])
    _rows, _prompts, train_refs = ctx.chat_rows("train")  # a test row whose answer is among them asks it anew
    results["compare"]["answers_seen_in_training"] = metrics.answers_seen(refs, train_refs)
    results["samples"] = [{"prompt": prompt_text(prompts[i]), "expected": refs[i], "base": samples["baseline"][i],
                           "tuned": samples["tuned"][i]} for i in range(min(8, len(refs)))]
    return results


_SHOWN = ("exact_match", "f1", "bleu", "rouge_l")


def verdict_of_metric(b: dict[str, Any], t: dict[str, Any], task_metrics: list[str]) -> dict[str, Any]:
    """The check's outcome from the task's main metric: worse than the base is a problem; not moved at all (0.00 →
    0.00 on exact match: neither model says the reference word for word) is inconclusive, not a pass."""
    order = [m for m in task_metrics if m in _SHOWN] + [m for m in _SHOWN if m not in task_metrics]
    main = next((m for m in order if m in b and m in t), None)
    if main is None:
        return {"ok": True}
    label = tasks.METRIC_LABELS[main]
    if round(t[main], 4) < round(b[main], 4):
        return {"ok": False, "main_metric": main, "problem": f"the tuned model scores lower than the base on {label}"}
    if round(t[main], 4) == round(b[main], 4):
        return {"ok": True, "main_metric": main, "inconclusive": f"{label} did not move: read the samples side "
                "by side (Try it) to judge the answers"}
    return {"ok": True, "main_metric": main}


def summary(checks: dict[str, Any]) -> str:
    if "tuned" not in checks or "exact_match" not in checks["tuned"]:
        return "skipped: " + checks.get("compare", {}).get("skipped", "no result")
    b, t = checks["baseline"], checks["tuned"]
    fit = [m for m in checks.get("task", {}).get("metrics", []) if m in _SHOWN]
    order = fit + [m for m in _SHOWN if m not in fit]
    parts = [f"{tasks.METRIC_LABELS[m]} {b[m]:.2f} → {t[m]:.2f}" for m in order if m in b and m in t]
    return ", ".join(parts) + f", perplexity {b['perplexity']:.2f} → {t['perplexity']:.2f}"
