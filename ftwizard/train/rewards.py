"""GRPO reward functions: built-ins a first-timer can pick by name, and the user's own `path/to/file.py:function`.

Every reward follows TRL's signature `f(prompts, completions, completion_ids, **columns) -> list[float | None]`:
`completions` are strings (standard prompts) or one-message lists (chat prompts); the dataset's other columns
(e.g. `answer`) arrive as keyword lists, one value per completion.

Built-ins (config `grpo_rewards`):
- `exact_match`    1.0 when the answer (the `<answer>…</answer>` part if present, else the whole completion,
                   whitespace-trimmed) equals the row's `answer`/`solution` column, else 0.0.
- `char_match`     partial credit: the share of the reference's characters matched in place (0..1) — a signal
                   that can rise before the first exact match does.
- `format`         1.0 for `<think>…</think>` followed by `<answer>…</answer>` (the R1 layout), else 0.0.
- `regex:PATTERN`  1.0 when the whole completion matches PATTERN (Python `re.fullmatch`, DOTALL), else 0.0.
- `length_penalty` −(completion tokens / max completion length), in [−1, 0]: prefers short answers.
A user reward is loaded only from the file path the user wrote, never searched for.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

RewardFn = Callable[..., list[float | None]]
ANSWER_COLUMNS = ("answer", "solution", "ground_truth")
BUILTINS = ("exact_match", "char_match", "format", "regex:PATTERN", "length_penalty")
_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_R1_FORMAT = re.compile(r"\s*<think>.*?</think>\s*<answer>.*?</answer>\s*", re.DOTALL)


class RewardError(ValueError):
    """A reward name or file that cannot be used; `str()` is the one line to show."""


def completion_text(completion: Any) -> str:
    """The text of one completion (a string, or a list of messages whose last one is the answer)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion:
        last = completion[-1]
        return str(last.get("content", "")) if isinstance(last, dict) else str(last)
    return str(completion)


def extract_answer(text: str) -> str:
    """The `<answer>` part when there is one, else the whole text; trimmed."""
    m = _ANSWER_TAG.search(text)
    return (m.group(1) if m else text).strip()


def _references(kwargs: dict[str, Any], n: int) -> list[str]:
    for col in ANSWER_COLUMNS:
        if col in kwargs and kwargs[col] is not None:
            return [str(v).strip() for v in kwargs[col]]
    raise RewardError(f"exact_match/char_match need a reference column ({', '.join(ANSWER_COLUMNS)}) in the data; "
                      f"the rows have {', '.join(sorted(k for k in kwargs if not k.startswith(('trainer_', 'log_'))))}")


def exact_match(prompts: list, completions: list, **kwargs: Any) -> list[float | None]:
    refs = _references(kwargs, len(completions))
    return [float(extract_answer(completion_text(c)) == r) for c, r in zip(completions, refs, strict=True)]


def char_overlap(pred: str, ref: str) -> float:
    """Characters of `ref` matched at the same position in `pred`, over the longer length (0..1)."""
    if not pred and not ref:
        return 1.0
    same = sum(a == b for a, b in zip(pred, ref, strict=False))
    return same / max(len(pred), len(ref))


def char_match(prompts: list, completions: list, **kwargs: Any) -> list[float | None]:
    refs = _references(kwargs, len(completions))
    return [char_overlap(extract_answer(completion_text(c)), r) for c, r in zip(completions, refs, strict=True)]


def format_reward(prompts: list, completions: list, **kwargs: Any) -> list[float | None]:
    return [float(_R1_FORMAT.fullmatch(completion_text(c)) is not None) for c in completions]


format_reward.__name__ = "format"  # TRL logs rewards/<name>/mean


def regex_reward(pattern: str) -> RewardFn:
    try:
        rx = re.compile(pattern, re.DOTALL)
    except re.error as exc:
        raise RewardError(f"regex reward: {pattern!r} is not a valid regular expression ({exc})") from None

    def regex(prompts: list, completions: list, **kwargs: Any) -> list[float | None]:
        return [float(rx.fullmatch(completion_text(c).strip()) is not None) for c in completions]

    return regex


def length_penalty_reward(max_completion_length: int) -> RewardFn:
    def length_penalty(prompts: list, completions: list, completion_ids: list | None = None,
                       **kwargs: Any) -> list[float | None]:
        lengths = ([len(ids) for ids in completion_ids] if completion_ids is not None
                   else [len(completion_text(c)) for c in completions])
        return [-min(1.0, n / max(1, max_completion_length)) for n in lengths]

    return length_penalty


def load_user_reward(spec: str, base_dir: Path | None = None) -> RewardFn:
    """`path/to/module.py:function` → the function. The path is the user's (relative to `base_dir` if not absolute)."""
    path_s, _, name = spec.rpartition(":")
    if not path_s or not name.isidentifier():
        raise RewardError(f"reward {spec!r}: write a user reward as path/to/file.py:function_name")
    path = Path(path_s).expanduser()
    if not path.is_absolute() and base_dir is not None and not path.exists():
        path = base_dir / path
    if path.suffix != ".py" or not path.is_file():
        raise RewardError(f"reward {spec!r}: {path} is not a Python file; give the path of the .py file that defines "
                          f"{name}()")
    mod_spec = importlib.util.spec_from_file_location(f"ftwizard_user_reward_{path.stem}", path)
    if mod_spec is None or mod_spec.loader is None:
        raise RewardError(f"reward {spec!r}: cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(mod_spec)
    try:
        mod_spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - the user's code: report it in one line
        raise RewardError(f"reward {spec!r}: importing {path.name} failed: {type(exc).__name__}: {exc}") from None
    fn = getattr(module, name, None)
    if not callable(fn):
        found = ", ".join(n for n, v in vars(module).items() if inspect.isfunction(v) and not n.startswith("_"))
        raise RewardError(f"reward {spec!r}: {path.name} has no function {name}() (functions: {found or 'none'})")
    params = inspect.signature(fn).parameters.values()
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        raise RewardError(f"reward {spec!r}: {name}() must accept **kwargs (TRL passes prompts=, completions=, "
                          "completion_ids= and every dataset column)")
    return fn


def resolve_reward(spec: str, max_completion_length: int = 256, base_dir: Path | None = None) -> RewardFn:
    """One entry of `grpo_rewards` → a TRL reward function."""
    spec = spec.strip()
    if spec == "exact_match":
        return exact_match
    if spec == "char_match":
        return char_match
    if spec == "format":
        return format_reward
    if spec.startswith("regex:"):
        return regex_reward(spec[len("regex:"):])
    if spec == "length_penalty":
        return length_penalty_reward(max_completion_length)
    if ".py:" in spec:
        return load_user_reward(spec, base_dir)
    raise RewardError(f"unknown reward {spec!r}: choose from {', '.join(BUILTINS)}, or path/to/file.py:function")


def resolve_rewards(specs: list[str], max_completion_length: int = 256, base_dir: Path | None = None,
                    timeout_s: float | None = None) -> list[RewardFn]:
    """The rewards of `grpo_rewards`; with `timeout_s`, each guarded (`guarded`): a NaN/inf score or a call
    longer than `timeout_s` seconds fails the run with the reward's name."""
    fns = [resolve_reward(s, max_completion_length, base_dir) for s in specs]
    if timeout_s is None:
        return fns
    return [guarded(fn, spec.strip(), timeout_s) for fn, spec in zip(fns, specs, strict=True)]


class RewardFailure(RuntimeError):
    """A reward function that returned NaN/inf or did not return in time; the diagnosis names it
    (core/run/diagnosis.py reads `RewardFailure:`)."""


def _step(kwargs: dict[str, Any]) -> str:
    step = getattr(kwargs.get("trainer_state"), "global_step", None)
    return f" at step {step}" if isinstance(step, int) else ""


def _check_scores(label: str, scores: Any, kwargs: dict[str, Any]) -> Any:
    """NaN or ±inf from a reward is a failure (TRL would read a NaN as "no score" and train on nothing)."""
    if isinstance(scores, list | tuple):
        bad = [v for v in scores if isinstance(v, float | int) and not isinstance(v, bool) and not math.isfinite(v)]
        if bad:
            raise RewardFailure(f"the reward {label} returned {bad[0]} for {len(bad)} of {len(scores)} completions"
                                f"{_step(kwargs)} (a reward must be a finite number, or None to skip a completion)")
    return scores


def guarded(fn: RewardFn, label: str, timeout_s: float) -> RewardFn:
    """`fn` under a time limit and a NaN/inf check. The call runs in a daemon thread the trainer waits on for
    `timeout_s` seconds: a reward that never returns fails the run (the thread is abandoned) instead of hanging it
    at that step, where even SIGTERM could not end it. Async rewards are awaited with the same limit."""
    import asyncio
    import functools
    import threading

    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def guarded_async(*args: Any, **kwargs: Any) -> Any:
            try:
                scores = await asyncio.wait_for(fn(*args, **kwargs), timeout_s)
            except asyncio.TimeoutError:
                raise RewardFailure(f"the reward {label} took longer than {timeout_s:g} s{_step(kwargs)} "
                                    "(grpo_reward_timeout)") from None
            return _check_scores(label, scores, kwargs)

        return guarded_async  # type: ignore[return-value]

    @functools.wraps(fn)
    def guarded_sync(*args: Any, **kwargs: Any) -> Any:
        box: dict[str, Any] = {}

        def call() -> None:
            try:
                box["value"] = fn(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the trainer's thread
                box["error"] = exc

        worker = threading.Thread(target=call, name=f"reward-{label}"[:60], daemon=True)
        worker.start()
        worker.join(timeout_s)
        if worker.is_alive():
            raise RewardFailure(f"the reward {label} took longer than {timeout_s:g} s{_step(kwargs)} and was "
                                "abandoned (grpo_reward_timeout)")
        if "error" in box:
            raise box["error"]
        return _check_scores(label, box.get("value"), kwargs)

    return guarded_sync


def needs_reference(specs: list[str]) -> bool:
    return any(s.strip() in ("exact_match", "char_match") for s in specs)


def score_model(model_path: str | Path, rows: list[dict[str, Any]], specs: list[str], max_new_tokens: int = 64,
                adapter: str | Path | None = None, trust_remote_code: bool = False, batch_size: int = 32,
                base_dir: Path | None = None, temperature: float = 0.0, samples: int = 1,
                seed: int = 0, timeout_s: float = 300.0) -> dict[str, float]:
    """A model's answers to prompt rows (`{"prompt": ..., "answer": ...}`) scored by each reward:
    `{"reward": mean of the summed rewards, "<name>": mean, "n": answers}` — GRPO's before/after check.
    Greedy by default; `temperature` > 0 samples `samples` answers per prompt, as GRPO does in training.
    Each reward is guarded as in training: RewardFailure for a NaN/inf score or a call over `timeout_s` seconds."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cuda = torch.cuda.is_available()
    dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else torch.float32
    tok = AutoTokenizer.from_pretrained(str(model_path), trust_remote_code=trust_remote_code)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model: Any = AutoModelForCausalLM.from_pretrained(str(model_path), dtype=dtype, trust_remote_code=trust_remote_code,
                                                      device_map="cuda" if cuda else None)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
    model.eval()
    torch.manual_seed(seed)
    rows = [r for r in rows for _ in range(samples if temperature > 0 else 1)]
    sampling: dict[str, Any] = ({"do_sample": True, "temperature": temperature, "top_k": 0} if temperature > 0
                                else {"do_sample": False})
    chat = bool(rows) and isinstance(rows[0]["prompt"], list)
    completions: list[Any] = []
    for i in range(0, len(rows), batch_size):
        batch = rows[i:i + batch_size]
        texts = [tok.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True) if chat
                 else r["prompt"] for r in batch]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        with torch.no_grad():
            gen = model.generate(**enc, max_new_tokens=max_new_tokens, pad_token_id=tok.pad_token_id,
                                 eos_token_id=tok.eos_token_id, **sampling)
        for row in gen[:, enc["input_ids"].shape[1]:]:
            text = str(tok.decode(row, skip_special_tokens=True)).strip()
            completions.append([{"role": "assistant", "content": text}] if chat else text)
    columns = {k: [r.get(k) for r in rows] for k in rows[0] if k != "prompt"} if rows else {}
    prompts = [r["prompt"] for r in rows]
    ids = [tok(completion_text(c), add_special_tokens=False)["input_ids"] for c in completions]
    out: dict[str, float] = {"n": float(len(rows))}
    total = [0.0] * len(rows)
    for fn in resolve_rewards(specs, max_new_tokens, base_dir, timeout_s=timeout_s):
        raw = fn(prompts=prompts, completions=completions, completion_ids=ids, **columns)
        vals = [0.0 if v is None else float(v) for v in raw]
        out[fn.__name__] = round(sum(vals) / max(1, len(vals)), 4)
        total = [t + v for t, v in zip(total, vals, strict=True)]
    out["reward"] = round(sum(total) / max(1, len(total)), 4)
    return out
