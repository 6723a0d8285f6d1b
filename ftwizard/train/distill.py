"""Distillation, step 1: a local teacher model answers the user's prompts; the answers become a chat dataset
(`{"messages": [..., {"role": "assistant", ...}]}` JSONL, the `openai` family) that the student then learns with
SFT — or with GKD, which also matches the teacher's token distribution.

Batched (prompts sorted by length, left padding), resumable (prompts already answered in OUT are skipped; every
batch is appended and flushed, a torn last line from a crash is dropped), and offline unless a download is
allowed. `ftwizard distill` calls `distill()`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Messages = list[dict[str, str]]


class DistillError(ValueError):
    """A prompts file or teacher that cannot be used; `str()` is the one line to show."""


@dataclass
class DistillResult:
    out: Path
    prompts: int  # distinct prompts in the file
    already: int  # answered before this call (resume)
    written: int  # answered now
    empty: int  # the teacher answered nothing (not written: a rerun retries them)
    seconds: float


def prompt_messages(rec: dict[str, Any]) -> Messages | None:
    """The prompt of any row the data step reads: chat rows up to their last user turn, prompt/completion,
    preference and Alpaca rows by their prompt, plain text as one user message."""
    from ftwizard.core.data import formats

    fam = formats.family_of(rec)
    if fam is None:
        return None
    row = formats.get_family(fam).convert(rec)
    if "messages" in row:
        msgs = list(row["messages"])
        while msgs and msgs[-1].get("role") == "assistant":
            msgs.pop()
        return msgs or None
    prompt = row.get("prompt", row.get("text"))
    if isinstance(prompt, list):
        return [m for m in prompt if m.get("role") != "assistant"] or None
    if isinstance(prompt, str) and prompt.strip():
        return [{"role": "user", "content": prompt.strip()}]
    return None


def key(msgs: Messages) -> str:
    return json.dumps([[m.get("role"), m.get("content")] for m in msgs], ensure_ascii=False)


def load_prompts(path: str | Path) -> list[Messages]:
    """Distinct prompts in file order. JSONL/JSON/CSV/Parquet rows of any family, or a .txt file (one prompt
    per line, or paragraphs separated by blank lines)."""
    from ftwizard.core.data.reader import DataError, read_records

    p = Path(path)
    if p.suffix.lower() == ".txt" and p.is_file():
        text = p.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
        blocks = text.split("\n\n") if "\n\n" in text.strip() else text.split("\n")
        rows: list[dict[str, Any]] = [{"prompt": b.strip()} for b in blocks if b.strip()]
    else:
        try:
            res = read_records(str(p))
        except DataError as exc:
            raise DistillError(str(exc)) from None
        if res.problems and not res.records:
            raise DistillError(str(res.problems[0]))
        rows = [r.data for r in res.records]
    seen: set[str] = set()
    out: list[Messages] = []
    for rec in rows:
        msgs = prompt_messages(rec)
        if msgs and (k := key(msgs)) not in seen:
            seen.add(k)
            out.append(msgs)
    if not out:
        raise DistillError(f"{p}: no prompts found — use rows with \"prompt\" or \"messages\", or a .txt file with "
                           "one prompt per line")
    return out


def answered(out: Path) -> set[str]:
    """Keys of the prompts OUT already answers; a torn last line (a crash mid-write) is cut off."""
    if not out.exists():
        return set()
    done: set[str] = set()
    good = 0
    with open(out, "rb") as fh:
        for raw in fh:
            try:
                row = json.loads(raw)
                msgs = row["messages"]
                if msgs[-1]["role"] == "assistant":
                    done.add(key(msgs[:-1]))
            except (ValueError, KeyError, IndexError, TypeError):
                if not raw.endswith(b"\n"):
                    break  # torn tail: drop it below
                raise DistillError(f"{out}: a line is not a distilled chat row; write to a new file") from None
            good += len(raw)
    if good < out.stat().st_size:
        with open(out, "r+b") as fh:
            fh.truncate(good)
    return done


def _render(tok: Any, msgs: Messages) -> str:
    if getattr(tok, "chat_template", None):
        return tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    return "\n".join(m["content"] for m in msgs) + "\n"


def load_teacher(teacher: str, trust_remote_code: bool = False, allow_download: bool = False) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if teacher.startswith(("/", ".", "~")) and not Path(teacher).expanduser().is_dir():
        raise DistillError(f"teacher {teacher}: no such model folder (a folder with config.json, or a Hub id)")
    cuda = torch.cuda.is_available()
    dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else torch.float32
    kw: dict[str, Any] = {"trust_remote_code": trust_remote_code, "local_files_only": not allow_download}
    try:
        tok = AutoTokenizer.from_pretrained(teacher, **kw)
        model = AutoModelForCausalLM.from_pretrained(teacher, dtype=dtype, device_map="cuda" if cuda else None, **kw)
    except OSError as exc:
        hint = "" if allow_download else " (not downloaded: pass --allow-download to fetch it from the Hub)"
        raise DistillError(f"teacher {teacher!r} cannot be loaded{hint}: {str(exc).splitlines()[0]}") from None
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return model.eval(), tok


def distill(teacher: str, prompts: str | Path, out: str | Path, batch_size: int = 8, max_new_tokens: int = 256,
            temperature: float = 0.0, limit: int | None = None, trust_remote_code: bool = False,
            allow_download: bool = False, on_batch: Callable[[int, int], None] | None = None) -> DistillResult:
    """Answer every prompt not yet answered in `out`, appending as it goes. `on_batch(done, total)` reports."""
    import time

    import torch

    t0 = time.time()
    out = Path(out)
    all_prompts = load_prompts(prompts)[:limit] if limit else load_prompts(prompts)
    done = answered(out)
    todo = [m for m in all_prompts if key(m) not in done]
    res = DistillResult(out, len(all_prompts), len(all_prompts) - len(todo), 0, 0, 0.0)
    if not todo:
        res.seconds = time.time() - t0
        return res
    model, tok = load_teacher(teacher, trust_remote_code, allow_download)
    texts = [_render(tok, m) for m in todo]
    order = sorted(range(len(todo)), key=lambda i: len(texts[i]))
    out.parent.mkdir(parents=True, exist_ok=True)
    gen_kw: dict[str, Any] = {"max_new_tokens": max_new_tokens, "pad_token_id": tok.pad_token_id,
                              "eos_token_id": tok.eos_token_id}
    gen_kw.update(do_sample=True, temperature=temperature) if temperature > 0 else gen_kw.update(do_sample=False)
    with open(out, "a", encoding="utf-8") as fh:
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            enc = tok([texts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
            enc = enc.to(model.device)
            with torch.no_grad():
                gen = model.generate(**enc, **gen_kw)
            for i, row in zip(idx, gen[:, enc["input_ids"].shape[1]:], strict=True):
                answer = tok.decode(row, skip_special_tokens=True).strip()
                if not answer:
                    res.empty += 1
                    continue
                fh.write(json.dumps({"messages": [*todo[i], {"role": "assistant", "content": answer}]},
                                    ensure_ascii=False) + "\n")
                res.written += 1
            fh.flush()
            if on_batch:
                on_batch(min(start + batch_size, len(order)), len(order))
    res.seconds = time.time() - t0
    return res
