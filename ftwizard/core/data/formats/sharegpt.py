"""ShareGPT: {"conversations": [{"from": "human"|"gpt"|…, "value"}], "system"?, "tools"?}."""

from __future__ import annotations

from typing import Any

from ftwizard.core.data.formats.base import Family, Row, check_messages, check_tools, tool_call_of, tools_json

SHAREGPT_ROLES = {
    "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant",
    "bing": "assistant", "bard": "assistant", "model": "assistant", "system": "system",
    "function_call": "assistant", "observation": "tool", "tool": "tool", "function": "tool",
}


def sharegpt_messages(conv: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The turns as role/content messages; a `function_call` turn holding {"name", "arguments"} (LLaMA-Factory's
    tool calls) becomes an OpenAI/transformers `tool_calls` message; a turn's own training flag is kept as `weight`
    (axolotl's per-turn `"train": false`, or a `weight` 0/1), so a turn given as context only is not trained."""
    out: list[dict[str, Any]] = []
    for m in conv:
        msg: dict[str, Any] = {"role": SHAREGPT_ROLES[str(m["from"]).lower()], "content": str(m.get("value", ""))}
        call = tool_call_of(msg["content"]) if str(m["from"]).lower() == "function_call" else None
        if call is not None:  # LLaMA-Factory's {"name", "arguments"}: a tool call the chat template writes its way
            msg = {"role": "assistant", "content": "", "tool_calls": [call]}
        if isinstance(m.get("train"), bool):
            msg["weight"] = int(m["train"])
        elif m.get("weight") in (0, 1):
            msg["weight"] = m["weight"]
        out.append(msg)
    return out


def detect(rec: Row) -> bool:
    return "conversations" in rec


def validate(rec: Row) -> list[str]:
    errors: list[str] = []
    check_messages(rec["conversations"], "conversations", errors, "from", "value", SHAREGPT_ROLES)
    check_tools(rec, errors)
    return errors


def convert(rec: Row) -> Row:
    msgs = sharegpt_messages(rec["conversations"])
    if rec.get("system"):
        msgs.insert(0, {"role": "system", "content": rec["system"]})
    row: Row = {"messages": msgs}
    tools = tools_json(rec.get("tools"))
    if tools:  # TRL passes a `tools` column to the chat template
        row["tools"] = tools
    return row


def variant(rec: Row) -> str:
    return "sharegpt_tools" if "tools" in rec else "sharegpt"


FAMILY = Family("sharegpt", detect, validate, convert, required=(("conversations",),), variant=variant,
                description="ShareGPT conversations (from/value)")
