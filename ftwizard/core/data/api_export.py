"""Export a split for API fine-tuning: the chat JSONL the OpenAI fine-tuning API takes, checked against
its documented rules before anything is uploaded.

Rules (OpenAI fine-tuning guide, "Preparing your dataset" / "Check data formatting"; chat format
`{"messages": [{"role", "content", "weight"?}, ...]}`):
- each example is an object with a non-empty `messages` list;
- roles are system, user, assistant or tool; each message has non-empty text content (an assistant turn
  may instead carry `tool_calls`);
- each example has at least one assistant message, and at least one that is trained on;
- `weight` is allowed on assistant messages only and must be 0 or 1 (0: that turn is not trained on);
- at least 10 examples (the API's minimum; 50–100 is where improvement usually shows);
- at most 65,536 tokens per example: the training context of gpt-4o-mini-2024-07-18 and gpt-4o-2024-08-06
  in the guide's "Token limits" (longer examples are truncated by the API).
Tokens are estimated as in OpenAI's cookbook "Data preparation and analysis for chat model fine-tuning":
3 per message + the content's tokens + 3 for the reply, with the content's tokens approximated as
characters / 4 (tiktoken is not used, so the count is stated as approximate).
The job's billed tokens are tokens per epoch × epochs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftwizard.core.data.formats import as_messages
from ftwizard.core.data.tokens import approx_tokens

MIN_EXAMPLES = 10
RECOMMENDED_EXAMPLES = 50
TOKEN_LIMIT = 65_536
ROLES = ("system", "user", "assistant", "tool")
TOKENS_PER_MESSAGE = 3
TOKENS_PER_REPLY = 3
DEFAULT_EPOCHS = 3  # the n_epochs of the API example on reference sheet 004
# Fallback when presets/api_prices.yaml cannot be read: reference sheet 004 "Cost Comparison", USD per 1M
# training tokens.
PRICE_PER_1M_TRAIN_TOKENS = {"OpenAI gpt-4o-mini": 3.00, "OpenAI gpt-4o": 25.00}
TOKEN_METHOD = "approximate: characters / 4 + 3 per message + 3 (OpenAI cookbook's count, without tiktoken)"


class ExportError(ValueError):
    """The rows cannot be exported for the API; the message says why and what to do."""


@dataclass
class ExportResult:
    path: str | None
    examples: int
    tokens_per_epoch: int
    epochs: int
    billed_tokens: int
    max_example_tokens: int
    token_method: str = TOKEN_METHOD
    token_limit: int = TOKEN_LIMIT
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cost_usd: dict[str, float] = field(default_factory=dict)
    price_source: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def openai_prices() -> tuple[dict[str, float], str]:
    """USD per 1M training tokens for OpenAI models, from the price table the plan uses (with its date),
    else the reference sheet's figures."""
    try:
        from ftwizard.core.prices import price_tables

        t = price_tables()
        prices = {k: float(v["per_million_training_tokens"]) for k, v in t["api"].items() if k.startswith("OpenAI")}
        if prices:
            return prices, f"presets/api_prices.yaml ({t['api_date']})" + (f" + {t['user_file']}" if t.get("user_file")
                                                                          else "")
    except Exception:  # noqa: BLE001 - a broken price file must not stop an export
        pass
    return dict(PRICE_PER_1M_TRAIN_TOKENS), "reference sheet 004"


def to_openai_example(row: dict[str, Any]) -> dict[str, Any] | None:
    """A converted (TRL) row as an OpenAI chat example, or None when it is not an SFT row (text, preference,
    KTO and prompt-only rows have no single answer to train on)."""
    if "chosen" in row or "label" in row:
        return None
    msgs = as_messages(row)
    if msgs is None:
        return None
    out = []
    for m in msgs:
        role = "system" if m.get("role") == "developer" else m.get("role")
        mm: dict[str, Any] = {"role": role, "content": m.get("content")}
        for k in ("tool_calls", "tool_call_id", "name"):
            if m.get(k):
                mm[k] = m[k]
        if m.get("weight") is not None:
            mm["weight"] = m["weight"]  # kept on any role so the rule check can name a misplaced one
        out.append(mm)
    ex: dict[str, Any] = {"messages": out}
    if row.get("tools"):
        ex["tools"] = openai_tools(row["tools"])
    return ex


def openai_tools(tools: Any) -> Any:
    """The API's tool list: each bare JSON schema (`{"name", "description", "parameters"}`, as ShareGPT files
    keep them) wrapped as `{"type": "function", "function": …}`; entries already in that shape are kept."""
    if isinstance(tools, str):  # the TRL row keeps the list as JSON text
        try:
            tools = json.loads(tools)
        except json.JSONDecodeError:
            return tools
    if not isinstance(tools, list):
        return tools
    return [{"type": "function", "function": t} if isinstance(t, dict) and "type" not in t and "name" in t else t
            for t in tools]


def example_tokens(ex: dict[str, Any], count: Callable[[str], int] = approx_tokens) -> int:
    total = TOKENS_PER_REPLY
    for m in ex["messages"]:
        total += TOKENS_PER_MESSAGE
        c = m.get("content")
        if isinstance(c, str) and c:
            total += count(c)
        if m.get("tool_calls"):
            total += count(json.dumps(m["tool_calls"]))
    if ex.get("tools"):  # the tool definitions are part of every billed example
        total += count(json.dumps(ex["tools"]))
    return total


def check_example(ex: Any) -> list[str]:
    """The API's format rules for one example, as plain-words problems."""
    if not isinstance(ex, dict) or not isinstance(ex.get("messages"), list) or not ex["messages"]:
        return ["needs a non-empty 'messages' list"]
    problems: list[str] = []
    trained = 0
    assistants = 0
    for j, m in enumerate(ex["messages"], start=1):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in ROLES:
            problems.append(f"message {j} has role {role!r}; the API accepts {', '.join(ROLES)}")
            continue
        content = m.get("content")
        if role == "assistant" and m.get("tool_calls"):
            pass
        elif not isinstance(content, str) or not content.strip():
            problems.append(f"message {j} ({role}) has " + ("empty content" if isinstance(content, str) or content is None
                                                             else "non-text content"))
        if "weight" in m:
            if role != "assistant":
                problems.append(f"message {j} ({role}) has a weight; only assistant messages may")
            elif m["weight"] not in (0, 1):
                problems.append(f"message {j} has weight {m['weight']!r}; it must be 0 or 1")
        if role == "assistant":
            assistants += 1
            trained += m.get("weight", 1) == 1
    if not assistants:
        problems.append("has no assistant message")
    elif not trained:
        problems.append("every assistant message has weight 0: nothing is trained on")
    return problems


def export_openai(rows: list[dict[str, Any]], out_path: str | Path | None, epochs: int = DEFAULT_EPOCHS,
                  token_limit: int = TOKEN_LIMIT, count: Callable[[str], int] = approx_tokens) -> ExportResult:
    """Check converted rows against the API's rules and, when all pass, write them to `out_path` (JSONL).
    Nothing is written when any rule fails; `problems` says which example and why."""
    if epochs < 1:
        raise ExportError(f"epochs must be 1 or more, got {epochs}")
    examples: list[dict[str, Any]] = []
    problems: list[str] = []
    skipped = 0
    for i, row in enumerate(rows, start=1):
        ex = to_openai_example(row)
        if ex is None:
            skipped += 1
            continue
        examples.append(ex)
        for p in check_example(ex):
            problems.append(f"example {len(examples)} (row {i} of the split): {p}")
    if skipped and not examples:
        raise ExportError("these rows are not chat/instruction rows (text, preference, KTO or prompt-only data): "
                          "the API's chat fine-tuning needs a user turn and an assistant answer per example")
    tokens = [example_tokens(ex, count) for ex in examples]
    for n, t in enumerate(tokens, start=1):
        if t > token_limit:
            problems.append(f"example {n}: about {t:,} tokens, over the API's {token_limit:,}-token limit per "
                            "example: shorten it or leave it out")
    if len(examples) < MIN_EXAMPLES:
        problems.append(f"only {len(examples)} examples; the API needs at least {MIN_EXAMPLES}")
    per_epoch = sum(tokens)
    res = ExportResult(path=None, examples=len(examples), tokens_per_epoch=per_epoch, epochs=epochs,
                       billed_tokens=per_epoch * epochs, max_example_tokens=max(tokens, default=0),
                       token_limit=token_limit, problems=problems)
    prices, res.price_source = openai_prices()
    res.cost_usd = {m: round(res.billed_tokens / 1e6 * p, 2) for m, p in prices.items()}
    if skipped:
        res.warnings.append(f"{skipped} rows are not chat rows and were left out")
    if MIN_EXAMPLES <= len(examples) < RECOMMENDED_EXAMPLES:
        res.warnings.append(f"{len(examples)} examples: the API accepts them, but improvement usually shows "
                            f"from {RECOMMENDED_EXAMPLES}–100")
    if out_path is not None and res.ok:
        dest = Path(out_path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text("".join(json.dumps(ex, ensure_ascii=False) + "\n" for ex in examples), encoding="utf-8")
        res.path = str(dest)
    return res
