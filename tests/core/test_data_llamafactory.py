"""Issue 22: the formats of the tools users come from, nothing silently dropped. LLaMA-Factory's dataset_info.json
entries, labelled conversations (KTO), content parts (v1 / OpenAI), multimodal data refused, placeholders, plain
text documents, too-long rows counted for every trainer. Fixture rows copy the shapes of LLaMA-Factory's demo
files (data/*.json in hiyouga/LLaMA-Factory), written here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ftwizard.core.data import formats
from ftwizard.core.data.reader import DataError, DatasetChoiceError, read_records
from ftwizard.core.data.report import analyze

NONE = None  # no split check: these fixtures are small


def _json(path: Path, rows: list | dict) -> Path:
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return path


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ftwizard", "data", *args], capture_output=True, text=True,
                          timeout=180)


# ---- shapes of LLaMA-Factory's demo rows ----------------------------------------------------------------------
def identity(n: int = 14) -> list[dict]:
    return [{"instruction": f"who are you {i}", "input": "",
             "output": f"I am {{{{name}}}}, an AI assistant developed by {{{{author}}}}. ({i})"} for i in range(n)]


def kto_rows(n: int = 14) -> list[dict]:
    return [{"messages": [{"content": f"Question {i}?", "role": "user"},
                          {"content": f"Answer {i}.", "role": "assistant"}], "label": i % 3 != 0} for i in range(n)]


def dpo_rows(n: int = 14) -> list[dict]:
    return [{"conversations": [{"from": "human", "value": f"Tell me about {i}."}],
             "chosen": {"from": "gpt", "value": f"{i} is a number."},
             "rejected": {"from": "gpt", "value": f"I don't know {i}."}} for i in range(n)]


def glaive_rows(n: int = 14) -> list[dict]:
    return [{"conversations": [{"from": "human", "value": f"Find recipes with {i} eggs"},
                               {"from": "function_call", "value": json.dumps({"name": "search_recipes",
                                                                              "arguments": {"eggs": i}})},
                               {"from": "observation", "value": json.dumps({"recipes": ["omelette"]})},
                               {"from": "gpt", "value": f"Try an omelette with {i} eggs."}],
             "tools": json.dumps([{"name": "search_recipes", "parameters": {"type": "object"}}])} for i in range(n)]


def mllm_rows(n: int = 3) -> list[dict]:
    return [{"messages": [{"content": "<image>Who are they?", "role": "user"},
                          {"content": f"Players {i}.", "role": "assistant"}],
             "images": [f"mllm_demo_data/{i}.jpg"]} for i in range(n)]


def v1_sft_rows(n: int = 14) -> list[dict]:
    return [{"messages": [{"role": "user", "content": [{"type": "text", "value": f"hi {i}"}], "loss_weight": 0.0},
                          {"role": "assistant", "content": [{"type": "text", "value": f"Hello {i}!"}],
                           "loss_weight": 1.0}]} for i in range(n)]


def reason_tool_rows(n: int = 14) -> list[dict]:
    call = json.dumps({"name": "get_movie_details", "arguments": {"title": "Inception"}})
    return [{"messages": [
        {"role": "system", "content": [{"type": "text", "value": "Use the tools."}]},
        {"role": "user", "content": [{"type": "text", "value": f"Tell me about Inception ({i})"}]},
        {"role": "assistant", "content": [{"type": "reasoning", "value": "I should call the tool."},
                                          {"type": "tool_call", "value": call}]},
        {"role": "tool", "content": [{"type": "text", "value": '{"year": 2010}'}]},
        {"role": "assistant", "content": [{"type": "reasoning", "value": "The tool says 2010."},
                                          {"type": "text", "value": f"It came out in 2010 ({i})."}]}],
        "tools": json.dumps([{"type": "function", "function": {"name": "get_movie_details",
                                                               "parameters": {"type": "object"}}}])}
        for i in range(n)]


def lf_folder(tmp: Path) -> Path:
    d = tmp / "data"
    d.mkdir()
    _json(d / "identity.json", identity())
    _json(d / "kto_en_demo.json", kto_rows())
    _json(d / "dpo_en_demo.json", dpo_rows())
    _json(d / "glaive_toolcall_en_demo.json", glaive_rows())
    _json(d / "mllm_demo.json", mllm_rows())
    _jsonl(d / "c4_demo.jsonl", [{"text": f"Document {i}. " * 20} for i in range(14)])
    (d / "wiki_demo.txt").write_text("".join(f"Article {i}. " + "Long text. " * 40 + "\n" for i in range(14)))
    _json(d / "sys_alpaca.json", [{"q": f"Q{i}", "a": f"A{i}", "sys": "Be brief.", "extra": 1} for i in range(14)])
    _json(d / "dataset_info.json", {
        "identity": {"file_name": "identity.json"},
        "glaive_toolcall_en_demo": {"file_name": "glaive_toolcall_en_demo.json", "formatting": "sharegpt",
                                    "columns": {"messages": "conversations", "tools": "tools"}},
        "mllm_demo": {"file_name": "mllm_demo.json", "formatting": "sharegpt",
                      "columns": {"messages": "messages", "images": "images"},
                      "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                               "assistant_tag": "assistant"}},
        "dpo_en_demo": {"file_name": "dpo_en_demo.json", "ranking": True, "formatting": "sharegpt",
                        "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}},
        "kto_en_demo": {"file_name": "kto_en_demo.json", "formatting": "sharegpt",
                        "columns": {"messages": "messages", "kto_tag": "label"},
                        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                                 "assistant_tag": "assistant"}},
        "wiki_demo": {"file_name": "wiki_demo.txt", "columns": {"prompt": "text"}},
        "c4_demo": {"file_name": "c4_demo.jsonl", "columns": {"prompt": "text"}},
        "custom": {"file_name": "sys_alpaca.json", "columns": {"prompt": "q", "response": "a", "system": "sys"}},
        "alpaca_en": {"hf_hub_url": "llamafactory/alpaca_en", "ms_hub_url": "llamafactory/alpaca_en"},
        "ms_only": {"ms_hub_url": "someone/data"},
    })
    return d


# ---- 1. dataset_info.json ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name,family,fmt,trl_type", [
    ("identity", "alpaca", "alpaca", "prompt_completion"),
    ("glaive_toolcall_en_demo", "openai", "openai", "language_modeling"),
    ("dpo_en_demo", "preference", "preference_messages_explicit_prompt", "preference"),
    ("kto_en_demo", "kto", "kto_conversation", "unpaired_preference"),
    ("c4_demo", "text", "text", "language_modeling"),
    ("wiki_demo", "text", "text", "language_modeling"),
    ("custom", "alpaca", "alpaca", "prompt_completion"),
])
def test_dataset_info_entries_read_as_llamafactory_reads_them(tmp_path, name, family, fmt, trl_type):
    d = lf_folder(tmp_path)
    rep = analyze(str(d / "dataset_info.json"), dataset=name, split_ratios=NONE)
    assert rep.errors == [], [str(e) for e in rep.errors]
    assert (rep.family, rep.format, rep.rows) == (family, fmt, 14)
    assert rep.stats["trl"]["type"] == trl_type
    assert any(f"LLaMA-Factory dataset '{name}'" in n for n in rep.notes)
    first = rep.valid[0]
    assert Path(first.file).parent == d and first.loc == 1  # where the row really is


def test_dataset_info_rows_keep_tags_labels_tools_and_system(tmp_path):
    d = lf_folder(tmp_path)
    info = str(d / "dataset_info.json")
    kto = [formats.to_trl("kto", r.data) for r in read_records(info, dataset="kto_en_demo").records]
    assert kto[0] == {"prompt": [{"role": "user", "content": "Question 0?"}],
                      "completion": [{"role": "assistant", "content": "Answer 0."}], "label": False}
    assert [r["label"] for r in kto[:3]] == [False, True, True]
    glaive = formats.to_trl("openai", read_records(info, dataset="glaive_toolcall_en_demo").records[0].data)
    assert [m["role"] for m in glaive["messages"]] == ["user", "assistant", "tool", "assistant"]
    assert json.loads(glaive["tools"])[0]["name"] == "search_recipes"
    custom = read_records(info, dataset="custom")
    row = formats.to_trl("alpaca", custom.records[0].data)
    assert row["prompt"][0] == {"role": "system", "content": "Be brief."} and row["completion"][0]["content"] == "A0"
    assert any("extra" in w and "left out" in w for w in custom.warnings)  # unmapped fields are named
    pref = formats.to_trl("preference", read_records(info, dataset="dpo_en_demo").records[0].data)
    assert pref["chosen"] == [{"role": "assistant", "content": "0 is a number."}]
    # the PATH#NAME form (what a run config's `data:` can hold) reads the same entry
    assert len(read_records(f"{info}#kto_en_demo").records) == 14


def test_dataset_info_without_a_name_lists_them_and_exits_2(tmp_path):
    d = lf_folder(tmp_path)
    with pytest.raises(DatasetChoiceError) as exc:
        read_records(str(d))  # the folder that holds dataset_info.json
    assert "identity" in exc.value.names and "--dataset NAME" in str(exc.value)
    out = _cli(str(d / "dataset_info.json"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "kto_en_demo (kto_en_demo.json)" in out.stderr and "alpaca_en" in out.stderr
    with pytest.raises(DataError, match="no dataset 'nope'"):
        read_records(str(d / "dataset_info.json"), dataset="nope")
    with pytest.raises(DataError, match="ModelScope"):
        read_records(str(d / "dataset_info.json"), dataset="ms_only")
    with pytest.raises(DataError, match="not a LLaMA-Factory"):
        read_records(str(d / "identity.json"), dataset="identity")
    out = _cli(str(d / "dataset_info.json"), "--dataset", "kto_en_demo", "--json")
    rep = json.loads(out.stdout)
    assert rep["family"] == "kto" and rep["rows"] == 14 and out.returncode == 0


# ---- 2. labelled conversations are KTO, never chat -------------------------------------------------------------
def test_messages_with_label_are_kto_with_the_label_kept(tmp_path):
    rep = analyze(str(_json(tmp_path / "kto_en_demo.json", kto_rows())), split_ratios=NONE)
    assert (rep.family, rep.format) == ("kto", "kto_conversation")
    assert rep.stats["trl"] == {"type": "unpaired_preference", "conversational": True}
    rows = [formats.to_trl("kto", r.data) for r in rep.valid]
    assert all(set(r) == {"prompt", "completion", "label"} for r in rows)
    assert sum(not r["label"] for r in rows) == 5  # the thumbs-down answers stay thumbs-down
    # LLaMA-Factory's ShareGPT KTO rows: conversations + kto_tag
    sg = [{"conversations": [{"from": "human", "value": f"q{i}"}, {"from": "gpt", "value": f"a{i}"}],
           "kto_tag": i % 2 == 0} for i in range(14)]
    rep = analyze(str(_json(tmp_path / "sg.json", sg)), split_ratios=NONE)
    assert rep.family == "kto" and formats.to_trl("kto", sg[1])["label"] is False
    bad = [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"},
                         {"role": "user", "content": "and?"}], "label": "maybe"}]
    errs = formats.validate("kto", bad[0])
    assert any("should end with the assistant's answer" in e for e in errs)
    assert any("'label' should be true or false" in e for e in errs)


def test_kto_trainer_refuses_chat_columns_with_the_fix():
    from ftwizard.train.trainers.kto import check_columns

    check_columns(["prompt", "completion", "label"])
    check_columns(["prompt", "chosen", "rejected"])
    with pytest.raises(ValueError, match="KTO needs answers labelled good or bad"):
        check_columns(["messages"])


# ---- 3. content parts -----------------------------------------------------------------------------------------
def test_v1_content_parts_become_text_reasoning_and_tool_calls(tmp_path):
    rep = analyze(str(_jsonl(tmp_path / "reason.jsonl", reason_tool_rows())), split_ratios=NONE)
    assert rep.errors == [] and rep.family == "openai"
    row = formats.to_trl("openai", rep.valid[0].data)
    sys_, user, call, tool, answer = row["messages"]
    assert sys_ == {"role": "system", "content": "Use the tools."}
    assert call["content"] == "" and call["reasoning_content"] == "I should call the tool."
    assert call["tool_calls"] == [{"type": "function", "function": {"name": "get_movie_details",
                                                                    "arguments": {"title": "Inception"}}}]
    assert tool["content"] == '{"year": 2010}'
    assert answer["content"] == "It came out in 2010 (0)." and answer["reasoning_content"] == "The tool says 2010."
    assert rep.stats["short_outputs"]["count"] == 0  # answers are never read as empty strings
    assert any("reasoning_content" in n for n in rep.notes) and any("tool_calls" in n for n in rep.notes)


def test_openai_text_parts_loss_weight_and_empty_parts(tmp_path):
    row = {"messages": [{"role": "user", "content": [{"type": "text", "text": "Hello "},
                                                     {"type": "text", "text": "there"}]},
                        {"role": "assistant", "content": [{"type": "text", "text": "Hi!"}]}]}
    assert formats.to_trl("openai", row)["messages"][0]["content"] == "Hello there"
    rep = analyze(str(_jsonl(tmp_path / "v1.jsonl", v1_sft_rows())), split_ratios=NONE)
    assert rep.errors == [] and rep.stats["short_outputs"]["count"] == 0
    msgs = formats.to_trl("openai", rep.valid[0].data)["messages"]
    assert msgs == [{"role": "user", "content": "hi 0"}, {"role": "assistant", "content": "Hello 0!"}]
    rows = v1_sft_rows()
    rows[0]["messages"][1]["loss_weight"] = 0.0
    rows[1]["messages"][1]["loss_weight"] = 0.5
    rep = analyze(str(_jsonl(tmp_path / "w.jsonl", rows)), split_ratios=NONE)
    assert formats.to_trl("openai", rows[0])["messages"][1]["weight"] == 0
    assert any("loss_weight 0" in n and "not trained" in n for n in rep.notes)  # honoured (train/turn_mask.py)
    assert any("between 0 and 1" in w for w in rep.warnings)
    empty = {"messages": [{"role": "user", "content": [{"type": "text", "value": "q"}]},
                          {"role": "assistant", "content": [{"type": "text", "value": ""}]}]}
    assert any("empty content" in e for e in formats.validate("openai", empty))
    odd = {"messages": [{"role": "user", "content": [{"type": "file", "value": "x.pdf"}]},
                        {"role": "assistant", "content": "a"}]}
    assert any("type 'file'" in e for e in formats.validate("openai", odd))


def test_v1_preference_conversations(tmp_path):
    def msgs(answer: str, i: int) -> list[dict]:
        return [{"role": "system", "content": [{"type": "text", "value": "Be detailed."}], "loss_weight": 0.0},
                {"role": "user", "content": [{"type": "text", "value": f"Translate {i}"}], "loss_weight": 0.0},
                {"role": "assistant", "content": [{"type": "text", "value": answer}], "loss_weight": 1.0}]
    rows = [{"chosen_messages": msgs(f"Good {i}", i), "rejected_messages": msgs(f"Bad {i}", i)} for i in range(14)]
    rep = analyze(str(_jsonl(tmp_path / "v1_dpo.jsonl", rows)), split_ratios=NONE)
    assert rep.errors == [] and (rep.family, rep.format) == ("preference", "preference_v1_messages")
    row = formats.to_trl("preference", rows[0])
    assert [m["role"] for m in row["prompt"]] == ["system", "user"]
    assert row["chosen"] == [{"role": "assistant", "content": "Good 0"}]


# ---- 4. multimodal data is refused -----------------------------------------------------------------------------
def test_multimodal_datasets_are_refused_in_one_line(tmp_path):
    rep = analyze(str(_json(tmp_path / "mllm_demo.json", mllm_rows())), split_ratios=NONE)
    assert not rep.usable and rep.rows == 0 and len(rep.errors) == 1
    msg = rep.errors[0].message
    assert msg.startswith("this is a multimodal dataset (images") and "text-only" in msg and "images column" in msg
    parts = [{"messages": [{"role": "user", "content": [{"type": "image_url", "value": "1.jpg"},
                                                        {"type": "text", "value": "Who?"}]},
                           {"role": "assistant", "content": [{"type": "text", "value": "Kane."}]}]}]
    rep = analyze(str(_jsonl(tmp_path / "v1_mm.jsonl", parts)), split_ratios=NONE)
    assert "multimodal dataset (images" in rep.errors[0].message
    d = lf_folder(tmp_path)
    rep = analyze(str(d / "dataset_info.json"), dataset="mllm_demo", split_ratios=NONE)
    assert "multimodal dataset" in rep.errors[0].message
    out = _cli(str(tmp_path / "mllm_demo.json"))
    assert out.returncode == 1 and out.stdout.count("multimodal dataset") == 1
    tags_only = [{"messages": [{"role": "user", "content": f"<image>Who {i}?"},
                               {"role": "assistant", "content": "Kane."}]} for i in range(14)]
    rep = analyze(str(_jsonl(tmp_path / "tags.jsonl", tags_only)), split_ratios=NONE)
    assert rep.usable and any("<image> placeholders" in w for w in rep.warnings)


# ---- 5. placeholders ------------------------------------------------------------------------------------------
def test_placeholders_are_flagged_and_can_be_filled(tmp_path):
    src = _json(tmp_path / "identity.json", identity())
    rep = analyze(str(src), split_ratios=NONE)
    ph = rep.stats["placeholders"]
    assert ph["counts"] == {"{{name}}": 14, "{{author}}": 14} and ph["example"]["where"].endswith("record 1")
    w = next(w for w in rep.warnings if w.startswith("placeholders left"))
    assert "{{name}} ×14" in w and "--fill name=" in w and "I am {{name}}" in w
    code = [{"instruction": "Write an Actions step", "output": "```\n${{ secrets.TOKEN }}\n```"}] * 2
    assert "placeholders" not in analyze(str(_json(tmp_path / "code.json", code)), split_ratios=NONE).stats
    out_dir = tmp_path / "split"
    out = _cli(str(src), "--fill", "name=Wizzy", "--fill", "author=Acme", "--split-out", str(out_dir))
    assert out.returncode == 0, out.stdout + out.stderr
    text = (out_dir / "train.jsonl").read_text()
    assert "I am Wizzy, an AI assistant developed by Acme" in text and "{{" not in text
    assert "placeholders left" not in out.stdout
    assert _cli(str(src), "--fill", "oops").returncode == 2


# ---- 6. plain text documents ----------------------------------------------------------------------------------
def test_text_files_split_into_documents_by_a_stated_rule(tmp_path):
    long_lines = tmp_path / "wiki.txt"
    long_lines.write_text("".join(f"Article {i}. " + "Words and more words. " * 20 + "\n" for i in range(5)))
    res = read_records(str(long_lines))
    assert len(res.records) == 5 and [r.loc for r in res.records] == [1, 2, 3, 4, 5]
    assert "one per line" in res.notes[0]
    wrapped = tmp_path / "book.txt"
    wrapped.write_text("First paragraph,\nwrapped at forty.\n\nSecond one,\nalso wrapped.\n\n\nThird.\n")
    res = read_records(str(wrapped))
    assert [r.data["text"] for r in res.records] == ["First paragraph,\nwrapped at forty.", "Second one,\nalso wrapped.",
                                                     "Third."]
    assert [r.loc for r in res.records] == [1, 4, 8] and "paragraph" in res.notes[0]
    short = tmp_path / "lines.txt"
    short.write_text("one\ntwo\nthree\n")
    res = read_records(str(short))
    assert len(res.records) == 3 and "separate the documents with blank lines" in res.notes[0]


# ---- 7. too-long rows are counted, with what training does -----------------------------------------------------
def test_too_long_rows_say_what_each_trainer_does(tmp_path):
    long = "word " * 400
    pref = [{"prompt": long if i < 3 else f"Q{i}", "chosen": f"yes {i} " + ("x " * 300 if i == 5 else ""),
             "rejected": f"no {i}"} for i in range(14)]
    rep = analyze(str(_jsonl(tmp_path / "pref.jsonl", pref)), max_seq=64, split_ratios=NONE)
    tl = rep.stats["too_long"]
    assert (tl["rows"], tl["prompt_fills_max_seq"]) == (4, 3) and tl["action"] == "truncated, dropped"
    assert any("so DPO drops them" in w for w in rep.warnings)
    docs = [{"text": long if i < 2 else f"short {i}"} for i in range(14)]
    rep = analyze(str(_jsonl(tmp_path / "docs.jsonl", docs)), max_seq=64, split_ratios=NONE)
    assert rep.stats["too_long"]["action"] == "chunked" and any("nothing is cut" in w for w in rep.warnings)
    sft = [{"instruction": long if i == 0 else f"Q{i}", "output": "A " * (300 if i == 1 else 1)} for i in range(14)]
    rep = analyze(str(_jsonl(tmp_path / "sft.jsonl", sft)), max_seq=64, split_ratios=NONE)
    assert rep.stats["too_long"]["rows"] == 2 and any("SFT drops them" in w and "SFT cuts" in w for w in rep.warnings)


# ---- 9. the model's tokenizer whenever a model is known --------------------------------------------------------
def test_data_says_when_token_lengths_are_approximate(tmp_path):
    src = _json(tmp_path / "identity.json", identity())
    out = _cli(str(src), "--json")
    assert "characters / 4): no --model given" in json.loads(out.stdout)["notes"][0]
    out = _cli(str(src), "--model", str(tmp_path / "nowhere"), "--json")
    assert "is not here" in json.loads(out.stdout)["notes"][0]


def test_a_run_config_may_name_a_dataset_info_entry(tmp_path):
    """`data: path/dataset_info.json#NAME` passes the config's path check (the reader picks the entry)."""
    from ftwizard.core.run.source_checks import data_problems

    info = tmp_path / "dataset_info.json"
    info.write_text("{}")
    assert data_problems(f"{info}#identity") == []
    assert data_problems(f"{tmp_path}/missing.json#identity")[0].message.endswith("does not exist")
