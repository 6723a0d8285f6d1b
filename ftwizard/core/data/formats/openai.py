"""OpenAI chat / TRL conversational language modeling: {"messages": [{"role", "content"}, ...]}.

`content` may be a list of parts: OpenAI's {"type": "text", "text"} or LLaMA-Factory v1's {"type": "text" |
"reasoning" | "tool_call", "value"} (with `loss_weight` per message); see `base.normalize_message`."""

from __future__ import annotations

from ftwizard.core.data.formats.base import Family, Row, check_messages, check_tools, normalize_message, tools_json


def detect(rec: Row) -> bool:
    return "messages" in rec


def validate(rec: Row) -> list[str]:
    errors: list[str] = []
    check_messages(rec["messages"], "messages", errors)
    check_tools(rec, errors)
    return errors


def convert(rec: Row) -> Row:
    row: Row = {"messages": [normalize_message(m) for m in rec["messages"]]}
    tools = tools_json(rec.get("tools"))
    if tools:  # as JSON text, which TRL reads (see tools_json)
        row["tools"] = tools
    return row


FAMILY = Family("openai", detect, validate, convert, required=(("messages",),),
                description='{"messages": [...]} chats (TRL conversational language modeling)')
