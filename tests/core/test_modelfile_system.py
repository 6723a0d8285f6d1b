"""The Modelfile's SYSTEM line (pure string work): the training rows' system prompt, else the default system prompt
a chat template injects (read from renders around the marker strings), else none."""

from __future__ import annotations

import json

from ftwizard.core.run import modelfile

S, P = modelfile.SYSTEM_MARK, modelfile.PROMPT_MARK
SMOL = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
GEN = "<|im_start|>assistant\n"


def _chatml(system: str | None) -> str:
    return (f"<|im_start|>system\n{system}<|im_end|>\n" if system is not None else "") + \
        f"<|im_start|>user\n{P}<|im_end|>\n{GEN}"


def _llama3(system: str, date_lines: bool = False) -> str:
    dates = "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n" if date_lines else ""
    return (f"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{dates}{system}<|eot_id|>"
            f"<|start_header_id|>user<|end_header_id|>\n\n{P}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")


def test_template_default_system_chatml_and_llama3():
    # SmolLM2's ChatML: a system turn with its default text whenever the conversation has none
    assert modelfile.template_system(_chatml(S), _chatml(SMOL)) == SMOL
    # a ChatML template without a default: the user-only render has no system turn
    assert modelfile.template_system(_chatml(S), _chatml(None)) is None
    # Llama 3 style with a default system prompt
    assert modelfile.template_system(_llama3(S), _llama3("You are a pirate.")) == "You are a pirate."
    # Llama 3.1 writes its date lines into every system turn: not a system prompt
    assert modelfile.template_system(_llama3(S, date_lines=True), _llama3("", date_lines=True)) is None
    assert modelfile.template_system(_llama3(S, date_lines=True), _llama3("Be brief.", date_lines=True)) == "Be brief."
    # a Llama 3 template that writes no system turn at all without a system message
    no_sys = f"<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n{P}<|eot_id|>"
    assert modelfile.template_system(_llama3(S), no_sys) is None
    # Mistral-style: the system text goes into the user turn, nothing injected
    assert modelfile.template_system(f"<s>[INST] {S}\n\n{P} [/INST]", f"<s>[INST] {P} [/INST]") is None


def test_template_default_system_when_the_template_refuses_a_system_turn():
    assert modelfile.template_system(None, _chatml("Be brief.")) == "Be brief."
    assert modelfile.template_system(None, _llama3("", date_lines=True)) is None
    assert modelfile.template_system(None, _llama3("Be brief.", date_lines=True)) == "Be brief."
    assert modelfile.template_system(None, f"<start_of_turn>user\n{P}<end_of_turn>\n") is None
    assert modelfile.template_system(None, "no marker") is None


def test_rows_system_most_common_of_the_rows():
    def row(system: str | None, key: str = "messages") -> dict:
        turns = ([{"role": "system", "content": system}] if system is not None else []) + \
            [{"role": "user", "content": "q"}]
        return {key: turns + [{"role": "assistant", "content": "a"}]} if key == "messages" else \
            {"prompt": turns, "completion": [{"role": "assistant", "content": "a"}]}

    assert modelfile.rows_system([row("Be terse."), row("Be terse.", "prompt"), row("Be kind.")]) == "Be terse."
    assert modelfile.rows_system([row(None), row(None), row("Be kind.")]) is None  # most rows had none
    assert modelfile.rows_system([row("  ")]) is None
    assert modelfile.rows_system([{"text": "plain"}, {"prompt": "x", "completion": "y"}]) is None
    assert modelfile.rows_system([]) is None


def test_system_prompt_prefers_the_training_rows(tmp_path):
    train = tmp_path / "train.jsonl"
    rows = [{"messages": [{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "q"},
                          {"role": "assistant", "content": "a"}]}] * 3
    train.write_text("".join(json.dumps(r) + "\n" for r in rows) + "not json\n", encoding="utf-8")
    rendered = (_chatml(S), _chatml(SMOL))
    assert modelfile.system_prompt(train, rendered) == ("Answer in French.", "data")
    assert modelfile.system_prompt(tmp_path / "missing.jsonl", rendered) == (SMOL, "template")
    assert modelfile.system_prompt(None, (_chatml(S), _chatml(None))) == (None, "none")
    assert modelfile.system_prompt(None, None) == (None, "none")


def test_system_line_in_the_modelfile():
    mf = modelfile.build("m.gguf", "{{ '<|im_start|>' }}", ["<|im_end|>"], system=SMOL)
    assert f'\nSYSTEM """{SMOL}"""\n' in mf.text and mf.system == SMOL
    assert mf.text.index("TEMPLATE") < mf.text.index("SYSTEM") < mf.text.index("PARAMETER stop")
    assert "SYSTEM" not in modelfile.build("m.gguf", "{{ '<|im_start|>' }}", ["<|im_end|>"]).text
    # Ollama's parser has no escapes and ends the value at `"""` + a space: such runs become single quotes
    line = modelfile.system_line('Quote text in """ triple quotes """.\nSay "hi" twice')
    assert line == 'SYSTEM """Quote text in \'\'\' triple quotes \'\'\'.\nSay "hi" twice"""'
