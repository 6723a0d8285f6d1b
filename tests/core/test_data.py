"""Datasets: every format detected from real-world-shaped files; every error kind at its exact line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ftwizard.core.data.report import analyze, split_and_write


def check(path: str, **kw):
    """analyze() without the rows-for-a-split check, for the small files that test formats and errors."""
    return analyze(path, split_ratios=None, **kw)


def w(tmp: Path, name: str, content: str | bytes) -> str:
    p = tmp / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return str(p)


def jl(*rows) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


ALPACA = {"instruction": "Classify the sentiment.", "input": "Great product!", "output": "Positive"}
OPENAI = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                       {"role": "assistant", "content": "Hello!", "weight": 1}]}
CHATS = [{"messages": [{"role": "user", "content": f"Hi {i}"}, {"role": "assistant", "content": f"Hello {i}!"}]}
         for i in range(12)]
SHAREGPT = {"conversations": [{"from": "system", "value": "sys"}, {"from": "human", "value": "What is LoRA?"},
                              {"from": "gpt", "value": "Low-rank adaptation."}]}


@pytest.mark.parametrize(
    "name,content,family,fmt",
    [
        ("alpaca.json", json.dumps([ALPACA, {**ALPACA, "input": "", "output": "Negative",
                                             "history": [["q", "a"]], "system": "s"}], indent=2),
         "alpaca", "alpaca"),
        ("alpaca.jsonl", jl(ALPACA, ALPACA | {"output": "Neutral"}), "alpaca", "alpaca"),
        ("alpaca.csv", "instruction,input,output\r\n\"Say hi, please\",,hi\r\n\"multi\nline\",x,y\r\n",
         "alpaca", "alpaca"),
        ("sharegpt.json", json.dumps([SHAREGPT, {**SHAREGPT, "tools": "[]"}]), "sharegpt", "sharegpt"),
        ("openai.jsonl", jl(OPENAI, {"messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function",
                                                                  "function": {"name": "w", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "1", "content": "sunny"},
            {"role": "assistant", "content": "It is sunny."}]}), "openai", "openai"),
        ("dpo.jsonl", jl({"prompt": "Explain ML.", "chosen": "Patterns from data.", "rejected": "No idea."}),
         "preference", "preference_strings"),
        ("dpo_msgs.jsonl", jl({"prompt": [{"role": "user", "content": "Q"}],
                               "chosen": [{"role": "assistant", "content": "good"}],
                               "rejected": [{"role": "assistant", "content": "bad"}]}),
         "preference", "preference_messages_explicit_prompt"),
        ("dpo_implicit.jsonl", jl({"chosen": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "good"}],
                                   "rejected": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "bad"}]}),
         "preference", "preference_messages_implicit_prompt"),
        ("dpo_sharegpt.json", json.dumps([{"conversations": [{"from": "human", "value": "Q"}],
                                           "chosen": {"from": "gpt", "value": "good"},
                                           "rejected": {"from": "gpt", "value": "bad"}}]),
         "preference", "preference_sharegpt"),
        ("kto.jsonl", jl({"prompt": "Q", "completion": "A", "label": True},
                         {"prompt": "Q", "completion": "B", "label": False}), "kto", "kto"),
        ("pc.jsonl", jl({"prompt": "2+2=", "completion": "4"}), "prompt_completion", "prompt_completion"),
        ("text.jsonl", jl({"text": "Some domain text."}, {"text": "More text."}), "text", "text"),
        ("corpus.txt", "Para one.\n\nPara two\nstill two.\n", "text", "text"),
    ],
)
def test_formats_detected(tmp_path, name, content, family, fmt):
    rep = check(w(tmp_path, name, content))
    assert rep.errors == [], [str(e) for e in rep.errors]
    assert (rep.family, rep.format) == (family, fmt)
    assert rep.rows >= 1


def test_parquet_and_folder(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    d = tmp_path / "folder"
    d.mkdir()
    pq.write_table(pa.Table.from_pylist([ALPACA, ALPACA | {"output": "Negative"}]), d / "a.parquet")
    (d / "b.jsonl").write_text(jl(ALPACA))
    rep = check(str(d))
    assert rep.family == "alpaca" and rep.rows == 3 and rep.errors == []


def test_tolerates_bom_crlf_blank_lines(tmp_path):
    content = b"\xef\xbb\xbf" + jl(ALPACA).replace("\n", "\r\n").encode() + b"\r\n\r\n" + jl(ALPACA).encode()
    rep = check(w(tmp_path, "x.jsonl", content))
    assert rep.errors == [] and rep.rows == 2


def _errs(rep):
    return [(e.loc, e.message) for e in rep.errors]


def test_each_error_kind_names_file_and_line(tmp_path):
    path = w(tmp_path, "bad.jsonl", jl(
        ALPACA,                                             # 1 ok
        '{"instruction": "x", "output": "y"',               # 2 invalid JSON
        {"instruction": "x"} | {"output": ""},              # 3 empty field
        {"instruction": 5, "output": "y"},                  # 4 wrong type
        OPENAI,                                             # 5 different format mixed in
        {"instruction": "only"} | {"output": None},         # 6 empty (null)
        "",                                                 # 7 blank line: fine
        "[1, 2]",                                           # 8 not an object
    ) + '{"instruction": "a", "output": "b"}\n')           # 9 ok
    rep = check(path)
    errs = dict(_errs(rep))
    assert "invalid JSON" in errs[2]
    assert errs[3] == "field 'output' is empty"
    assert errs[4] == "field 'instruction' should be text, got number"
    assert "different format are mixed in" in errs[5]
    assert errs[6] == "field 'output' is empty"
    assert "expected a JSON object" in errs[8]
    assert all(e.file == path for e in rep.errors)
    assert rep.rows == 2 and not rep.usable


def test_invalid_utf8_line(tmp_path):
    content = jl(ALPACA).encode() + b'{"instruction": "caf\xe9", "output": "x"}\n' + jl(ALPACA).encode()
    rep = check(w(tmp_path, "latin1.jsonl", content))
    assert _errs(rep)[0][0] == 2 and "invalid UTF-8" in _errs(rep)[0][1]
    assert rep.rows == 2


def test_conversation_errors(tmp_path):
    rep = check(w(tmp_path, "chat.jsonl", jl(
        OPENAI,
        {"messages": [{"role": "user", "content": "hi"}]},                                       # 2 no assistant
        {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
                      {"role": "assistant", "content": "c"}]},                                   # 3 order
        {"messages": [{"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}]},  # 4 starts wrong
        {"messages": [{"role": "user", "content": "a"}, {"role": "robot", "content": "b"}]},     # 5 unknown role
        {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": ""}]},  # 6 empty content
        {"messages": "hello"},                                                                    # 7 wrong type
    )))
    errs = dict(_errs(rep))
    assert "no assistant turn" in errs[2]
    assert "two user turns in a row" in errs[3]
    assert "starts with an assistant turn" in errs[4]
    assert "unknown role 'robot'" in errs[5]
    assert "empty content" in errs[6]
    assert "should be a list of messages" in errs[7]


def test_sharegpt_array_uses_record_index(tmp_path):
    rep = check(w(tmp_path, "sg.json", json.dumps([SHAREGPT, {"conversations": [{"from": "human", "value": "x"}]}],
                                                    indent=2)))
    assert rep.errors[0].loc == 2 and rep.errors[0].loc_kind == "record"
    assert "no assistant turn" in rep.errors[0].message


def test_csv_rows_use_physical_lines(tmp_path):
    rep = check(w(tmp_path, "d.csv", 'instruction,output\n"multi\nline",ok\nsecond,\n'))
    assert _errs(rep) == [(4, "field 'output' is empty")]


def test_preference_and_kto_errors(tmp_path):
    rep = check(w(tmp_path, "p.jsonl", jl({"prompt": "Q", "chosen": "same", "rejected": "same"},
                                            {"prompt": "Q", "chosen": "a"} | {"rejected": ""})))
    assert "identical" in _errs(rep)[0][1] and _errs(rep)[1] == (2, "field 'rejected' is empty")
    rep = check(w(tmp_path, "k.jsonl", jl({"prompt": "Q", "completion": "A", "label": "yes"})))
    assert "true or false" in _errs(rep)[0][1]


def test_empty_file_and_unknown_format(tmp_path):
    rep = check(w(tmp_path, "e.jsonl", ""))
    assert "empty" in rep.errors[0].message and not rep.usable
    rep = check(w(tmp_path, "u.jsonl", jl({"foo": 1})))
    assert "could not recognise the format" in rep.errors[0].message


def test_report_stats(tmp_path):
    rows = [ALPACA | {"input": f"review {i}", "output": "Positive" if i % 10 else "Negative"} for i in range(40)]
    rows += [rows[0], rows[1] | {"input": "REVIEW 1!"}]
    rows.append(ALPACA | {"input": "mail jane.doe@corp.com, card 4111-1111-1111-1111, key sk-abcdefghijklmnopqrstuv"})
    rep = analyze(w(tmp_path, "s.jsonl", jl(*rows)), max_seq=10)
    st = rep.stats
    assert st["duplicates"]["exact"] == 1 and st["duplicates"]["near"] == 2
    assert st["pii"]["email"]["count"] == 1 and st["pii"]["credit_card"]["count"] == 1
    assert st["pii"]["api_key"]["count"] == 1 and st["pii"]["email"]["examples"][0]["where"].endswith(":43")
    assert st["tokens"]["over_max_seq"] > 0 and "approximate" in st["tokens"]["method"]
    assert "Positive" in st["class_balance"]
    assert len(st["sample"]) == 3 and "completion" in st["sample"][0]["record"]


def test_split_is_deterministic_and_hashed(tmp_path):
    rows = [ALPACA | {"input": str(i)} for i in range(100)]
    rep = analyze(w(tmp_path, "a.jsonl", jl(*rows)))
    m1 = split_and_write(rep, tmp_path / "s1", seed=7)
    m2 = split_and_write(rep, tmp_path / "s2", seed=7)
    assert [m1["splits"][k]["rows"] for k in ("train", "validation", "test")] == [80, 10, 10]
    assert m1["splits"] == m2["splits"]
    first = json.loads((tmp_path / "s1" / "train.jsonl").read_text().splitlines()[0])
    assert first["completion"][-1]["role"] == "assistant" and first["prompt"][-1]["role"] == "user"
    m3 = split_and_write(rep, tmp_path / "s3", seed=8)
    assert m3["splits"]["test"]["sha256"] != m1["splits"]["test"]["sha256"]


def test_cli_json_contract(tmp_path):
    good = w(tmp_path, "g.jsonl", jl(*CHATS))
    out = subprocess.run([sys.executable, "-m", "ftwizard", "data", good, "--json"], capture_output=True, text=True)
    d = json.loads(out.stdout)
    assert out.returncode == 0
    assert {"path", "format", "family", "rows", "errors", "warnings", "stats"} <= set(d)
    bad = w(tmp_path, "b.jsonl", jl(OPENAI) + "{oops\n" + jl(*CHATS))
    out = subprocess.run([sys.executable, "-m", "ftwizard", "data", bad, "--json"], capture_output=True, text=True)
    d = json.loads(out.stdout)
    assert out.returncode == 1 and d["errors"][0]["line"] == 2
    out = subprocess.run([sys.executable, "-m", "ftwizard", "data", str(tmp_path / "nope.jsonl")],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "no such file" in out.stderr
