"""After-training checks that a machine can do: exact match and ROUGE-L on the test split,
base vs tuned, with side-by-side samples. Results go to <run>/checks.json."""

from __future__ import annotations

import gc
import json
import math
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from ftwizard.core.run.layout import RunDir


def _load(model_path: str, adapter: Path | None, torch: Any, remote: bool = False):  # noqa: ANN202
    """Base (+ adapter) in 16-bit on a GPU, fp32 on the CPU. A QLoRA adapter is evaluated on the 16-bit base,
    which is also what merging produces."""
    from transformers import AutoModelForCausalLM

    cuda = torch.cuda.is_available()
    dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else torch.float32
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype, trust_remote_code=remote,
                                                 device_map="cuda" if cuda else None)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
    return model.eval()


def _tuned_dir(rd: RunDir) -> Path:
    """Where the trained result lives: the adapter, or the fully fine-tuned model."""
    return rd.result


def _load_tuned(rd: RunDir, cfg: Any, torch: Any):  # noqa: ANN202
    """The trained result: base + adapter, or the fully fine-tuned model in <run>/model."""
    if rd.adapter.exists():
        return _load(cfg.model, rd.adapter, torch, cfg.trust_remote_code)
    return _load(str(_tuned_dir(rd)), None, torch, cfg.trust_remote_code)


def _base_then_tuned(rd: RunDir, cfg: Any, torch: Any) -> Iterator[tuple[str, Any]]:
    """("baseline", model) then ("tuned", model), one at a time, so a GPU never holds two copies of the base
    model. The caller must drop its reference (`del model`) at the end of each loop body."""
    for name in ("baseline", "tuned"):
        yield name, (_load(cfg.model, None, torch, cfg.trust_remote_code) if name == "baseline"
                     else _load_tuned(rd, cfg, torch))
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _max_new_tokens(tok: Any, refs: list[str]) -> int:
    """Room for the longest reference answer plus a little."""
    return min(256, max(len(tok(x, add_special_tokens=False)["input_ids"]) for x in refs) + 8)


def _perplexity(loss: float) -> float:
    return round(math.exp(min(loss, 50)), 3)


def _generate(model: Any, tok: Any, prompts: list[list[dict]], max_new: int, torch: Any, bs: int = 64) -> list[str]:
    tok.padding_side = "left"
    outs: list[str] = []
    for i in range(0, len(prompts), bs):
        texts = [tok.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts[i:i + bs]]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        with torch.no_grad():
            gen = model.generate(**enc, max_new_tokens=max_new, do_sample=False, pad_token_id=tok.pad_token_id,
                                 eos_token_id=tok.eos_token_id)
        for row in gen[:, enc["input_ids"].shape[1]:]:
            outs.append(tok.decode(row, skip_special_tokens=True).strip())
    return outs


def _loss(model: Any, tok: Any, rows: list[dict], torch: Any) -> float:
    """Mean loss on the answer tokens only (the prompt is masked), as in training with assistant-only loss."""
    total, n = 0.0, 0
    for r in rows[:200]:
        msgs = r["messages"]
        full = tok.apply_chat_template(msgs, tokenize=False)
        if msgs[-1]["role"] == "assistant":
            prompt = tok.apply_chat_template(msgs[:-1], tokenize=False, add_generation_prompt=True)
        else:
            prompt = ""
        ids = tok(full, return_tensors="pt", add_special_tokens=False)["input_ids"].to(model.device)
        n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"]) if prompt and full.startswith(prompt) else 0
        labels = ids.clone()
        labels[:, :n_prompt] = -100
        if int((labels != -100).sum()) < 2:
            continue
        with torch.no_grad():
            out = model(input_ids=ids, labels=labels)
        total += float(out.loss)
        n += 1
    return total / max(n, 1)


@lru_cache(maxsize=1)
def _rouge_scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"])


def _rouge_l(pred: str, ref: str) -> float:
    try:
        return _rouge_scorer().score(ref, pred)["rougeL"].fmeasure
    except ImportError:  # pragma: no cover
        return float(pred == ref)


def _test_rows(rd: RunDir, limit: int) -> tuple[list[dict], list[list[dict]], list[str]]:
    test_path = rd.data_dir / "test.jsonl"
    rows = [json.loads(x) for x in test_path.read_text(encoding="utf-8").splitlines() if x.strip()][:limit]
    rows = [r for r in rows if "messages" in r]
    prompts = [[m for m in r["messages"] if m["role"] != "assistant"] for r in rows]
    refs = [next(m["content"] for m in reversed(r["messages"]) if m["role"] == "assistant") for r in rows]
    return rows, prompts, refs


def _metrics(preds: list[str], refs: list[str]) -> dict[str, float]:
    n = max(len(refs), 1)
    return {"exact_match": round(sum(p == r for p, r in zip(preds, refs, strict=True)) / n, 4),
            "rouge_l": round(sum(_rouge_l(p, r) for p, r in zip(preds, refs, strict=True)) / n, 4)}


def _save(rd: RunDir, results: dict[str, Any]) -> dict[str, Any]:
    old: dict[str, Any] = {}
    if rd.checks_path.exists():
        try:
            old = json.loads(rd.checks_path.read_text(encoding="utf-8"))
        except ValueError:
            old = {}
    old.update(results)
    rd.checks_path.write_text(json.dumps(old, indent=2, ensure_ascii=False), encoding="utf-8")
    return old


def _quiet() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def compare(run: str | Path, limit: int = 200) -> dict[str, Any]:
    import torch
    from transformers import AutoTokenizer

    rd = RunDir(run)
    cfg = rd.config()
    rows, prompts, refs = _test_rows(rd, limit)
    if not rows:
        return _save(rd, {"compare": {"skipped": "the test split has no chat rows to generate from"}})
    tok = AutoTokenizer.from_pretrained(cfg.model, trust_remote_code=cfg.trust_remote_code)
    max_new = _max_new_tokens(tok, refs)
    results: dict[str, Any] = {}
    samples: dict[str, list[str]] = {}
    for name, model in _base_then_tuned(rd, cfg, torch):
        preds = _generate(model, tok, prompts, max_new, torch)
        samples[name] = preds
        loss = _loss(model, tok, rows, torch)
        results[name] = {**_metrics(preds, refs), "loss": round(loss, 4), "perplexity": _perplexity(loss), "n": len(refs)}
        del model
    results["samples"] = [{"prompt": prompts[i][-1]["content"], "expected": refs[i], "base": samples["baseline"][i],
                           "tuned": samples["tuned"][i]} for i in range(min(8, len(refs)))]
    return _save(rd, results)


# ---- chat template / EOS --------------------------------------------------------------------------------
def check_template(run: str | Path, n: int = 8) -> dict[str, Any]:
    """The tokenizer saved with the output matches the one trained with, and generation stops at EOS."""
    import torch
    from transformers import AutoTokenizer

    rd = RunDir(run)
    cfg = rd.config()
    out_dir = _tuned_dir(rd)
    problems: list[str] = []
    base_tok = AutoTokenizer.from_pretrained(cfg.model, trust_remote_code=cfg.trust_remote_code)
    try:
        saved_tok = AutoTokenizer.from_pretrained(str(out_dir), trust_remote_code=cfg.trust_remote_code)
    except Exception as exc:  # noqa: BLE001
        saved_tok = None
        problems.append(f"no tokenizer saved next to the weights in {out_dir} ({type(exc).__name__}): save it with "
                        "tokenizer.save_pretrained so the chat template travels with the model")
    if saved_tok is not None:
        if (base_tok.chat_template or "") != (saved_tok.chat_template or ""):
            problems.append("the saved chat template differs from the one used in training")
        for attr in ("eos_token", "pad_token", "bos_token"):
            if getattr(base_tok, attr) != getattr(saved_tok, attr):
                problems.append(f"{attr} differs: trained with {getattr(base_tok, attr)!r}, "
                                f"saved {getattr(saved_tok, attr)!r}")
    if not base_tok.chat_template:
        problems.append("the model has no chat template: inference code must format prompts exactly as in training")
    if base_tok.eos_token is None:
        problems.append("the tokenizer has no EOS token: generation cannot know when to stop")
    stopped, total = 0, 0
    _, prompts, refs = _test_rows(rd, n)
    if prompts and base_tok.eos_token_id is not None:
        model = _load_tuned(rd, cfg, torch)
        ref_len = max(len(base_tok(r, add_special_tokens=False)["input_ids"]) for r in refs)
        max_new = min(512, 2 * ref_len + 16)
        tok = base_tok
        tok.padding_side = "left"
        for p in prompts:
            text = tok.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
            enc = tok(text, return_tensors="pt", add_special_tokens=False).to(model.device)
            with torch.no_grad():
                gen = model.generate(**enc, max_new_tokens=max_new, do_sample=False, pad_token_id=tok.pad_token_id,
                                     eos_token_id=tok.eos_token_id)
            new = gen[0, enc["input_ids"].shape[1]:].tolist()
            total += 1
            stopped += int(tok.eos_token_id in new)
        if total and stopped < total:
            problems.append(f"generation stopped at EOS in only {stopped}/{total} test prompts: the model may ramble "
                            "past its answer (train with the EOS token at the end of each answer)")
    res = {"ok": not problems, "problems": problems, "stopped_at_eos": f"{stopped}/{total}",
           "eos_token": base_tok.eos_token, "chat_template": bool(base_tok.chat_template)}
    return _save(rd, {"template": res})


# ---- merge ------------------------------------------------------------------------------------------------
def merge(run: str | Path, limit: int = 100) -> dict[str, Any]:
    """merge_and_unload into the 16-bit base, save to <run>/merged with the tokenizer, reload and re-measure."""
    import torch
    from transformers import AutoTokenizer

    rd = RunDir(run)
    cfg = rd.config()
    if not rd.adapter.exists():
        return _save(rd, {"merge": {"skipped": "full fine-tuning: the model in <run>/model is already merged"}})
    model = _load(cfg.model, rd.adapter, torch, cfg.trust_remote_code)
    merged = model.merge_and_unload()
    out = rd.merged
    merged.save_pretrained(str(out))
    tok = AutoTokenizer.from_pretrained(str(rd.adapter) if (rd.adapter / "tokenizer_config.json").exists() else cfg.model,
                                        trust_remote_code=cfg.trust_remote_code)
    tok.save_pretrained(str(out))
    del model, merged
    reloaded = _load(str(out), None, torch, cfg.trust_remote_code)
    res: dict[str, Any] = {"path": str(out)}
    _, prompts, refs = _test_rows(rd, limit)
    if prompts:
        preds = _generate(reloaded, tok, prompts, _max_new_tokens(tok, refs), torch)
        res.update(_metrics(preds, refs), n=len(refs), sample=preds[0])
    return _save(rd, {"merged": res})


# ---- general capability -----------------------------------------------------------------------------------
def general(run: str | Path, general_file: str | None = None, limit: int = 200) -> dict[str, Any]:
    """Base vs tuned loss/perplexity on a general held-out set (forgetting check)."""
    import torch
    from transformers import AutoTokenizer

    from ftwizard.core.data.formats import to_trl
    from ftwizard.core.data.report import analyze

    rd = RunDir(run)
    cfg = rd.config()
    src = general_file or (str(rd.data_dir / "general.jsonl") if (rd.data_dir / "general.jsonl").exists() else None)
    if not src:
        return _save(rd, {"general": {"skipped": "no general set: pass one with `ftwizard check RUN --only general "
                                                 "--general FILE` (a few hundred everyday chat examples)"}})
    rep = analyze(src)
    if not rep.usable:
        return _save(rd, {"general": {"skipped": f"the general set has errors: {rep.errors[0]}"}})
    rows = [to_trl(rep.family, r.data) for r in rep.valid][:limit]  # type: ignore[arg-type]
    rows = [r for r in rows if "messages" in r]
    tok = AutoTokenizer.from_pretrained(cfg.model, trust_remote_code=cfg.trust_remote_code)
    out: dict[str, Any] = {"file": src, "n": len(rows)}
    for name, model in _base_then_tuned(rd, cfg, torch):
        loss = _loss(model, tok, rows, torch)
        out[name] = {"loss": round(loss, 4), "perplexity": _perplexity(loss)}
        del model
    out["forgetting"] = out["tuned"]["perplexity"] > 1.1 * out["baseline"]["perplexity"]
    return _save(rd, {"general": out})


# ---- GGUF -------------------------------------------------------------------------------------------------
GGUF_HOW = ("Install llama.cpp (git clone https://github.com/ggml-org/llama.cpp; pip install -r "
            "llama.cpp/requirements.txt), set LLAMA_CPP_DIR to it, merge the adapter first, then: python "
            "$LLAMA_CPP_DIR/convert_hf_to_gguf.py RUN/merged --outfile RUN/model.gguf --outtype q8_0")


def gguf(run: str | Path) -> dict[str, Any]:
    import os
    import shutil
    import subprocess
    import sys

    rd = RunDir(run)
    src = rd.merged if (rd.merged).exists() else rd.full_model
    script = None
    if os.environ.get("LLAMA_CPP_DIR"):
        cand = Path(os.environ["LLAMA_CPP_DIR"]) / "convert_hf_to_gguf.py"
        script = cand if cand.exists() else None
    exe = shutil.which("convert_hf_to_gguf.py") or shutil.which("convert-hf-to-gguf")
    if not src.exists():
        return _save(rd, {"gguf": {"skipped": "merge the adapter first (the merge check)", "how": GGUF_HOW}})
    if script is None and exe is None:
        return _save(rd, {"gguf": {"skipped": "no llama.cpp converter found", "how": GGUF_HOW}})
    out = rd.path / "model.gguf"
    cmd = [sys.executable, str(script)] if script else [exe]  # type: ignore[list-item]
    proc = subprocess.run([*cmd, str(src), "--outfile", str(out), "--outtype", "q8_0"], capture_output=True, text=True)
    res = {"ok": proc.returncode == 0, "path": str(out) if proc.returncode == 0 else None,
           "log_tail": (proc.stdout + proc.stderr)[-1500:]}
    return _save(rd, {"gguf": res})


# ---- run card ---------------------------------------------------------------------------------------------
def run_card(run: str | Path) -> dict[str, Any]:
    import platform
    from importlib import metadata

    rd = RunDir(run)
    cfg = rd.config()
    versions = {}
    for pkg in ("ftwizard", "torch", "transformers", "peft", "trl", "datasets", "accelerate", "bitsandbytes"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    split = {}
    if (rd.split_manifest).exists():
        split = json.loads((rd.split_manifest).read_text(encoding="utf-8"))
    checks = json.loads(rd.checks_path.read_text(encoding="utf-8")) if rd.checks_path.exists() else {}
    memory = json.loads(rd.memory_path.read_text(encoding="utf-8")) if rd.memory_path.exists() else {}
    card = {"config": cfg.__dict__, "data": split, "results": {k: v for k, v in checks.items() if k != "samples"},
            "memory": memory, "status": rd.status(), "versions": versions,
            "python": platform.python_version(), "platform": platform.platform()}
    (rd.card_json).write_text(json.dumps(card, indent=2, default=str), encoding="utf-8")
    lines = [f"# Run card: {rd.path.name}", "", f"- base model: `{cfg.model}`", f"- method: {cfg.method} "
             f"(rank {cfg.rank}, alpha {cfg.alpha})" if cfg.method != "full" else f"- method: {cfg.method}",
             f"- data: `{cfg.data}` ({split.get('format', '?')}); split seed {split.get('seed', cfg.seed)}"]
    for name, sp in (split.get("splits") or {}).items():
        lines.append(f"  - {name}: {sp['rows']} rows, sha256 {sp['sha256'][:16]}…")
    lines += ["", "## Results"]
    for k in ("baseline", "tuned", "merged"):
        if isinstance(checks.get(k), dict):
            lines.append(f"- {k}: " + ", ".join(f"{m} {v}" for m, v in checks[k].items() if not isinstance(v, str)))
    lines += ["", "## Environment", *(f"- {k} {v}" for k, v in versions.items()), f"- python {platform.python_version()}"]
    (rd.card_md).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return _save(rd, {"card": {"path": str(rd.card_md)}})


def summary_line(action: str, checks: dict[str, Any]) -> str:
    """A one-line result for the checklist."""
    if action == "compare" and "tuned" in checks:
        b, t = checks["baseline"], checks["tuned"]
        return (f"exact match {b['exact_match']:.2f} → {t['exact_match']:.2f}, ROUGE-L {b['rouge_l']:.2f} → "
                f"{t['rouge_l']:.2f}, perplexity {b['perplexity']:.2f} → {t['perplexity']:.2f}")
    key = {"merge": "merged"}.get(action, action)
    res = checks.get(key) or checks.get(action) or {}
    if "skipped" in res:
        return "skipped: " + res["skipped"]
    if action == "template":
        return "consistent; stops at EOS " + res.get("stopped_at_eos", "") if res.get("ok") else \
            "; ".join(res.get("problems", []))
    if action == "merge":
        return f"merged to {res.get('path')}; exact match {res.get('exact_match', '—')}"
    if action == "general":
        return (f"perplexity {res['baseline']['perplexity']} → {res['tuned']['perplexity']}"
                + (" (forgetting!)" if res.get("forgetting") else ""))
    if action == "gguf":
        return f"written {res.get('path')}" if res.get("ok") else "converter failed (see checks.json)"
    if action == "card":
        return f"written {res.get('path')}"
    return "done"


def run_checks(run: str | Path, only: list[str] | None = None, general_file: str | None = None,
               limit: int = 200) -> dict[str, Any]:
    """Run the automatic checklist items (all, or `only`), record each in checklist.json; return checks.json."""
    from ftwizard.core.run.checklist import ACTIONS, mark

    todo = only or list(ACTIONS)
    _quiet()
    res: dict[str, Any] = {}
    for action in todo:
        if action not in ACTIONS:
            raise ValueError(f"unknown check '{action}'; choose from {', '.join(ACTIONS)}")
        fn = {"compare": lambda: compare(run, limit), "template": lambda: check_template(run),
              "merge": lambda: merge(run), "general": lambda: general(run, general_file),
              "gguf": lambda: gguf(run), "card": lambda: run_card(run)}[action]
        res = fn()
        line = summary_line(action, res)
        mark(run, action, done=not line.startswith("skipped"), result=line)
    return res
