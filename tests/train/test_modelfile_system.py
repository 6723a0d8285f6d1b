"""The `modelfile` check's SYSTEM line on tiny tokenizers made here (no model weights are loaded): the template's
default system prompt, the training rows' own one, or none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.layout import RunDir

SMOL = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
# SmolLM2-135M-Instruct's chat template: a default system turn when the conversation has none
SMOL_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    + SMOL + "<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Llama 3 style with a default system prompt, and the Llama 3.1 date lines in every system turn
LLAMA3_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set sys = messages[0]['content'] | trim %}"
    "{% set messages = messages[1:] %}{% else %}{% set sys = 'You are a careful date converter.' %}{% endif %}"
    "{{ '<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n\n' + sys + '<|eot_id|>' }}"
    "{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\n\n' + m['content'] | trim + "
    "'<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
    "{% endif %}"
)


def _tokenizer(folder: Path, template: str | None) -> Path:
    """The tiny ChatML tokenizer (no default system turn), with `template` instead when given ("none": no template)."""
    from ftwizard.train.tiny import build_tokenizer

    tok = build_tokenizer(folder, "none" if template == "none" else "chatml")
    if template not in (None, "none"):
        tok.chat_template = template
        tok.save_pretrained(str(folder))
    return folder


def _run(tmp_path: Path, template: str | None, rows: list[dict] | None = None) -> Path:
    model = _tokenizer(tmp_path / "model", template)
    rd = RunDir(tmp_path / "run").create(RunConfig(model=str(model), data="d"))
    if rows is not None:
        rd.data_dir.mkdir()
        rd.split_file("train").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return rd.path


def _modelfile(run: Path) -> tuple[str, dict]:
    from ftwizard.train.checks import Context
    from ftwizard.train.checks import modelfile as check

    res = check.run(Context(run))["modelfile"]
    return (run / "Modelfile").read_text(encoding="utf-8"), res


def _chat(system: str | None) -> dict:
    turns = [{"role": "system", "content": system}] if system else []
    return {"messages": [*turns, {"role": "user", "content": "2001-02-03"}, {"role": "assistant", "content": "03/02/2001"}]}


@pytest.mark.parametrize(("template", "system"), [(SMOL_TEMPLATE, SMOL),
                                                  (LLAMA3_TEMPLATE, "You are a careful date converter.")])
def test_template_default_system_prompt_is_the_system_line(tmp_path, template, system):
    from ftwizard.train.checks import modelfile as check

    text, res = _modelfile(_run(tmp_path, template, [_chat(None)] * 4))
    assert f'\nSYSTEM """{system}"""\n' in text and text.count("SYSTEM") == 1
    assert res["system"] == system and res["system_from"] == "template"
    assert "SYSTEM: the chat template's default system prompt" in check.summary({"modelfile": res})


def test_rows_with_their_own_system_message_give_that_one(tmp_path):
    rows = [_chat("Convert dates to DD/MM/YYYY.")] * 3 + [_chat("Other.")] + [{"prompt": [
        {"role": "system", "content": "Convert dates to DD/MM/YYYY."}, {"role": "user", "content": "x"}],
        "completion": [{"role": "assistant", "content": "y"}]}]
    text, res = _modelfile(_run(tmp_path, SMOL_TEMPLATE, rows))
    assert '\nSYSTEM """Convert dates to DD/MM/YYYY."""\n' in text and SMOL not in text.split("TEMPLATE")[1]
    assert res["system_from"] == "data"


@pytest.mark.parametrize("template", [None, "none"])
def test_template_without_a_default_system_prompt_gives_none(tmp_path, template):
    # None: the tiny ChatML without a default system turn; "none": a base model without a chat template
    text, res = _modelfile(_run(tmp_path, template, [_chat(None)] * 2))
    assert "SYSTEM" not in text and res["system"] is None and res["system_from"] == "none"
    assert res["template"] == ("plain" if template == "none" else "chatml")
