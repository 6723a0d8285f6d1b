"""Count tokens of TRL rows with a model's tokenizer and chat template (a subprocess of the data report).

    python -m ftwizard.train.tokcount TOKENIZER ROWS.jsonl OUT.jsonl

OUT's first line is {"method": ...}; then one [full, prompt] pair per row, in order: `full` is the row as
the trainer sees it (chat template applied to conversational rows, the longer of chosen/rejected for
preference pairs), `prompt` the part before the answer. Local files only; remote code never runs.
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
        out.write(json.dumps({"method": method}) + "\n")
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
