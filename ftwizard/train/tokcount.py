"""Count tokens of TRL rows with a model's tokenizer and chat template (a subprocess of the data report).

    python -m ftwizard.train.tokcount TOKENIZER ROWS.jsonl OUT.jsonl

OUT's first line is {"method": ..., "default_system": ..., "renders": {...}}; then one [full, prompt] pair per row,
in order: `full` is the row as the trainer sees it (chat template applied to conversational rows, the longer of
chosen/rejected for preference pairs), `prompt` the part before the answer. `default_system` is the system prompt
the chat template adds to a conversation that has none (SmolLM's "You are a helpful AI assistant named SmolLM …"),
or null; `renders` says whether the template renders `reasoning_content` and `tool_calls` at all. Local files only;
remote code never runs.
"""

from __future__ import annotations

import json
import sys
from typing import Any

CHUNK = 1000


def _render(tok: Any, msgs: list[dict[str, Any]], generation_prompt: bool = False) -> str:
    if tok.chat_template:
        return tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=generation_prompt)
    return "\n".join(str(m.get("content") or "") for m in msgs)


def _texts(tok: Any, row: dict[str, Any]) -> tuple[list[str], str]:
    """(candidate full texts — the longest counts —, prompt text) of one row."""
    if "messages" in row:
        return [_render(tok, row["messages"])], ""
    if "text" in row and "prompt" not in row:
        return [str(row["text"])], ""
    prompt = row.get("prompt")
    answers = [row[k] for k in ("completion", "chosen", "rejected") if k in row]
    if isinstance(prompt, list):
        p = _render(tok, prompt, generation_prompt=prompt[-1].get("role") in ("user", "tool"))
        return [_render(tok, prompt + a) if isinstance(a, list) else p + str(a) for a in answers] or [p], p
    p = "" if prompt is None else str(prompt)
    return [p + (_render(tok, a) if isinstance(a, list) else str(a)) for a in answers] or [p], p


_U, _A, _S = "ftwizard-user-probe", "ftwizard-answer-probe", "ftwizard-system-probe"


def default_system(tok: Any) -> str | None:
    """The text a chat template adds as the system message when a conversation has none: render the same probe
    conversation with a sentinel system message and without, and read what stands where the sentinel stood."""
    if not tok.chat_template:
        return None
    convo: list[dict[str, Any]] = [{"role": "user", "content": _U}, {"role": "assistant", "content": _A}]
    try:
        bare = _render(tok, convo)
        with_sys = _render(tok, [{"role": "system", "content": _S}, *convo])
    except Exception:  # noqa: BLE001 - a template without a system role has no default system prompt either
        return None
    if _S not in with_sys or _U not in with_sys:
        return None
    pre = with_sys[:with_sys.index(_S)]
    mid = with_sys[with_sys.index(_S) + len(_S):with_sys.index(_U)]
    if not pre or not bare.startswith(pre) or not mid.strip():
        return None
    end = bare.find(mid, len(pre))
    text = bare[len(pre):end].strip() if end >= 0 else ""
    if not text or _U in text or _A in text or not any(c.isalpha() for c in text):
        return None
    return text


def renders(tok: Any) -> dict[str, bool]:
    """Whether the chat template writes an assistant turn's `reasoning_content` and `tool_calls`, and a row's `tools`
    schemas, into the text."""
    out = {"reasoning_content": False, "tool_calls": False, "tools": False}
    if not tok.chat_template:
        return out
    call = {"type": "function", "function": {"name": "ftwizard_tool_probe", "arguments": {}}}
    convo: list[dict[str, Any]] = [
        {"role": "user", "content": _U},
        {"role": "assistant", "content": _A, "reasoning_content": "ftwizard-reasoning-probe", "tool_calls": [call]}]
    try:
        text = _render(tok, convo)
    except Exception:  # noqa: BLE001 - a template that rejects them renders neither
        text = ""
    schema = {"type": "function", "function": {"name": "ftwizard_schema_probe", "description": "",
                                               "parameters": {"type": "object", "properties": {}}}}
    try:
        with_tools = tok.apply_chat_template(convo[:1], tools=[schema], tokenize=False)
    except Exception:  # noqa: BLE001 - a template that rejects tools writes none
        with_tools = ""
    return {"reasoning_content": "ftwizard-reasoning-probe" in text, "tool_calls": "ftwizard_tool_probe" in text,
            "tools": "ftwizard_schema_probe" in with_tools}


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    name, src, dst = argv
    from transformers import AutoTokenizer
    from transformers.utils import logging

    logging.set_verbosity_error()
    try:
        tok = AutoTokenizer.from_pretrained(name, local_files_only=True, trust_remote_code=False)
    except Exception as exc:  # noqa: BLE001 - one line for the parent to show
        print(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return 1
    with open(src, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    from trl.data_utils import is_conversational

    from ftwizard.train.templates import ensure_template

    # the trainer gives a template-less tokenizer ChatML for conversational rows: count what it will train on
    added = ensure_template(tok, "auto", bool(rows) and is_conversational(rows[0]))
    method = f"tokenizer: {name}" + (" + ChatML (added by ftwizard: the model has no chat template)" if added
                                     else " + its chat template" if tok.chat_template else " (no chat template)")
    with open(dst, "w", encoding="utf-8") as out:
        out.write(json.dumps({"method": method, "default_system": default_system(tok), "renders": renders(tok)})
                  + "\n")
        for i in range(0, len(rows), CHUNK):
            fulls, prompts, owners = [], [], []
            for j, row in enumerate(rows[i:i + CHUNK]):
                cands, p = _texts(tok, row)
                fulls += cands
                owners += [j] * len(cands)
                prompts.append(p)
            full_ids = tok(fulls, add_special_tokens=False)["input_ids"] if fulls else []
            prompt_ids = tok(prompts, add_special_tokens=False)["input_ids"] if prompts else []
            best = [0] * len(prompts)
            for j, ids in zip(owners, full_ids, strict=True):
                best[j] = max(best[j], len(ids))
            for j in range(len(prompts)):
                out.write(json.dumps([best[j], len(prompt_ids[j]) if prompts[j] else 0]) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
