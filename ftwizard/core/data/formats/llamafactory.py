"""LLaMA-Factory's `dataset_info.json`: one entry per dataset says where its rows are (`file_name`, or a Hub id) and
how to read them (`formatting`: alpaca | sharegpt | openai, `columns`, `tags`, `ranking`). An entry is read
the way LLaMA-Factory's parser and converters read it (src/llamafactory/data/parser.py, converter.py), and each
row becomes a row of one of our families, so detection, validation and conversion stay theirs:

- alpaca: prompt/query/response(/system/history) → an Alpaca row (instruction = prompt + "\\n" + query, as
  LLaMA-Factory joins them); `ranking` with chosen/rejected → a preference row; `kto_tag` → a KTO row; no
  response column (e.g. `"columns": {"prompt": "text"}`) → a plain text document (pre-training);
- sharegpt / openai: the `messages` column with role/content tags mapped to user/assistant/tool/system (the
  function-call tag becomes an assistant turn, the observation tag a tool turn); `ranking` → a preference row
  (chosen/rejected are single messages), `kto_tag` → a labelled conversation (KTO);
- `images`/`videos`/`audios` columns are carried over, so the report refuses the dataset as multimodal.

As in LLaMA-Factory, an entry with `columns` uses only the columns it names, and one with `tags` only the tags
it names. Fields of the rows that the entry does not map are named in a note (LLaMA-Factory ignores them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

INFO_NAME = "dataset_info.json"
COLUMN_NAMES = ("prompt", "query", "response", "history", "messages", "system", "tools", "images", "videos",
                "audios", "chosen", "rejected", "kto_tag")
TAG_NAMES = ("role_tag", "content_tag", "user_tag", "assistant_tag", "observation_tag", "function_tag", "system_tag")
_ALPACA_DEFAULT = {"prompt": "instruction", "query": "input", "response": "output"}
_SHAREGPT_DEFAULT = {"messages": "conversations"}
_TAG_DEFAULT = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system"}
_SOURCES = ("file_name", "hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name")


class EntryError(ValueError):
    """An entry ftwizard cannot read (the message says why and what to do)."""


@dataclass
class Entry:
    name: str
    formatting: str = "alpaca"
    ranking: bool = False
    file_name: str | None = None
    hub_id: str | None = None
    subset: str | None = None
    split: str = "train"
    num_samples: int | None = None
    columns: dict[str, str | None] = field(default_factory=dict)
    tags: dict[str, str | None] = field(default_factory=dict)

    def col(self, key: str) -> str | None:
        return self.columns.get(key)

    def describe(self) -> str:
        where = self.file_name or self.hub_id or "?"
        kind = "preference" if self.ranking else "KTO" if self.col("kto_tag") else (
            "text" if self.formatting == "alpaca" and not self.col("response") else "SFT")
        return f"{where} ({self.formatting}, {kind})"

    def mapped(self) -> set[str]:
        return {v for v in self.columns.values() if v}


def looks_like_info(obj: Any) -> bool:
    """A dataset_info.json object: every value an entry naming where its rows are."""
    return (isinstance(obj, dict) and bool(obj) and all(isinstance(v, dict) for v in obj.values())
            and sum(any(k in v for k in _SOURCES) for v in obj.values()) >= max(1, len(obj) // 2))


def parse_entry(name: str, raw: dict[str, Any]) -> Entry:
    """One entry, with LLaMA-Factory's defaults (DatasetAttr.join)."""
    fmt = str(raw.get("formatting", "alpaca")).lower()
    if fmt not in ("alpaca", "sharegpt", "openai"):
        raise EntryError(f"dataset '{name}': formatting '{fmt}' is not one LLaMA-Factory defines (alpaca, sharegpt, "
                         "openai)")
    e = Entry(name=name, formatting=fmt, ranking=bool(raw.get("ranking", False)), subset=raw.get("subset"),
              split=str(raw.get("split") or "train"), num_samples=raw.get("num_samples"))
    if raw.get("hf_hub_url"):
        e.hub_id = str(raw["hf_hub_url"])
    elif raw.get("file_name"):
        e.file_name = str(raw["file_name"])
    elif raw.get("ms_hub_url") or raw.get("om_hub_url"):
        raise EntryError(f"dataset '{name}' is on ModelScope/Modelers ({raw.get('ms_hub_url') or raw.get('om_hub_url')}), "
                         "which ftwizard does not download from: download it and set file_name in the entry")
    elif raw.get("script_url") or raw.get("cloud_file_name"):
        raise EntryError(f"dataset '{name}' is read by a loading script or from cloud storage: export it to a "
                         ".jsonl/.json/.parquet file and set file_name in the entry")
    else:
        raise EntryError(f"dataset '{name}' names no file_name or hf_hub_url")
    cols = raw.get("columns")
    if cols is not None and not isinstance(cols, dict):
        raise EntryError(f"dataset '{name}': 'columns' should be an object")
    if cols is None:  # LLaMA-Factory's defaults apply only when the entry has no columns at all
        e.columns = dict(_ALPACA_DEFAULT) if fmt == "alpaca" else dict(_SHAREGPT_DEFAULT)
    else:
        e.columns = {k: (str(cols[k]) if cols.get(k) else None) for k in COLUMN_NAMES}
        if fmt != "alpaca" and not e.columns.get("messages"):
            e.columns["messages"] = "conversations"
    unknown = sorted(set(cols or {}) - set(COLUMN_NAMES))
    if unknown:
        raise EntryError(f"dataset '{name}': unknown column key(s) {', '.join(unknown)} (LLaMA-Factory knows "
                         f"{', '.join(COLUMN_NAMES)})")
    tags = raw.get("tags")
    e.tags = dict(_TAG_DEFAULT) if not isinstance(tags, dict) else {k: tags.get(k) for k in TAG_NAMES}
    if e.ranking and not (e.col("chosen") and e.col("rejected")):
        raise EntryError(f"dataset '{name}' is a ranking (preference) dataset but its columns name no "
                         "chosen/rejected")
    return e


def entries(info: dict[str, Any]) -> dict[str, Entry | str]:
    """Every entry by name: an Entry, or the reason it cannot be read."""
    out: dict[str, Entry | str] = {}
    for name, raw in info.items():
        try:
            out[name] = parse_entry(name, raw)
        except EntryError as exc:
            out[name] = str(exc)
    return out


def choices(info: dict[str, Any], base: Path) -> str:
    """The names, local files first, for a message asking to pick one."""
    local, hub, other = [], [], []
    for name, e in entries(info).items():
        if isinstance(e, str):
            other.append(name)
        elif e.file_name:
            present = (base / e.file_name).exists()
            local.append(f"{name} ({e.file_name}{'' if present else ', missing'})")
        else:
            hub.append(name)
    parts = []
    if local:
        parts.append("local files: " + ", ".join(local))
    if hub:
        parts.append(f"Hub datasets ({len(hub)}): " + ", ".join(hub[:12]) + (" …" if len(hub) > 12 else ""))
    if other:
        parts.append("not readable here: " + ", ".join(other))
    return "; ".join(parts)


# ---- rows -----------------------------------------------------------------------------------------------------
def _get(rec: dict[str, Any], col: str | None) -> Any:
    return rec.get(col) if col else None


def _media(rec: dict[str, Any], e: Entry, out: dict[str, Any]) -> None:
    for key in ("images", "videos", "audios"):
        v = _get(rec, e.col(key))
        if v not in (None, "", []):
            out[key] = v


def _alpaca(rec: dict[str, Any], e: Entry) -> dict[str, Any]:
    prompt: list[dict[str, Any]] = []
    system = _get(rec, e.col("system"))
    if isinstance(system, str) and system.strip():
        prompt.append({"role": "system", "content": system})
    history = _get(rec, e.col("history"))
    if isinstance(history, list):
        for pair in history:
            if isinstance(pair, list | tuple) and len(pair) == 2:
                prompt += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
    query = [x for x in (_get(rec, e.col("prompt")), _get(rec, e.col("query"))) if x]
    user = "\n".join(str(x) for x in query)  # LLaMA-Factory: "prompt\nquery"
    out: dict[str, Any]
    kto = e.col("kto_tag")
    if kto and kto in rec:
        out = {"prompt": [*prompt, {"role": "user", "content": user}],
               "completion": [{"role": "assistant", "content": _get(rec, e.col("response"))}], "label": rec[kto]}
    elif e.ranking:
        out = {"prompt": [*prompt, {"role": "user", "content": user}],
               "chosen": [{"role": "assistant", "content": _get(rec, e.col("chosen"))}],
               "rejected": [{"role": "assistant", "content": _get(rec, e.col("rejected"))}]}
    elif not e.col("response"):  # pre-training: the prompt column is the document
        out = {"text": _get(rec, e.col("prompt"))}
    else:
        out = {"instruction": user}
        if e.col("response") in rec:
            out["output"] = rec[e.col("response")]  # type: ignore[index]
        if isinstance(system, str) and system.strip():
            out["system"] = system
        if isinstance(history, list) and history:
            out["history"] = history
    tools = _get(rec, e.col("tools"))
    if tools and "messages" not in out and "instruction" in out:  # Alpaca rows have no tools: use a chat row
        msgs = [*prompt, {"role": "user", "content": user}]
        if "output" in out:
            msgs.append({"role": "assistant", "content": out["output"]})
        out = {"messages": msgs, "tools": tools}
    elif tools:
        out["tools"] = tools
    _media(rec, e, out)
    return out


def _role(e: Entry, tag: Any) -> Any:
    t = e.tags
    mapping = {t.get("user_tag"): "user", t.get("assistant_tag"): "assistant", t.get("observation_tag"): "tool",
               t.get("function_tag"): "assistant", t.get("system_tag"): "system"}
    mapping.pop(None, None)
    return mapping.get(tag, tag)  # an unmapped role is kept, so validation names it


def _message(m: Any, e: Entry) -> Any:
    if not isinstance(m, dict):
        return m
    rk, ck = e.tags.get("role_tag") or "from", e.tags.get("content_tag") or "value"
    out = {"role": _role(e, m.get(rk)), "content": m.get(ck)}
    for k in ("tool_calls", "name", "tool_call_id", "loss_weight", "reasoning_content"):
        if m.get(k) is not None:
            out[k] = m[k]
    return out


def _sharegpt(rec: dict[str, Any], e: Entry) -> dict[str, Any]:
    raw = _get(rec, e.col("messages"))
    if not isinstance(raw, list):
        return {"messages": raw}
    msgs = [_message(m, e) for m in raw]
    system = _get(rec, e.col("system"))
    if isinstance(system, str) and system.strip() and not (msgs and isinstance(msgs[0], dict)
                                                           and msgs[0].get("role") == "system"):
        msgs.insert(0, {"role": "system", "content": system})
    out: dict[str, Any]
    kto = e.col("kto_tag")
    if kto and kto in rec:
        out = {"messages": msgs, "label": rec[kto]}
    elif e.ranking:
        ch, rj = _get(rec, e.col("chosen")), _get(rec, e.col("rejected"))
        out = {"prompt": msgs, "chosen": [_message(ch, e)] if isinstance(ch, dict) else ch,
               "rejected": [_message(rj, e)] if isinstance(rj, dict) else rj}
    else:
        out = {"messages": msgs}
    tools = _get(rec, e.col("tools"))
    if tools:
        out["tools"] = tools
    _media(rec, e, out)
    return out


def convert_row(rec: dict[str, Any], e: Entry) -> dict[str, Any]:
    """One row of the entry's file as a row of one of our families."""
    return _alpaca(rec, e) if e.formatting == "alpaca" else _sharegpt(rec, e)


def unmapped(records: list[dict[str, Any]], e: Entry) -> list[str]:
    """Fields the rows have that the entry does not map (LLaMA-Factory ignores them)."""
    seen: set[str] = set()
    for rec in records[:200]:
        seen.update(rec)
    return sorted(seen - e.mapped())
