"""After-training checks that a machine can do: exact match and ROUGE-L on the test split,
base vs tuned, with side-by-side samples. Results go to <run>/checks.json."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ftwizard.core.rundir import RunDir


def _load(model_path: str, adapter: Path | None, torch: Any):  # noqa: ANN202
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
    return model.eval()


def _generate(model: Any, tok: Any, prompts: list[list[dict]], max_new: int, torch: Any, bs: int = 64) -> list[str]:
    tok.padding_side = "left"
    outs: list[str] = []
    for i in range(0, len(prompts), bs):
        texts = [tok.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts[i:i + bs]]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            gen = model.generate(**enc, max_new_tokens=max_new, do_sample=False, pad_token_id=tok.pad_token_id,
                                 eos_token_id=tok.eos_token_id)
        for row in gen[:, enc["input_ids"].shape[1]:]:
            outs.append(tok.decode(row, skip_special_tokens=True).strip())
    return outs


def _loss(model: Any, tok: Any, rows: list[dict], torch: Any) -> float:
    total, n = 0.0, 0
    for r in rows[:200]:
        ids = tok.apply_chat_template(r["messages"], tokenize=True, return_dict=True, return_tensors="pt")
        with torch.no_grad():
            out = model(input_ids=ids["input_ids"], labels=ids["input_ids"])
        total += float(out.loss)
        n += 1
    return total / max(n, 1)


def _rouge_l(pred: str, ref: str) -> float:
    try:
        from rouge_score import rouge_scorer

        return rouge_scorer.RougeScorer(["rougeL"]).score(ref, pred)["rougeL"].fmeasure
    except ImportError:  # pragma: no cover
        return float(pred == ref)


def run_checks(run: str | Path, limit: int = 200) -> dict[str, Any]:
    import torch
    from transformers import AutoTokenizer

    rd = RunDir(run)
    cfg = rd.config()
    test_path = rd.data_dir / "test.jsonl"
    rows = [json.loads(x) for x in test_path.read_text(encoding="utf-8").splitlines() if x.strip()][:limit]
    rows = [r for r in rows if "messages" in r]
    tok = AutoTokenizer.from_pretrained(cfg.model)
    prompts = [[m for m in r["messages"] if m["role"] != "assistant"] for r in rows]
    refs = [next(m["content"] for m in reversed(r["messages"]) if m["role"] == "assistant") for r in rows]
    max_new = min(256, max(len(tok(x, add_special_tokens=False)["input_ids"]) for x in refs) + 8)
    tuned_path = rd.adapter if rd.adapter.exists() else rd.path / "model"
    results: dict[str, Any] = {}
    samples: dict[str, list[str]] = {}
    for name, model in (("baseline", _load(cfg.model, None, torch)),
                        ("tuned", _load(cfg.model, tuned_path, torch) if tuned_path == rd.adapter
                         else _load(str(tuned_path), None, torch))):
        preds = _generate(model, tok, prompts, max_new, torch)
        samples[name] = preds
        loss = _loss(model, tok, rows, torch)
        results[name] = {
            "exact_match": round(sum(p == r for p, r in zip(preds, refs, strict=True)) / max(len(refs), 1), 4),
            "rouge_l": round(sum(_rouge_l(p, r) for p, r in zip(preds, refs, strict=True)) / max(len(refs), 1), 4),
            "loss": round(loss, 4), "perplexity": round(math.exp(min(loss, 50)), 3), "n": len(refs),
        }
    results["samples"] = [{"prompt": prompts[i][-1]["content"], "expected": refs[i], "base": samples["baseline"][i],
                           "tuned": samples["tuned"][i]} for i in range(min(8, len(refs)))]
    old = {}
    if rd.checks_path.exists():
        try:
            old = json.loads(rd.checks_path.read_text(encoding="utf-8"))
        except ValueError:
            old = {}
    old.update(results)
    rd.checks_path.write_text(json.dumps(old, indent=2, ensure_ascii=False), encoding="utf-8")
    return old
