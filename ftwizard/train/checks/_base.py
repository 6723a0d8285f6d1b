"""What every check shares: the context (run, options, tokenizer), loading base and tuned models one at a
time, greedy generation, answer-only loss, the test rows, and merging results into checks.json."""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.layout import RunDir


@dataclass
class Options:
    """Everything `ftwizard check` can be told (one field per CLI flag)."""

    limit: int = 200  # test rows to evaluate
    general_file: str | None = None  # a general chat set for the forgetting check
    prompts_file: str | None = None  # production-representative prompts (JSONL or text lines)
    task: str | None = None  # eval task kind (core.eval.tasks); guessed when None
    judge_model: str | None = None  # local judge model folder (LLM-as-judge)
    rubric: str | None = None  # judge rubric text (or a file holding it)
    allow_code_exec: bool = False  # pass@k runs generated code (in a sandbox: core/eval/sandbox.py) only when True
    allow_unsandboxed_code: bool = False  # … and without one (no bubblewrap here) only when the user accepts the risk
    code_tests: str | None = None  # JSONL of {"prompt", "test"} or {"prompt", "reference"} for pass@k
    samples: int = 5  # pass@k: answers per problem
    k: tuple[int, ...] = (1, 5)
    bertscore_model: str = "roberta-large"  # a local folder or a Hub id already in the cache
    reward: str | None = None  # reward function "module:function" for the reward check
    max_new_tokens: int | None = None  # cap on generated tokens for open answers (safety, production, judge, code)
    progress: Callable[[str], None] | None = None  # one line per step of a long check ("compare: base 8/9 rows")

    def say(self, line: str) -> None:
        if self.progress:
            self.progress(line)


@dataclass
class Context:
    """A check's view of the run: paths, config, options, and a shared tokenizer."""

    run: Path
    options: Options = field(default_factory=Options)

    @cached_property
    def rd(self) -> RunDir:
        return RunDir(self.run)

    @cached_property
    def cfg(self) -> RunConfig:
        return self.rd.config()

    @cached_property
    def torch(self) -> Any:
        import torch

        from ftwizard.train.threads import set_cpu_threads

        set_cpu_threads(torch)  # on a busy CPU, torch's default threads spin against each other
        return torch

    @cached_property
    def tokenizer(self) -> Any:
        """The tokenizer saved with the result (it carries the chat template that was actually trained, e.g. the
        ChatML ftwizard adds to a base model); the base model's when the result has none. Base and tuned answers
        both use it, so both models see the same prompt."""
        return self.saved_tokenizer or self.base_tokenizer

    @cached_property
    def base_tokenizer(self) -> Any:
        """The base model's own tokenizer, as downloaded (before training changed its template)."""
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(self.cfg.model, trust_remote_code=self.cfg.trust_remote_code)

    @cached_property
    def saved_tokenizer(self) -> Any | None:
        """The tokenizer saved next to the trained weights, or None when there is none."""
        from transformers import AutoTokenizer

        out = self.rd.result
        if not (out / "tokenizer_config.json").is_file():
            return None
        try:
            return AutoTokenizer.from_pretrained(str(out), trust_remote_code=self.cfg.trust_remote_code)
        except (OSError, ValueError):
            return None

    @cached_property
    def template_note(self) -> dict[str, Any]:
        """The run's `chat_template` note (source: model | chatml | trl-patched | a file | none; loss_on), or {}."""
        notes = [e for e in self.rd.read_events() if e.get("type") == "note" and e.get("kind") == "chat_template"]
        return notes[-1] if notes else {}

    # ---- models ----
    def load(self, model_path: str, adapter: Path | None = None) -> Any:
        """Base (+ adapter) in 16-bit on a GPU, fp32 on the CPU. A QLoRA adapter is evaluated on the 16-bit base,
        which is also what merging produces."""
        from transformers import AutoModelForCausalLM

        torch = self.torch
        cuda = torch.cuda.is_available()
        dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else torch.float32
        model: Any = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype, trust_remote_code=self.cfg.trust_remote_code,
                                                     device_map="cuda" if cuda else None)
        if adapter is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(adapter))
        return model.eval()

    def load_tuned(self) -> Any:
        """The trained result: base + adapter, or the fully fine-tuned model in <run>/model."""
        if self.rd.adapter.exists():
            return self.load(self.cfg.model, self.rd.adapter)
        return self.load(str(self.rd.result))

    def base_then_tuned(self) -> Iterator[tuple[str, Any]]:
        """("baseline", model) then ("tuned", model), one at a time, so a GPU never holds two copies of the base
        model. The caller must drop its reference (`del model`) at the end of each loop body."""
        for name in ("baseline", "tuned"):
            yield name, (self.load(self.cfg.model) if name == "baseline" else self.load_tuned())
            free(self.torch)

    def open_tokens(self, default: int) -> int:
        """How many tokens an open-ended answer may take: the check's default, or less when capped."""
        cap = self.options.max_new_tokens
        return min(default, cap) if cap else default

    # ---- data ----
    def split_rows(self, split: str = "test") -> list[dict[str, Any]]:
        path = self.rd.split_file(split)
        if not path.exists():
            return []
        return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]

    def test_chat(self, limit: int | None = None) -> tuple[list[dict], list[Any], list[str]]:
        """Rows of the test split with an answer (at most `limit`, else the options' limit): see `chat_rows`."""
        return self.chat_rows("test", limit or self.options.limit)

    def chat_rows(self, which: str, limit: int | None = None) -> tuple[list[dict], list[Any], list[str]]:
        """Rows of a split with an answer, whatever their family (messages, prompt/completion, Alpaca,
        preference's chosen answer): (rows as {"messages": conversation up to its last answer}, prompts = every
        turn before that answer — earlier assistant turns included —, reference answers). Plain-text
        prompt/completion rows were trained without a template: their prompt stays a string, used as is."""
        rows: list[dict] = []
        prompts: list[Any] = []
        refs: list[str] = []
        for row in self.split_rows(which)[:limit]:
            if isinstance(row.get("prompt"), str) and isinstance(row.get("completion"), str):
                rows.append({"prompt": row["prompt"], "completion": row["completion"]})
                prompts.append(row["prompt"])
                refs.append(row["completion"])
                continue
            split = split_last_answer(row)
            if split is None:
                continue
            prompt, answer = split
            rows.append({"messages": [*prompt, answer]})
            prompts.append(prompt)
            refs.append(answer["content"])
        return rows, prompts, refs

    # ---- answers to the test prompts, shared by compare, bertscore and judge ----
    def save_predictions(self, prompts: list[Any], refs: list[str], answers: dict[str, list[str]]) -> None:
        with open(self.rd.predictions_path, "w", encoding="utf-8") as fh:
            for i, p in enumerate(prompts):
                fh.write(json.dumps({"prompt": p, "expected": refs[i], "baseline": answers["baseline"][i],
                                     "tuned": answers["tuned"][i]}, ensure_ascii=False) + "\n")

    def predictions(self, limit: int) -> tuple[list[Any], list[str], dict[str, list[str]]]:
        """(prompts, references, {"baseline": answers, "tuned": answers}) for up to `limit` test rows: the ones
        compare saved when they cover that many rows, else generated now."""
        _, prompts, refs = self.test_chat(limit)
        saved: list[dict[str, Any]] = []
        if self.rd.predictions_path.exists():
            saved = [json.loads(x) for x in self.rd.predictions_path.read_text(encoding="utf-8").splitlines() if x.strip()]
        if len(saved) >= len(prompts) and [s["prompt"] for s in saved[:len(prompts)]] == prompts:
            return prompts, refs, {k: [s[k] for s in saved[:len(prompts)]] for k in ("baseline", "tuned")}
        answers: dict[str, list[str]] = {}
        for name, model in self.base_then_tuned():
            answers[name] = generate(model, self.tokenizer, prompts, max_new_tokens(self.tokenizer, refs), self.torch)
            del model
        return prompts, refs, answers


def split_last_answer(row: dict[str, Any]) -> tuple[list[dict], dict] | None:
    """(the turns before the last assistant answer, that answer) of any conversational row; None for plain text or
    a row without a text answer."""
    from ftwizard.core.data.formats import as_messages

    msgs = as_messages(row)
    if not isinstance(msgs, list):
        return None
    last = max((i for i, m in enumerate(msgs) if isinstance(m, dict) and m.get("role") == "assistant"), default=None)
    if last is None or last == 0 or not isinstance(msgs[last].get("content"), str):
        return None
    return list(msgs[:last]), msgs[last]


def eos_ids(model: Any, tok: Any) -> list[int]:
    """Every token that ends an answer: the model's generation config lists several for some families (Gemma's
    `<end_of_turn>`, Llama-3's `<|eot_id|>`), plus the tokenizer's EOS."""
    ids: list[int] = []
    cfg_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for x in ([*cfg_eos] if isinstance(cfg_eos, (list, tuple)) else [cfg_eos]) + [tok.eos_token_id]:
        if isinstance(x, int) and x not in ids:
            ids.append(x)
    return ids


def prompt_text(prompt: list[dict] | str) -> str:
    """What the user asked last (a chat prompt's last turn), or a plain-text prompt itself — for samples."""
    return prompt if isinstance(prompt, str) else str(prompt[-1].get("content", "")) if prompt else ""


def free(torch: Any) -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def max_new_tokens(tok: Any, refs: list[str], cap: int = 256) -> int:
    """Room for the longest reference answer plus a little."""
    if not refs:
        return cap
    return min(cap, max(len(tok(x, add_special_tokens=False)["input_ids"]) for x in refs) + 8)


def chat_text(tok: Any, messages: list[dict] | str) -> str:
    """The generation prompt for `messages` (the chat template, or the turns' text when there is none); a plain
    string prompt is used as is."""
    if isinstance(messages, str):
        return messages
    if tok.chat_template:
        return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return "\n".join(m["content"] for m in messages) + "\n"


def generate(model: Any, tok: Any, prompts: list[list[dict]] | list[str], max_new: int, torch: Any, bs: int = 64,
             sample: bool = False, n: int = 1, on_batch: Callable[[int, int], None] | None = None) -> list[str]:
    """Greedy answers (or `n` sampled ones per prompt, flattened prompt-major) to chat prompts, `bs` at a time;
    `on_batch(done, total)` after each batch."""
    tok.padding_side = "left"
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    outs: list[str] = []
    for i in range(0, len(prompts), bs):
        texts = [chat_text(tok, p) for p in prompts[i:i + bs]]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        extra: dict[str, Any] = {"do_sample": True, "temperature": 0.8, "top_p": 0.95,
                                 "num_return_sequences": n} if sample else {"do_sample": False}
        with torch.no_grad():
            gen = model.generate(**enc, max_new_tokens=max_new, pad_token_id=tok.pad_token_id,
                                 eos_token_id=eos_ids(model, tok) or None, **extra)
        for row in gen[:, enc["input_ids"].shape[1]:]:
            outs.append(tok.decode(row, skip_special_tokens=True).strip())
        if on_batch:
            on_batch(min(i + bs, len(prompts)), len(prompts))
    return outs


def batch_size(torch: Any) -> int:
    """Prompts per generate() call: a GPU takes many; on a CPU small batches cost little and show progress."""
    return 64 if torch.cuda.is_available() else 8


def answer_loss(model: Any, tok: Any, rows: list[dict], torch: Any, limit: int = 200) -> float:
    """Mean loss on the answer tokens only (the prompt is masked), as in training with assistant-only loss."""
    total, n = 0.0, 0
    from ftwizard.core.data.formats import as_messages

    for r in rows[:limit]:
        if isinstance(r.get("prompt"), str) and isinstance(r.get("completion"), str):  # plain text: no template
            prompt, full = r["prompt"], r["prompt"] + r["completion"] + (tok.eos_token or "")
        else:
            msgs = as_messages(r)
            if not msgs:
                continue
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


def read_prompts(path: str | Path) -> list[list[dict]]:
    """Prompts from a file: JSONL rows with `messages` (the assistant turns dropped), `prompt` (text or
    messages), `text`, `question` or `instruction`(+`input`); or plain text, one prompt per line."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"prompt file not found: {p}")
    lines = [x for x in p.read_text(encoding="utf-8").splitlines() if x.strip()]
    out: list[list[dict]] = []
    for i, line in enumerate(lines, 1):
        if not line.lstrip().startswith("{"):
            out.append([{"role": "user", "content": line.strip()}])
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise ValueError(f"{p}:{i}: not valid JSON (use one JSON object or one plain prompt per line)") from None
        msgs = row.get("messages") or row.get("prompt")
        if isinstance(msgs, list):
            out.append([m for m in msgs if m.get("role") != "assistant"])
            continue
        text = next((row[k] for k in ("prompt", "text", "question", "instruction") if isinstance(row.get(k), str)), None)
        if text is None:
            raise ValueError(f"{p}:{i}: no prompt found (give `messages`, `prompt`, `text`, `question` or `instruction`)")
        if isinstance(row.get("input"), str) and row["input"]:
            text = f"{text}\n\n{row['input']}"
        out.append([{"role": "user", "content": text}])
    return out


_SIDES = ("baseline", "tuned")


def save(rd: RunDir, results: dict[str, Any]) -> dict[str, Any]:
    """Merge `results` into checks.json (baseline/tuned are merged key by key, so each check adds its metrics)
    and return the whole file."""
    old: dict[str, Any] = {}
    if rd.checks_path.exists():
        try:
            old = json.loads(rd.checks_path.read_text(encoding="utf-8"))
        except ValueError:
            old = {}
    for key, val in results.items():
        if key in _SIDES and isinstance(val, dict) and isinstance(old.get(key), dict):
            old[key].update(val)
        else:
            old[key] = val
    tmp = rd.checks_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(old, indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(rd.checks_path)
    return old
