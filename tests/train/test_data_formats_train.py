"""Issue 22, the trainer's side: what the model's chat template adds or leaves out (a default system prompt,
reasoning, tool calls) is found by rendering; labelled conversations train with KTO; DPO says how many pairs TRL
dropped; continued pre-training splits long documents instead of cutting them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.launcher import launch, wait
from ftwizard.core.run.layout import RunDir

slow = pytest.mark.slow

SMOL = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
        "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
        "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
        "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
QWEN = ("{%- if messages[0]['role'] == 'system' %}<|im_start|>system\n{{ messages[0]['content'] }}<|im_end|>\n"
        "{%- else %}<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
        "{%- endif %}{%- for m in messages %}{%- if m['role'] != 'system' %}<|im_start|>{{ m['role'] }}\n"
        "{{ m['content'] }}{%- if m.reasoning_content %}<think>{{ m.reasoning_content }}</think>{%- endif %}"
        "{%- for c in m.tool_calls or [] %}<tool_call>{{ c.function.name }}</tool_call>{%- endfor %}<|im_end|>\n"
        "{%- endif %}{%- endfor %}")
LLAMA3 = ("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n\n"
          "{% if messages[0]['role'] == 'system' %}{{ messages[0]['content'] }}{% endif %}<|eot_id|>"
          "{% for m in messages %}{% if m['role'] != 'system' %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>"
          "\n\n{{ m['content'] }}<|eot_id|>{% endif %}{% endfor %}")
GEMMA = ("<bos>{% for m in messages %}{% if m['role'] == 'system' %}{% set sys = m['content'] + '\n\n' %}"
         "{% else %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' else 'user' }}\n"
         "{{ m['content'] }}<end_of_turn>\n{% endif %}{% endfor %}")
NO_SYSTEM = ("{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system role') }}"
             "{% endif %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}")


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory) -> Path:
    from ftwizard.train.tiny import build_tokenizer

    d = tmp_path_factory.mktemp("tok")
    build_tokenizer(d, "chatml")
    return d


@pytest.mark.parametrize("template,expected,reasoning,tools", [
    (SMOL, "You are a helpful AI assistant named SmolLM, trained by Hugging Face", False, False),
    (QWEN, "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.", True, True),
    (LLAMA3, None, False, False),  # the date header is there with a system message too: not a default prompt
    (GEMMA, None, False, False),
    (NO_SYSTEM, None, False, False),
])
def test_default_system_prompt_and_what_the_template_writes(tok_dir, template, expected, reasoning, tools):
    from transformers import AutoTokenizer

    from ftwizard.train.tokcount import default_system, renders

    tok = AutoTokenizer.from_pretrained(tok_dir)
    tok.chat_template = template
    assert default_system(tok) == expected
    assert renders(tok) == {"reasoning_content": reasoning, "tool_calls": tools, "tools": False}  # none writes schemas


def test_data_reports_the_default_system_prompt_with_the_model(tmp_path, tok_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tok_dir)
    tok.chat_template = SMOL
    model = tmp_path / "smol-like"
    tok.save_pretrained(model)
    rows = [{"messages": [{"role": "user", "content": f"hi {i}"}, {"role": "assistant", "content": f"hello {i}"}]}
            for i in range(12)]
    rows[0]["messages"].insert(0, {"role": "system", "content": "be brief"})
    data = tmp_path / "chat.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = subprocess.run([sys.executable, "-m", "ftwizard", "data", str(data), "--model", str(model), "--json"],
                         capture_output=True, text=True, timeout=300)
    rep = json.loads(out.stdout)
    assert rep["stats"]["tokens"]["method"].startswith(f"tokenizer: {model}")
    assert rep["stats"]["default_system_prompt"] == {
        "text": "You are a helpful AI assistant named SmolLM, trained by Hugging Face", "rows": 11}
    assert any(w.startswith("11 of 12 rows will carry the model's default system prompt: 'You are a helpful AI")
               and "Add a system message" in w for w in rep["warnings"])


# ---- real runs on the tiny model ------------------------------------------------------------------------------
def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _run(tmp_path: Path, model: Path, data: Path, trainer: str, **kw) -> RunDir:
    base = dict(model=str(model), data=str(data), trainer=trainer, method="lora", rank=4, alpha=8,
                max_seq_length=64, micro_batch=4, gradient_accumulation=1, max_steps=2, logging_steps=1,
                eval_steps=100, save_steps=100, learning_rate=1e-3, preflight_steps=0)
    base.update(kw)
    run = tmp_path / trainer
    RunDir(run).create(RunConfig(**base))
    st = wait(launch(run), run)
    assert st["state"] == "done", (run / "stdout.log").read_text()[-3000:]
    return RunDir(run)


def _dates(n: int, seed: int) -> list[tuple[str, str]]:
    from ftwizard.train.tiny import date_examples

    return [(r["messages"][0]["content"], r["messages"][1]["content"]) for r in date_examples(n, seed=seed)]


@slow
def test_labelled_conversations_train_with_kto(tmp_path, tiny_model):
    rows = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a if i % 2 else a[::-1]}],
             "label": bool(i % 2)} for i, (q, a) in enumerate(_dates(40, 5))]
    rd = _run(tmp_path, tiny_model, _jsonl(tmp_path / "kto.jsonl", rows), "kto", learning_rate=5e-4)
    train = [json.loads(x) for x in (rd.data_dir / "train.jsonl").read_text().splitlines()]
    assert set(train[0]) == {"prompt", "completion", "label"}
    assert {r["label"] for r in train} == {True, False}
    assert any("kl" in e for e in rd.read_events() if e["type"] == "log")


@slow
def test_dpo_says_how_many_pairs_were_dropped(tmp_path, tiny_model):
    rows = [{"prompt": [{"role": "user", "content": q * (9 if i < 6 else 1)}],
             "chosen": [{"role": "assistant", "content": a}], "rejected": [{"role": "assistant", "content": a[::-1]}]}
            for i, (q, a) in enumerate(_dates(40, 6))]
    rd = _run(tmp_path, tiny_model, _jsonl(tmp_path / "pref.jsonl", rows), "dpo", split=[0.9, 0.05, 0.05])
    train = [json.loads(x) for x in (rd.data_dir / "train.jsonl").read_text().splitlines()]
    long = sum(1 for r in train if len(r["prompt"][0]["content"]) > 64)
    dropped = [e for e in rd.read_events() if e.get("kind") == "rows_dropped" and e.get("split") == "training"]
    assert long and len(dropped) == 1 and dropped[0]["dropped"] == long, dropped
    assert "their prompt alone fills max_seq_length (64 tokens)" in dropped[0]["message"]


@slow
def test_cpt_splits_long_documents_instead_of_cutting_them(tmp_path, tiny_model):
    docs = [{"text": " ".join(f"{q} is {a}." for q, a in _dates(8 if i < 5 else 1, i))} for i in range(40)]
    rd = _run(tmp_path, tiny_model, _jsonl(tmp_path / "docs.jsonl", docs), "cpt", method="full")
    notes = [e for e in rd.read_events() if e.get("kind") == "packing"]
    assert len(notes) == 1 and notes[0]["strategy"] == "bfd_split"
    assert notes[0]["split_documents"] >= 1 and notes[0]["pieces"] > notes[0]["split_documents"]
    assert "nothing is cut" in notes[0]["message"]


def test_cpt_split_note_counts_pieces(tok_dir):
    from transformers import AutoTokenizer

    from ftwizard.train.trainers.cpt import split_note

    tok = AutoTokenizer.from_pretrained(tok_dir)
    note = split_note(tok, ["a" * 10, "b" * 25, "c" * 64], 10)
    assert (note["documents"], note["split_documents"], note["pieces"]) == (3, 2, 3 + 7)
