"""API fine-tuning export: the train split as OpenAI chat JSONL, checked against the API's documented rules,
with the job's token count (tokens per epoch × epochs)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ftwizard.core.data.api_export import (
    MIN_EXAMPLES,
    TOKEN_LIMIT,
    ExportError,
    check_example,
    example_tokens,
    export_openai,
    to_openai_example,
)


def _chat(i: int) -> dict:
    return {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"Question {i}"},
                         {"role": "assistant", "content": f"Answer {i}", "weight": 1}]}


def test_rules_of_the_api():
    assert check_example(_chat(1)) == []
    assert check_example({"messages": []}) == ["needs a non-empty 'messages' list"]
    bad = {"messages": [{"role": "robot", "content": "x"}, {"role": "user", "content": ""},
                        {"role": "user", "content": "q", "weight": 1}, {"role": "assistant", "content": "a", "weight": 2}]}
    errs = check_example(bad)
    assert any("role 'robot'" in e for e in errs) and any("empty content" in e for e in errs)
    assert any("only assistant messages may" in e for e in errs) and any("must be 0 or 1" in e for e in errs)
    assert check_example({"messages": [{"role": "user", "content": "q"}]}) == ["has no assistant message"]
    assert "nothing is trained on" in check_example({"messages": [{"role": "user", "content": "q"},
                                                                  {"role": "assistant", "content": "a", "weight": 0}]})[0]
    tool = {"messages": [{"role": "user", "content": "w?"}, {"role": "assistant", "content": None,
                                                              "tool_calls": [{"id": "1", "type": "function"}]},
                         {"role": "tool", "tool_call_id": "1", "content": "sun"}, {"role": "assistant", "content": "Sun."}]}
    assert check_example(tool) == []


def test_conversions_and_token_count():
    alpaca_row = {"prompt": [{"role": "user", "content": "Classify: great"}],
                  "completion": [{"role": "assistant", "content": "positive"}]}
    assert to_openai_example(alpaca_row) == {"messages": alpaca_row["prompt"] + alpaca_row["completion"]}
    assert to_openai_example({"prompt": "2+2=", "completion": "4"})["messages"][1] == {"role": "assistant",
                                                                                     "content": "4"}
    assert to_openai_example({"prompt": "q", "chosen": "a", "rejected": "b"}) is None
    assert to_openai_example({"text": "doc"}) is None
    # 3 per message + content (chars/4) + 3 for the reply
    assert example_tokens({"messages": [{"role": "user", "content": "abcd" * 5}]}) == 3 + 5 + 3


def test_export_writes_only_when_every_rule_passes(tmp_path):
    res = export_openai([_chat(i) for i in range(12)], tmp_path / "ok.jsonl", epochs=3)
    assert res.ok and res.examples == 12 and res.billed_tokens == 3 * res.tokens_per_epoch
    assert res.cost_usd["OpenAI gpt-4o-mini"] == round(res.billed_tokens / 1e6 * 3.00, 2)
    assert res.price_source.startswith("presets/api_prices.yaml")
    lines = (tmp_path / "ok.jsonl").read_text().splitlines()
    assert len(lines) == 12 and json.loads(lines[0]) == _chat(0)
    res = export_openai([_chat(i) for i in range(MIN_EXAMPLES - 1)], tmp_path / "few.jsonl")
    assert not res.ok and "at least 10" in res.problems[-1] and not (tmp_path / "few.jsonl").exists()
    huge = {"messages": [{"role": "user", "content": "x" * (4 * TOKEN_LIMIT)}, {"role": "assistant", "content": "y"}]}
    res = export_openai([_chat(i) for i in range(12)] + [huge], None)
    assert any("65,536-token limit" in p for p in res.problems)
    with pytest.raises(ExportError, match="not chat/instruction rows"):
        export_openai([{"text": "doc"}] * 12, None)


def test_cli_exports_the_train_split(tmp_path):
    src = tmp_path / "alpaca.jsonl"
    src.write_text("".join(json.dumps({"instruction": f"Q{i}", "output": f"A{i}"}) + "\n" for i in range(40)))
    out = tmp_path / "openai.jsonl"
    r = subprocess.run([sys.executable, "-m", "ftwizard", "data", str(src), "--export-openai", str(out), "--epochs",
                        "2", "--json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)["export_openai"]
    assert d["examples"] == d["split"]["train"] == 32 and d["epochs"] == 2
    assert d["billed_tokens"] == 2 * d["tokens_per_epoch"] > 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 32 and [m["role"] for m in rows[0]["messages"]] == ["user", "assistant"]
    r = subprocess.run([sys.executable, "-m", "ftwizard", "data", str(src), "--export-openai", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "× 3 epochs" in r.stdout and "billed tokens" in r.stdout
