"""OpenAI chat / TRL conversational language modeling: {"messages": [{"role", "content"}, ...]}."""

from __future__ import annotations

from ftwizard.core.data.formats.base import Family, Row, check_messages, check_tools, tools_json


def detect(rec: Row) -> bool:
    return "messages" in rec


def validate(rec: Row) -> list[str]:
    errors: list[str] = []
    check_messages(rec["messages"], "messages", errors)
    check_tools(rec, errors)
    return errors


def convert(rec: Row) -> Row:
    out = []
    for m in rec["messages"]:
        mm = {"role": "system" if m["role"] == "developer" else m["role"], "content": m.get("content") or ""}
        for k in ("tool_calls", "name", "tool_call_id", "weight"):
            if m.get(k) is not None and (k == "weight" or m.get(k)):
                mm[k] = m[k]
        out.append(mm)
    row: Row = {"messages": out}
    tools = tools_json(rec.get("tools"))
    if tools:  # as JSON text, which TRL reads (see tools_json)
        row["tools"] = tools
    return row


FAMILY = Family("openai", detect, validate, convert, required=(("messages",),),
                description='{"messages": [...]} chats (TRL conversational language modeling)')
