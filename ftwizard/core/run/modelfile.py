"""An Ollama `Modelfile` for the trained model: FROM the GGUF or merged folder, the chat template converted to
Ollama's Go template, and PARAMETER stop for the model's end-of-turn tokens.

Known families (ChatML, Llama 3, Mistral, Gemma, Phi-3) get a hand-written template; any other chat template is
converted by rendering it around marker strings (`render` below, done by the caller with the tokenizer); without
a chat template, a plain "User:/Assistant:" template.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

SYSTEM_MARK, PROMPT_MARK = "\x00FTW_SYSTEM\x00", "\x00FTW_PROMPT\x00"


@dataclass(frozen=True)
class Family:
    name: str
    marker: str  # a string found in the HF chat template
    template: str  # Ollama Go template
    stops: tuple[str, ...]


FAMILIES: tuple[Family, ...] = (
    Family("chatml", "<|im_start|>",
           "{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}{{ if .Prompt }}<|im_start|>user\n"
           "{{ .Prompt }}<|im_end|>\n{{ end }}<|im_start|>assistant\n{{ .Response }}<|im_end|>\n",
           ("<|im_start|>", "<|im_end|>")),
    Family("llama3", "<|start_header_id|>",
           "{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}"
           "{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>\n\n{{ .Prompt }}<|eot_id|>{{ end }}"
           "<|start_header_id|>assistant<|end_header_id|>\n\n{{ .Response }}<|eot_id|>",
           ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")),
    Family("gemma", "<start_of_turn>",
           "<start_of_turn>user\n{{ if .System }}{{ .System }}\n\n{{ end }}{{ .Prompt }}<end_of_turn>\n"
           "<start_of_turn>model\n{{ .Response }}<end_of_turn>\n",
           ("<start_of_turn>", "<end_of_turn>")),
    Family("phi3", "<|assistant|>",
           "{{ if .System }}<|system|>\n{{ .System }}<|end|>\n{{ end }}{{ if .Prompt }}<|user|>\n{{ .Prompt }}<|end|>\n"
           "{{ end }}<|assistant|>\n{{ .Response }}<|end|>\n",
           ("<|end|>", "<|user|>", "<|assistant|>")),
    Family("mistral", "[INST]",
           "[INST] {{ if .System }}{{ .System }}\n\n{{ end }}{{ .Prompt }} [/INST]{{ .Response }}",
           ("[INST]", "[/INST]")),
)
PLAIN = "{{ if .System }}{{ .System }}\n\n{{ end }}User: {{ .Prompt }}\nAssistant: {{ .Response }}"


def family_of(chat_template: str | None) -> Family | None:
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


@dataclass(frozen=True)
class Modelfile:
    text: str
    family: str  # chatml, llama3, …, "converted" or "plain"
    stops: tuple[str, ...]
    source: str


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
        lines.append(f'SYSTEM """{system}"""')
    lines += ["PARAMETER stop " + json.dumps(s, ensure_ascii=False) for s in stops]
    return Modelfile("\n".join(lines) + "\n", name, tuple(stops), source)
