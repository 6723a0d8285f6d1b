"""What real files have: Excel's `;` CSV and Windows-1252 bytes, tab-separated files, ShareGPT tool lists, a
folder with one file of another format, answers that are not labels, a tokenizer that is not on this machine."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from ftwizard.core.data import formats
from ftwizard.core.data.report import analyze


def _csv(path: Path, rows: list[dict[str, str]], delimiter: str, encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter=delimiter)
        w.writeheader()
        w.writerows(rows)
    return path


ROWS = [{"instruction": f"Translate, please: hello {i}", "input": "", "output": f"bonjour {i}; café"} for i in range(30)]


def test_excel_semicolon_csv_and_tsv_are_read(tmp_path):
    for name, delim in [("excel.csv", ";"), ("tabs.csv", "\t"), ("data.tsv", "\t"), ("pipes.csv", "|")]:
        rep = analyze(str(_csv(tmp_path / name, ROWS, delim)))
        assert rep.usable and rep.rows == 30 and rep.family == "alpaca", (name, [str(e) for e in rep.errors])
        assert rep.valid[0].data["output"] == "bonjour 0; café"  # a `;` inside a value stays in the value


def test_comma_csv_with_semicolons_in_values_keeps_commas(tmp_path):
    rows = [{"prompt": f"a; b; c {i}", "completion": f"x; y {i}"} for i in range(30)]
    rep = analyze(str(_csv(tmp_path / "c.csv", rows, ",")))
    assert rep.usable and rep.valid[0].data == {"prompt": "a; b; c 0", "completion": "x; y 0"}


def test_windows_1252_csv_is_read_with_one_warning(tmp_path):
    rep = analyze(str(_csv(tmp_path / "win.csv", ROWS, ";", encoding="cp1252")))
    assert rep.usable and rep.rows == 30
    assert rep.valid[0].data["output"] == "bonjour 0; café"
    warned = [w for w in rep.warnings if "Windows-1252" in w]
    assert len(warned) == 1 and "win.csv" in warned[0]


def test_utf8_csv_with_one_bad_byte_is_still_an_error(tmp_path):
    p = _csv(tmp_path / "u.csv", ROWS, ",")
    p.write_bytes(p.read_bytes() + b"naive \xe9,,x\n")  # a UTF-8 file (it has `é`) with one Latin-1 byte
    rep = analyze(str(p))
    assert any("invalid UTF-8" in e.message for e in rep.errors)
    assert not any("Windows-1252" in w for w in rep.warnings)


def test_sharegpt_tools_are_kept_for_trl(tmp_path):
    tools = [{"name": "calc", "description": "adds", "parameters": {"type": "object", "properties": {}}}]
    rec = {"conversations": [{"from": "human", "value": "1+1?"}, {"from": "gpt", "value": "2"}],
           "tools": json.dumps(tools)}
    # JSON text, which TRL's SFT trainer json-loads (a list of objects would go through pyarrow's schema merge)
    assert json.loads(formats.to_trl("sharegpt", rec)["tools"]) == tools
    assert json.loads(formats.to_trl("sharegpt", {**rec, "tools": tools})["tools"]) == tools
    assert json.loads(formats.to_trl("sharegpt", {**rec, "tools": tools[0]})["tools"]) == tools
    assert "tools" not in formats.to_trl("sharegpt", {"conversations": rec["conversations"]})
    assert "tools" not in formats.to_trl("sharegpt", {**rec, "tools": "[]"})
    assert formats.validate("sharegpt", {**rec, "tools": "[{not json"}) == [
        "field 'tools' should be a list of tool definitions (JSON objects), or that list as JSON text"]


def test_tools_of_different_rows_stay_apart_in_the_training_dataset():
    from datasets import Dataset

    calc = [{"name": "calc", "parameters": {"type": "object", "properties": {"x": {"type": "number"}}}}]
    weather = [{"name": "weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    rows = [formats.to_trl("openai", {"messages": [{"role": "user", "content": str(i)},
                                                   {"role": "assistant", "content": "ok"}], "tools": t})
            for i, t in enumerate([calc, weather])]
    ds = Dataset.from_list(rows)
    assert json.loads(ds[0]["tools"]) == calc and json.loads(ds[1]["tools"]) == weather  # no `city: None` in calc


def test_folder_with_a_file_of_another_format_is_one_error(tmp_path):
    d = tmp_path / "mixed"
    d.mkdir()
    (d / "a.jsonl").write_text("".join(json.dumps({"instruction": f"q{i}", "output": f"answer {i}"}) + "\n"
                                       for i in range(40)), encoding="utf-8")
    (d / "b.jsonl").write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"u{i}"},
                                                                {"role": "assistant", "content": f"x{i}"}]}) + "\n"
                                       for i in range(15)), encoding="utf-8")
    rep = analyze(str(d))
    assert rep.family == "alpaca" and rep.rows == 40
    assert len(rep.errors) == 1
    msg = str(rep.errors[0])
    assert "b.jsonl" in msg and "15 rows in openai format" in msg and "alpaca" in msg


def _jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_class_balance_only_for_label_like_answers(tmp_path):
    labels = [{"instruction": f"Review {i}: fine", "output": ["positive", "negative"][i % 2]} for i in range(40)]
    assert analyze(_jsonl(tmp_path / "l.jsonl", labels)).stats["class_balance"] == {"positive": 20, "negative": 20}
    tool_rows = [{"messages": [
        {"role": "user", "content": f"weather in city {i}?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {
            "name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "assistant", "content": "It is sunny."}]} for i in range(40)]
    assert "class_balance" not in analyze(_jsonl(tmp_path / "t.jsonl", tool_rows)).stats
    pref = [{"prompt": f"q{i}", "chosen": "good", "rejected": "bad"} for i in range(40)]
    assert "class_balance" not in analyze(_jsonl(tmp_path / "p.jsonl", pref)).stats
    long = [{"instruction": f"q{i}", "output": "A long answer that is the same every time, not a label at all."}
            for i in range(40)]
    assert "class_balance" not in analyze(_jsonl(tmp_path / "o.jsonl", long)).stats


def test_unknown_tokenizer_is_one_line_not_found_locally(tmp_path):
    rows = [{"instruction": f"q{i}", "output": f"answer {i}"} for i in range(30)]
    rep = analyze(_jsonl(tmp_path / "d.jsonl", rows), tokenizer="nonexist-tokenizer-xyz")
    warned = [w for w in rep.warnings if "nonexist-tokenizer-xyz" in w]
    assert len(warned) == 1 and "not found locally" in warned[0] and "\n" not in warned[0]
    assert "https://" not in warned[0]
    assert rep.stats["tokens"]["method"].startswith("approximate")


def test_sharegpt_tools_exported_in_the_apis_shape(tmp_path):
    from ftwizard.core.data.api_export import example_tokens, openai_tools, to_openai_example

    bare = [{"name": "calc", "description": "adds", "parameters": {"type": "object", "properties": {}}}]
    wrapped = [{"type": "function", "function": bare[0]}]
    assert openai_tools(bare) == wrapped and openai_tools(wrapped) == wrapped
    row = formats.to_trl("sharegpt", {"conversations": [{"from": "human", "value": "1+1?"},
                                                        {"from": "gpt", "value": "2"}], "tools": json.dumps(bare)})
    ex = to_openai_example(row)
    assert ex is not None and ex["tools"] == wrapped
    assert example_tokens(ex) > example_tokens({"messages": ex["messages"]})  # tool definitions are billed


@pytest.mark.slow
def test_sft_trains_on_sharegpt_rows_with_tools(tmp_path, tiny_model):
    """The tools column (JSON text) goes through the split files, the loader and TRL's tokenizer end to end."""
    from ftwizard.core.run.config import RunConfig
    from ftwizard.core.run.launcher import launch, wait
    from ftwizard.core.run.layout import RunDir
    from ftwizard.train.tiny import date_examples

    tools = [[{"name": "calc", "parameters": {"type": "object", "properties": {"x": {"type": "number"}}}}],
             [{"name": "weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]]
    rows = [{"conversations": [{"from": "human", "value": r["messages"][0]["content"]},
                               {"from": "gpt", "value": r["messages"][1]["content"]}], "tools": json.dumps(tools[i % 2])}
            for i, r in enumerate(date_examples(40, seed=3))]
    data = tmp_path / "tools.json"
    data.write_text(json.dumps(rows), encoding="utf-8")
    run = tmp_path / "run"
    RunDir(run).create(RunConfig(model=str(tiny_model), data=str(data), method="lora", rank=4, alpha=8,
                                 max_seq_length=64, micro_batch=4, gradient_accumulation=1, max_steps=2,
                                 logging_steps=1, eval_steps=100, save_steps=100, preflight_steps=0))
    st = wait(launch(run), run)
    assert st["state"] == "done", (run / "stdout.log").read_text()[-3000:]
    train = [json.loads(x) for x in RunDir(run).split_file("train").read_text().splitlines()]
    assert all(isinstance(r["tools"], str) and json.loads(r["tools"]) in tools for r in train)


def test_a_json_file_of_one_conversation_is_one_row(tmp_path):
    """A .json file holding one object: a conversation (`messages`, axolotl's `conversations`) is one row, not a
    file whose rows are its turns; rows wrapped under one key (`{"data": [...]}`) are still the rows."""
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}))
    rep = analyze(one)
    assert (rep.family, rep.rows) == ("openai", 1)
    ax = tmp_path / "ax.json"
    ax.write_text(json.dumps({"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}))
    assert (analyze(ax).family, analyze(ax).rows) == ("sharegpt", 1)
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"data": [{"instruction": f"q{i}", "output": f"a{i}"} for i in range(3)]}))
    assert (analyze(wrapped).family, analyze(wrapped).rows) == ("alpaca", 3)


def test_stepwise_supervision_is_named_not_read_as_prompts(tmp_path):
    path = tmp_path / "prm.jsonl"
    path.write_text(json.dumps({"prompt": "2+2?", "completions": ["2+2 is 4.", "So 4."], "labels": [True, True]}) + "\n")
    rep = analyze(path)
    assert rep.rows == 0 and "stepwise-supervision" in rep.errors[0].message and "PRMTrainer" in rep.errors[0].message


def test_json_error_wording(tmp_path):
    path = tmp_path / "cut.jsonl"
    path.write_text('{"text": "ok"}\n{"text": "unterminated\n')
    msgs = [e.message for e in analyze(path).errors]
    assert any("Unterminated string starting at column" in m for m in msgs), msgs


def test_a_row_with_every_answer_at_weight_0_is_named(tmp_path):
    """Nothing in it is trained (and OpenAI's upload refuses it): a warning with the row, not a silent no-op."""
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
            for i in range(20)]
    rows[7]["messages"][1]["weight"] = 0
    path = tmp_path / "w.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rep = analyze(str(path))
    assert rep.rows == 20 and any("every answer at weight 0" in w and "w.jsonl:8" in w for w in rep.warnings), \
        rep.warnings
