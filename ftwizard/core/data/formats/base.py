"""What every dataset family provides, and the checks they share.

A family is one module under `formats/` defining a `Family`: which fields it needs, how to tell its rows
apart (`detect`), what is wrong with a row in plain words (`validate`), and how a row becomes what TRL's
trainers take (`convert`). `formats/__init__.py` registers each one in a single line.

TRL dataset types (trl docs "Dataset formats and types"), each standard (strings) or conversational
(message lists):
- language modeling: {"text"} | {"messages"}
- prompt-only: {"prompt"}
- prompt-completion: {"prompt", "completion"}
- preference: {"prompt", "chosen", "rejected"} (explicit prompt) | {"chosen", "rejected"} (implicit)
- unpaired preference (KTO): {"prompt", "completion", "label"}
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Row = dict[str, Any]

OPENAI_ROLES = {"system", "developer", "user", "assistant", "tool", "function"}


@dataclass(frozen=True)
class Family:
    """One dataset family. `required` lists the fields it needs, each as a tuple of accepted names
    (used to tell a row with a missing field from a row of another family); `min_rows` is the suggested
    minimum when the task is not known."""

    name: str
    detect: Callable[[Row], bool]
    validate: Callable[[Row], list[str]]
    convert: Callable[[Row], Row]
    required: tuple[tuple[str, ...], ...]
    min_rows: int = 200
    variant: Callable[[Row], str] | None = None
    description: str = ""

    def format_name(self, rec: Row) -> str:
        return self.variant(rec) if self.variant else self.name

    def missing(self, rec: Row) -> list[str] | None:
        """The required fields a row lacks, or None when it shares none of them (another family's row)."""
        if not any(k in rec for names in self.required for k in names):
            return None
        return [names[0] for names in self.required if not any(k in rec for k in names)]


# ---- shared checks ------------------------------------------------------------------------------------------
def nonempty_str(v: Any) -> bool:
    return isinstance(v, str) and v.strip() != ""


def typename(v: Any) -> str:
    return "null" if v is None else {"str": "string", "list": "list", "dict": "object", "int": "number",
                                     "float": "number", "bool": "true/false"}.get(type(v).__name__, type(v).__name__)


def is_messages(v: Any) -> bool:
    """A list whose first item looks like a chat message (TRL's `is_conversational` test)."""
    return isinstance(v, list) and bool(v) and isinstance(v[0], dict) and "role" in v[0]


def check_field(rec: Row, key: str, errors: list[str], required: bool = True) -> None:
    """A text field: present, a string, not blank."""
    if key not in rec:
        if required:
            errors.append(f"missing field '{key}'")
        return
    v = rec[key]
    if v is None or (isinstance(v, str) and not v.strip()):
        if required:
            errors.append(f"field '{key}' is empty")
    elif not isinstance(v, str):
        errors.append(f"field '{key}' should be text, got {typename(v)}")


def check_messages(msgs: Any, field: str, errors: list[str], role_key: str = "role",
                   content_key: str = "content", roles: dict[str, str] | None = None,
                   need_assistant: bool = True, start_user: bool = True) -> None:
    """A conversation: a non-empty list of {role, content} with known roles, non-empty content, user and
    assistant alternating, and (when `need_assistant`) at least one assistant turn."""
    if not isinstance(msgs, list):
        errors.append(f"'{field}' should be a list of messages, got {typename(msgs)}")
        return
    if not msgs:
        errors.append(f"'{field}' is an empty conversation")
        return
    norm: list[str] = []
    for j, m in enumerate(msgs, start=1):
        if not isinstance(m, dict):
            errors.append(f"message {j} in '{field}' should be an object, got {typename(m)}")
            return
        if role_key not in m:
            errors.append(f"message {j} in '{field}' has no '{role_key}'")
            return
        r = str(m[role_key]).lower()
        role = roles.get(r) if roles is not None else (r if r in OPENAI_ROLES else None)
        if role is None:
            errors.append(f"message {j} in '{field}' has unknown role '{m[role_key]}'")
            return
        content = m.get(content_key)
        has_tool_calls = bool(m.get("tool_calls") or m.get("function_call"))
        if role == "assistant" and has_tool_calls:
            pass
        elif isinstance(content, list):  # content parts: [{"type": "text", "text"|"value": ...}, ...]
            problem = parts_problem(content, role)
            if problem:
                errors.append(f"message {j} ({role}) in '{field}' {problem}")
        elif not nonempty_str(content):
            errors.append(f"message {j} ({role}) in '{field}' has "
                          + ("no content" if content is None else
                             "empty content" if isinstance(content, str) else
                             f"content of type {typename(content)} (should be text)"))
        if "weight" in m and m["weight"] not in (0, 1):
            errors.append(f"message {j} in '{field}': weight must be 0 or 1, got {m['weight']!r}")
        lw = m.get("loss_weight")
        if lw is not None and (isinstance(lw, bool) or not isinstance(lw, int | float) or lw < 0):
            errors.append(f"message {j} in '{field}': loss_weight must be a number ≥ 0, got {lw!r}")
        norm.append("system" if role == "developer" else role)
    convo = [r for r in norm if r in ("user", "assistant")]
    if need_assistant and "assistant" not in convo:
        errors.append(f"'{field}' has no assistant turn: there is nothing to learn from")
        return
    first_non_system = next((r for r in norm if r != "system"), None)
    if first_non_system not in ("user", None) and need_assistant and start_user:
        errors.append(f"'{field}' starts with {_a(first_non_system)} turn; a conversation should start with the user")
        return
    if "system" in norm[1:] and norm[0] != "system":
        errors.append(f"'{field}' has a system message after the conversation started")
    prev = None
    for r in norm:
        if r in ("user", "assistant") and r == prev:
            errors.append(f"'{field}' has two {r} turns in a row (roles out of order)")
            return
        if r in ("user", "assistant"):
            prev = r
        elif r == "tool":
            prev = "user"  # a tool result answers the assistant, like a user turn


def check_prompt_messages(msgs: Any, field: str, errors: list[str]) -> None:
    """A conversational prompt: a conversation that ends where the model should answer (TRL adds the
    generation prompt after a user/tool turn, and continues a final assistant turn)."""
    n = len(errors)
    check_messages(msgs, field, errors, need_assistant=False)
    if len(errors) == n and isinstance(msgs, list) and msgs:
        last = str(msgs[-1].get("role", "")).lower()
        if last not in ("user", "tool", "assistant"):
            errors.append(f"'{field}' ends with a {last} turn; a prompt should end with the user's turn")


def check_completion_messages(msgs: Any, field: str, errors: list[str]) -> None:
    """A conversational completion: the assistant's answer (it may continue with tool turns)."""
    check_messages(msgs, field, errors, need_assistant=True, start_user=False)


def check_text_or_messages(rec: Row, key: str, errors: list[str], kind: str) -> None:
    """A field that is either text (standard) or a message list (conversational)."""
    v = rec.get(key)
    if isinstance(v, list):
        if kind == "prompt":
            check_prompt_messages(v, key, errors)
        else:
            check_completion_messages(v, key, errors)
    else:
        check_field(rec, key, errors)


def check_same_style(rec: Row, keys: tuple[str, ...], errors: list[str]) -> None:
    """TRL needs every field of a row to be text, or every one a message list — not a mix."""
    kinds = {k: isinstance(rec.get(k), list) for k in keys if k in rec and rec.get(k) is not None}
    if len(set(kinds.values())) > 1:
        lists = [k for k, v in kinds.items() if v]
        strs = [k for k, v in kinds.items() if not v]
        errors.append(f"{', '.join(repr(k) for k in lists)} {'is a message list' if len(lists) == 1 else 'are message lists'}"
                      f" but {', '.join(repr(k) for k in strs)} {'is' if len(strs) == 1 else 'are'} text: "
                      "use text for all of them, or message lists for all")


def _message_text(m: Any) -> str:
    """Everything a message trains on, as text: content (parts joined), reasoning and tool calls."""
    if not isinstance(m, dict):
        return ""
    c = m.get("content", m.get("value"))
    if isinstance(c, list):  # content parts
        p = split_parts(c)
        return " ".join(x for x in (p.reasoning, p.text, json.dumps(p.tool_calls, ensure_ascii=False)
                                    if p.tool_calls else "") if x)
    extra = [str(m["reasoning_content"])] if m.get("reasoning_content") else []
    if m.get("tool_calls"):
        extra.append(json.dumps(m["tool_calls"], ensure_ascii=False, default=str))
    return " ".join([*extra, "" if c is None else str(c)]) if extra else ("" if c is None else str(c))


def content_text(v: Any) -> str:
    """The text of a field: a string, or the contents of a message list joined by spaces."""
    if isinstance(v, list):
        return " ".join(_message_text(m) for m in v)
    return "" if v is None else str(v)


def _tools_list(value: Any) -> list[Any] | None:
    """The tool list a `tools` field holds (a list, one object, or either as JSON text); None if it is not one."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except json.JSONDecodeError:
            return None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        return None
    return value


def check_tools(rec: Row, errors: list[str]) -> None:
    """`tools`, when present, is a list of tool definitions (JSON objects), or that list as JSON text."""
    if rec.get("tools") is not None and _tools_list(rec["tools"]) is None:
        errors.append("field 'tools' should be a list of tool definitions (JSON objects), or that list as JSON text")


def tools_json(value: Any) -> str | None:
    """The `tools` column as TRL takes it: the list as JSON text (TRL's SFT trainer json-loads a string). Kept as
    text on purpose: a list of objects goes through pyarrow, which merges the schemas of all rows and adds every
    other row's parameters to each tool as nulls. None for no tools."""
    tools = _tools_list(value)
    return json.dumps(tools, ensure_ascii=False) if tools else None



# ---- content parts ------------------------------------------------------------------------------------------
# OpenAI / transformers parts ({"type": "text", "text": ...}) and LLaMA-Factory v1 parts ({"type": "text" |
# "reasoning" | "tool_call", "value": ...}). Media parts never reach a text-only model: the report refuses those
# datasets before validation (formats/media.py).
TEXT_PARTS = {"text", "input_text", "output_text"}
REASONING_PARTS = {"reasoning", "thinking"}
TOOL_CALL_PARTS = {"tool_call", "function_call"}


@dataclass
class Parts:
    text: str = ""
    reasoning: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)  # problems, in words


def _part_value(p: dict[str, Any]) -> Any:
    for k in ("text", "value", "content", "reasoning", "thinking"):
        if k in p:
            return p[k]
    return None


def tool_call_of(value: Any) -> dict[str, Any] | None:
    """A tool call part's value ({"name", "arguments"} as JSON text or an object) as an OpenAI/transformers tool
    call: {"type": "function", "function": {"name", "arguments": {...}}}; None if it is not one."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    if isinstance(value, dict) and isinstance(value.get("function"), dict):
        value = value["function"]
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return None
    args = value.get("arguments", value.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError:
            return None
    return {"type": "function", "function": {"name": value["name"], "arguments": args}}


def split_parts(parts: list[Any]) -> Parts:
    """Text parts joined (as LLaMA-Factory and the chat templates join them: no separator), reasoning parts
    joined, tool call parts as tool calls; anything else is a problem named in `bad`."""
    out = Parts()
    for p in parts:
        if not isinstance(p, dict) or "type" not in p:
            out.bad.append('has a content list whose items are not parts like {"type": "text", "text": ...}')
            break
        kind, value = str(p["type"]), _part_value(p)
        if kind in TEXT_PARTS or kind in REASONING_PARTS:
            if value is not None and not isinstance(value, str):
                out.bad.append(f"has a {kind} part whose value is {typename(value)}, not text")
            elif kind in TEXT_PARTS:
                out.text += value or ""
            else:
                out.reasoning += value or ""
        elif kind in TOOL_CALL_PARTS:
            call = tool_call_of(value)
            if call is None:
                out.bad.append(f"has a {kind} part that is not a JSON object with a name and arguments")
            else:
                out.tool_calls.append(call)
        else:
            out.bad.append(f"has a content part of type '{kind}': ftwizard trains text-only models on text, "
                           "reasoning and tool_call parts")
    return out


def parts_problem(parts: list[Any], role: str) -> str | None:
    """What is wrong with a message's content parts, or None."""
    if not parts:
        return "has empty content"
    p = split_parts(parts)
    if p.bad:
        return p.bad[0]
    if not p.text.strip() and not p.reasoning.strip() and not p.tool_calls:
        return "has empty content (its text parts are empty)"
    if p.tool_calls and role != "assistant":
        return f"has a tool call in a {role} message; only assistant messages call tools"
    return None


def _a(word: str) -> str:
    """'a user', 'an assistant'."""
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def normalize_message(m: dict[str, Any]) -> dict[str, Any]:
    """One message as the chat templates take it: content parts → text `content` (+ `reasoning_content`,
    `tool_calls`), `developer` → system, LLaMA-Factory's `loss_weight: 0` (axolotl's `train: false`) on an assistant
    turn → `weight: 0`
    (other roles are never trained on anyway). Other keys (`tool_calls`, `name`, `tool_call_id`, `weight`,
    `reasoning_content`) are kept."""
    role = "system" if m.get("role") == "developer" else m.get("role")
    content = m.get("content")
    out: dict[str, Any] = {"role": role}
    if isinstance(content, list):
        p = split_parts(content)
        out["content"] = p.text
        if p.reasoning:
            out["reasoning_content"] = p.reasoning
        if p.tool_calls:
            out["tool_calls"] = p.tool_calls
    else:
        out["content"] = content or ""
    for k in ("tool_calls", "name", "tool_call_id", "reasoning_content"):
        if m.get(k) and k not in out:
            out[k] = m[k]
    if m.get("weight") is not None:
        out["weight"] = m["weight"]
    elif role == "assistant" and (m.get("loss_weight") == 0 or m.get("train") is False):  # axolotl: "train": false
        out["weight"] = 0
    return out


def normalize_messages(v: Any) -> Any:
    """A message list with every message normalized (see `normalize_message`); text is returned as it is."""
    if isinstance(v, list) and all(isinstance(m, dict) for m in v):
        return [normalize_message(m) for m in v]
    return v
