"""An Ollama `Modelfile` for the trained model: FROM the GGUF or merged folder, the chat template converted to
Ollama's Go template, and PARAMETER stop for the model's end-of-turn tokens.

Known families (ChatML, Llama 3, Mistral, Gemma, Phi-3) get a hand-written template; any other chat template is
converted by rendering it around marker strings (`render` below, done by the caller with the tokenizer); without
a chat template, a plain "User:/Assistant:" template.

SYSTEM: the system prompt the model was trained with — the most common one in the training rows (`rows_system`),
else the default system turn the chat template injects when a conversation has none (`template_system`, from the
same marker renders), else none.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SYSTEM_MARK, PROMPT_MARK = "\x00FTW_SYSTEM\x00", "\x00FTW_PROMPT\x00"


@dataclass(frozen=True)
class TemplateFamily:
    name: str
    marker: str  # a string found in the HF chat template
    template: str  # Ollama Go template
    stops: tuple[str, ...]


FAMILIES: tuple[TemplateFamily, ...] = (
    TemplateFamily("chatml", "<|im_start|>",
           "{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}{{ if .Prompt }}<|im_start|>user\n"
           "{{ .Prompt }}<|im_end|>\n{{ end }}<|im_start|>assistant\n{{ .Response }}<|im_end|>\n",
           ("<|im_start|>", "<|im_end|>")),
    TemplateFamily("llama3", "<|start_header_id|>",
           "{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}"
           "{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>\n\n{{ .Prompt }}<|eot_id|>{{ end }}"
           "<|start_header_id|>assistant<|end_header_id|>\n\n{{ .Response }}<|eot_id|>",
           ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")),
    TemplateFamily("gemma", "<start_of_turn>",
           "<start_of_turn>user\n{{ if .System }}{{ .System }}\n\n{{ end }}{{ .Prompt }}<end_of_turn>\n"
           "<start_of_turn>model\n{{ .Response }}<end_of_turn>\n",
           ("<start_of_turn>", "<end_of_turn>")),
    TemplateFamily("phi3", "<|assistant|>",
           "{{ if .System }}<|system|>\n{{ .System }}<|end|>\n{{ end }}{{ if .Prompt }}<|user|>\n{{ .Prompt }}<|end|>\n"
           "{{ end }}<|assistant|>\n{{ .Response }}<|end|>\n",
           ("<|end|>", "<|user|>", "<|assistant|>")),
    TemplateFamily("mistral", "[INST]",
           "[INST] {{ if .System }}{{ .System }}\n\n{{ end }}{{ .Prompt }} [/INST]{{ .Response }}",
           ("[INST]", "[/INST]")),
)
PLAIN = "{{ if .System }}{{ .System }}\n\n{{ end }}User: {{ .Prompt }}\nAssistant: {{ .Response }}"


def family_of(chat_template: str | None) -> TemplateFamily | None:
    if not chat_template:
        return None
    return next((f for f in FAMILIES if f.marker in chat_template), None)


def _go_literal(text: str) -> str:
    """Template text with Go-template delimiters escaped."""
    return text.replace("{{", '{{ "{{" }}')


def from_rendered(with_system: str | None, user_only: str, eos: str = "") -> str | None:
    """A Go template from the HF template rendered around the markers (generation prompt added):
    `with_system` = render([system SYSTEM_MARK, user PROMPT_MARK]) or None if the template refuses a system turn,
    `user_only` = render([user PROMPT_MARK]). None when the markers do not come out verbatim."""
    if user_only.count(PROMPT_MARK) != 1:
        return None
    pre, post = user_only.split(PROMPT_MARK)
    head = _go_literal(pre)
    if with_system and with_system.count(SYSTEM_MARK) == 1 and with_system.count(PROMPT_MARK) == 1:
        a, rest = with_system.split(SYSTEM_MARK)
        b, post_s = rest.split(PROMPT_MARK)
        if post_s == post:
            head = f"{{{{ if .System }}}}{_go_literal(a)}{{{{ .System }}}}{_go_literal(b)}{{{{ else }}}}{head}{{{{ end }}}}"
    return f"{head}{{{{ .Prompt }}}}{_go_literal(post)}{{{{ .Response }}}}{_go_literal(eos)}"


# a known family's system turn (start, end): where a template that refuses a system message still writes a default one
SYSTEM_BLOCKS: tuple[tuple[str, str], ...] = (
    ("<|im_start|>system\n", "<|im_end|>"),
    ("<|start_header_id|>system<|end_header_id|>\n\n", "<|eot_id|>"),
    ("<|system|>\n", "<|end|>"),
)
# lines Llama 3.x templates write into every system turn (not a system prompt: the template adds them itself)
_LLAMA3_DATE_LINE = re.compile(r"^(Cutting Knowledge Date|Today Date):.*\n*", re.M)


def template_system(with_system: str | None, user_only: str) -> str | None:
    """The default system prompt a chat template injects into a conversation without one, from the same renders as
    `from_rendered` (`with_system` = [system SYSTEM_MARK, user PROMPT_MARK], `user_only` = [user PROMPT_MARK]): the
    text that stands where SYSTEM_MARK stood. Without a usable `with_system` (the template refuses a system turn), the
    text of a known family's system turn before the user's. None when the template adds no system text."""
    if user_only.count(PROMPT_MARK) != 1:
        return None
    before = user_only.split(PROMPT_MARK)[0]
    if with_system and with_system.count(SYSTEM_MARK) == 1 and with_system.count(PROMPT_MARK) == 1:
        head, rest = with_system.split(SYSTEM_MARK)
        tail = rest.split(PROMPT_MARK)[0]
        if len(before) >= len(head) + len(tail) and before.startswith(head) and before.endswith(tail):
            return before[len(head):len(before) - len(tail)].strip() or None
        return None
    for start, end in SYSTEM_BLOCKS:
        i = before.find(start)
        j = before.find(end, i + len(start)) if i >= 0 else -1
        if j >= 0:
            return _LLAMA3_DATE_LINE.sub("", before[i + len(start):j]).strip() or None
    return None


def _system_of(row: dict[str, Any]) -> str | None:
    """A conversational row's own system message ("" for a conversation without one); None for a plain-text row."""
    msgs = row.get("messages")
    if not isinstance(msgs, list):
        msgs = row.get("prompt")
    if not isinstance(msgs, list):
        return None
    first = msgs[0] if msgs and isinstance(msgs[0], dict) else {}
    content = first.get("content")
    return content if first.get("role") == "system" and isinstance(content, str) and content.strip() else ""


def rows_system(rows: Iterable[dict[str, Any]]) -> str | None:
    """The system prompt most conversational training rows carried (TRL `messages` or a `prompt` list), or None when
    most had none (they were trained with the template's default, if any) or no row is a conversation."""
    counts = Counter(s for s in (_system_of(r) for r in rows if isinstance(r, dict)) if s is not None)
    top = counts.most_common(1)
    return (top[0][0] or None) if top else None


def file_system(path: str | Path, limit: int = 100_000) -> str | None:
    """`rows_system` of a JSONL split file (its first `limit` rows); None when it cannot be read."""
    def rows() -> Iterable[dict[str, Any]]:
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh):
                if n >= limit:
                    break
                try:
                    yield json.loads(line)
                except ValueError:
                    continue

    try:
        return rows_system(rows())
    except (OSError, ValueError):  # missing or unreadable (not UTF-8) file
        return None


def system_prompt(train_file: str | Path | None, rendered: tuple[str | None, str] | None) -> tuple[str | None, str]:
    """(the system prompt the model was trained with, where it came from: "data", "template" or "none"): the
    training rows' most common one, else the template's default (`rendered` = (with_system, user_only)), else None."""
    from_rows = file_system(train_file) if train_file is not None else None
    if from_rows:
        return from_rows, "data"
    from_template = template_system(*rendered) if rendered is not None else None
    return (from_template, "template") if from_template else (None, "none")


def system_line(text: str) -> str:
    """`SYSTEM \"\"\"…\"\"\"`. Ollama's parser has no escapes and ends the value at a `\"\"\"` followed by a space or
    a line end, so a run of three or more double quotes inside is written with single quotes instead."""
    return 'SYSTEM """' + re.sub(r'"{3,}', lambda m: "'" * len(m.group()), text) + '"""'


@dataclass(frozen=True)
class Modelfile:
    text: str
    family: str  # chatml, llama3, …, "converted" or "plain"
    stops: tuple[str, ...]
    source: str
    system: str | None = None


def build(source: str, chat_template: str | None, eos_tokens: Sequence[str], adapter: str | None = None,
          render: Callable[[], tuple[str | None, str]] | None = None, system: str | None = None) -> Modelfile:
    """The Modelfile text. `source`: a .gguf file or a safetensors folder (merged/full model; with `adapter`,
    the base model folder and a LoRA adapter folder). `render()` gives (with_system, user_only) for
    `from_rendered`, used when the family is not known."""
    fam = family_of(chat_template)
    if fam is not None:
        template, name, stops = fam.template, fam.name, [*fam.stops]
    else:
        converted = None
        if chat_template and render is not None:
            try:
                converted = from_rendered(*render(), eos=next(iter(eos_tokens), ""))
            except Exception:  # noqa: BLE001 - any template error: fall back to the plain template
                converted = None
        template, name, stops = (converted, "converted", []) if converted else (PLAIN, "plain", ["User:"])
    for tok in eos_tokens:
        if tok and tok not in stops:
            stops.append(tok)
    lines = ["# Ollama Modelfile written by ftwizard. Use it with:", "#   ollama create my-model -f Modelfile",
             "#   ollama run my-model", f"FROM {source}"]
    if adapter:
        lines.append(f"ADAPTER {adapter}")
    lines.append(f'TEMPLATE """{template}"""')
    if system:
        lines.append(system_line(system))
    lines += ["PARAMETER stop " + json.dumps(s, ensure_ascii=False) for s in stops]
    return Modelfile("\n".join(lines) + "\n", name, tuple(stops), source, system or None)
