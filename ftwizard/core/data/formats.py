"""Dataset families: detection, per-record validation in plain words, and conversion to TRL's shapes.

Families: alpaca, sharegpt, openai, preference, kto, prompt_completion, text.
Conversion targets (what TRL trainers take):
- conversational: {"messages": [{"role", "content"}, ...]}  (SFT)
- prompt/completion: {"prompt", "completion"}               (SFT)
- preference: {"prompt", "chosen", "rejected"} as strings or message lists (DPO/ORPO)
- unpaired: {"prompt", "completion", "label"}                (KTO)
- text: {"text"}                                             (continued pre-training)
"""

from __future__ import annotations

from typing import Any

FAMILIES = ("alpaca", "sharegpt", "openai", "preference", "kto", "prompt_completion", "text")

SHAREGPT_ROLES = {
    "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant",
    "bing": "assistant", "bard": "assistant", "model": "assistant", "system": "system",
    "function_call": "assistant", "observation": "tool", "tool": "tool", "function": "tool",
}
OPENAI_ROLES = {"system", "developer", "user", "assistant", "tool", "function"}


def family_of(rec: dict[str, Any]) -> str | None:
    """The family one record looks like, or None."""
    keys = set(rec)
    if "chosen" in keys and "rejected" in keys:
        return "preference"
    if "completion" in keys and "label" in keys:
        return "kto"
    if "messages" in keys:
        return "openai"
    if "conversations" in keys:
        return "sharegpt"
    if "instruction" in keys and ("output" in keys or "response" in keys):
        return "alpaca"
    if "prompt" in keys and "completion" in keys:
        return "prompt_completion"
    if "text" in keys or "content" in keys:
        return "text"
    return None


def detect_family(records: list[dict[str, Any]], sample: int = 200) -> str | None:
    """The majority family over the first `sample` records."""
    counts: dict[str, int] = {}
    for rec in records[:sample]:
        fam = family_of(rec)
        if fam:
            counts[fam] = counts.get(fam, 0) + 1
    return max(counts, key=lambda k: counts[k]) if counts else None


def format_name(family: str, rec: dict[str, Any]) -> str:
    """A more specific name for reports (e.g. preference_messages, sharegpt_tools)."""
    if family == "preference":
        if isinstance(rec.get("chosen"), dict):
            return "preference_sharegpt"
        if isinstance(rec.get("chosen"), list):
            return "preference_messages_explicit_prompt" if "prompt" in rec else "preference_messages_implicit_prompt"
        return "preference_strings"
    if family == "sharegpt" and "tools" in rec:
        return "sharegpt_tools"
    return family


def _nonempty_str(v: Any) -> bool:
    return isinstance(v, str) and v.strip() != ""


def _typename(v: Any) -> str:
    return "null" if v is None else {"str": "string", "list": "list", "dict": "object", "int": "number",
                                     "float": "number", "bool": "true/false"}.get(type(v).__name__, type(v).__name__)


def _check_field(rec: dict[str, Any], key: str, errors: list[str], required: bool = True) -> None:
    if key not in rec:
        if required:
            errors.append(f"missing field '{key}'")
        return
    v = rec[key]
    if v is None or (isinstance(v, str) and not v.strip()):
        if required:
            errors.append(f"field '{key}' is empty")
    elif not isinstance(v, str):
        errors.append(f"field '{key}' should be text, got {_typename(v)}")


def _check_messages(msgs: Any, field: str, errors: list[str], role_key: str = "role",
                    content_key: str = "content", roles: dict[str, str] | None = None,
                    need_assistant: bool = True, start_user: bool = True) -> None:
    if not isinstance(msgs, list):
        errors.append(f"'{field}' should be a list of messages, got {_typename(msgs)}")
        return
    if not msgs:
        errors.append(f"'{field}' is an empty conversation")
        return
    norm: list[str] = []
    for j, m in enumerate(msgs, start=1):
        if not isinstance(m, dict):
            errors.append(f"message {j} in '{field}' should be an object, got {_typename(m)}")
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
        elif isinstance(content, list):  # multimodal/parts content
            if not content:
                errors.append(f"message {j} ({role}) in '{field}' has empty content")
        elif not _nonempty_str(content):
            errors.append(f"message {j} ({role}) in '{field}' has "
                          + ("no content" if content is None else
                             "empty content" if isinstance(content, str) else
                             f"content of type {_typename(content)} (should be text)"))
        if "weight" in m and m["weight"] not in (0, 1):
            errors.append(f"message {j} in '{field}': weight must be 0 or 1, got {m['weight']!r}")
        norm.append("assistant" if role in ("assistant", "developer") and role != "developer" else role)
    convo = [r for r in norm if r in ("user", "assistant")]
    if need_assistant and "assistant" not in convo:
        errors.append(f"'{field}' has no assistant turn: there is nothing to learn from")
        return
    first_non_system = next((r for r in norm if r != "system"), None)
    if first_non_system not in ("user", None) and need_assistant and start_user:
        errors.append(f"'{field}' starts with a {first_non_system} turn; a conversation should start with the user")
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


def validate(family: str, rec: dict[str, Any]) -> list[str]:
    """Problems with one record, in plain words (empty list: fine)."""
    errors: list[str] = []
    actual = family_of(rec)
    if actual is not None and actual != family:
        return [f"this row looks like '{actual}' but the file is '{family}': rows of a different format are mixed in"]
    if actual is None:
        return [f"no '{family}' fields here (found: {', '.join(sorted(rec)) or 'nothing'})"]
    if family == "alpaca":
        _check_field(rec, "instruction", errors)
        out_key = "output" if "output" in rec else "response"
        _check_field(rec, out_key, errors)
        if "input" in rec and rec["input"] is not None and not isinstance(rec["input"], str):
            errors.append(f"field 'input' should be text, got {_typename(rec['input'])}")
        if "history" in rec and rec["history"] is not None:
            h = rec["history"]
            if not isinstance(h, list) or any(not (isinstance(p, list) and len(p) == 2) for p in h):
                errors.append("field 'history' should be a list of [instruction, response] pairs")
    elif family == "openai":
        _check_messages(rec["messages"], "messages", errors)
    elif family == "sharegpt":
        _check_messages(rec["conversations"], "conversations", errors, "from", "value", SHAREGPT_ROLES)
    elif family == "preference":
        ch, rj = rec.get("chosen"), rec.get("rejected")
        if isinstance(ch, dict) or isinstance(rj, dict):  # ShareGPT-style: conversations + chosen/rejected message
            if "conversations" in rec:
                _check_messages(rec["conversations"], "conversations", errors, "from", "value", SHAREGPT_ROLES,
                                need_assistant=False)
            for k in ("chosen", "rejected"):
                m = rec.get(k)
                if not isinstance(m, dict) or not _nonempty_str(m.get("value", m.get("content"))):
                    errors.append(f"'{k}' should be a message with non-empty text")
        elif isinstance(ch, list) or isinstance(rj, list):
            if "prompt" in rec:
                p = rec["prompt"]
                if isinstance(p, list):
                    _check_messages(p, "prompt", errors, need_assistant=False)
                else:
                    _check_field(rec, "prompt", errors)
            for k in ("chosen", "rejected"):
                _check_messages(rec.get(k), k, errors, need_assistant=True, start_user="prompt" not in rec)
        else:
            for k in ("prompt", "chosen", "rejected"):
                _check_field(rec, k, errors)
            if not errors and rec["chosen"].strip() == rec["rejected"].strip():
                errors.append("'chosen' and 'rejected' are identical: the pair teaches nothing")
    elif family == "kto":
        _check_field(rec, "prompt", errors)
        _check_field(rec, "completion", errors)
        if not isinstance(rec.get("label"), bool):
            errors.append(f"field 'label' should be true or false, got {_typename(rec.get('label'))}")
    elif family == "prompt_completion":
        for k in ("prompt", "completion"):
            v = rec.get(k)
            if isinstance(v, list):
                _check_messages(v, k, errors, need_assistant=(k == "completion"), start_user=(k == "prompt"))
            else:
                _check_field(rec, k, errors)
    elif family == "text":
        key = "text" if "text" in rec else "content"
        _check_field(rec, key, errors)
    return errors


# ---- conversion -----------------------------------------------------------------------------------------
def _sharegpt_msgs(conv: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"role": SHAREGPT_ROLES[str(m["from"]).lower()], "content": str(m.get("value", ""))} for m in conv]


def to_trl(family: str, rec: dict[str, Any]) -> dict[str, Any]:
    """Convert a valid record to the TRL dataset shape for its family."""
    if family == "alpaca":
        msgs: list[dict[str, str]] = []
        if _nonempty_str(rec.get("system")):
            msgs.append({"role": "system", "content": rec["system"]})
        for q, a in rec.get("history") or []:
            msgs += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        user = rec["instruction"].strip()
        if _nonempty_str(rec.get("input")):
            user = f"{user}\n\n{rec['input'].strip()}"
        msgs += [{"role": "user", "content": user},
                 {"role": "assistant", "content": rec.get("output", rec.get("response"))}]
        return {"messages": msgs}
    if family == "openai":
        out = []
        for m in rec["messages"]:
            mm = {"role": "system" if m["role"] == "developer" else m["role"], "content": m.get("content") or ""}
            for k in ("tool_calls", "name", "tool_call_id"):
                if m.get(k):
                    mm[k] = m[k]
            out.append(mm)
        return {"messages": out}
    if family == "sharegpt":
        d: dict[str, Any] = {"messages": _sharegpt_msgs(rec["conversations"])}
        if rec.get("system"):
            d["messages"].insert(0, {"role": "system", "content": rec["system"]})
        return d
    if family == "preference":
        ch, rj = rec["chosen"], rec["rejected"]
        if isinstance(ch, dict):
            prompt = _sharegpt_msgs(rec.get("conversations") or [])
            return {"prompt": prompt,
                    "chosen": [{"role": "assistant", "content": ch.get("value", ch.get("content"))}],
                    "rejected": [{"role": "assistant", "content": rj.get("value", rj.get("content"))}]}
        if isinstance(ch, list) and "prompt" not in rec:  # implicit prompt: shared prefix
            n = 0
            while n < min(len(ch), len(rj)) - 1 and ch[n] == rj[n]:
                n += 1
            return {"prompt": ch[:n], "chosen": ch[n:], "rejected": rj[n:]}
        return {"prompt": rec["prompt"], "chosen": ch, "rejected": rj}
    if family == "kto":
        return {"prompt": rec["prompt"], "completion": rec["completion"], "label": rec["label"]}
    if family == "prompt_completion":
        return {"prompt": rec["prompt"], "completion": rec["completion"]}
    return {"text": rec.get("text", rec.get("content"))}


def texts(family: str, rec: dict[str, Any]) -> tuple[str, str]:
    """(prompt-ish text, target text) of a valid record, for lengths, duplicates and PII."""
    t = to_trl(family, rec)
    if "messages" in t:
        msgs = t["messages"]
        target = " ".join(str(m["content"]) for m in msgs if m["role"] == "assistant")
        prompt = " ".join(str(m["content"]) for m in msgs if m["role"] != "assistant")
        return prompt, target

    def flat(v: Any) -> str:
        if isinstance(v, list):
            return " ".join(str(m.get("content", "")) for m in v if isinstance(m, dict))
        return str(v)

    if "chosen" in t:
        return flat(t["prompt"]), flat(t["chosen"]) + " " + flat(t["rejected"])
    if "completion" in t:
        return flat(t["prompt"]), flat(t["completion"])
    return "", flat(t["text"])
