"""Token lengths with the model's own tokenizer and chat template (counted in a subprocess, so core never
imports transformers); characters / 4 only as a stated fallback."""

from __future__ import annotations

import json

import pytest

from ftwizard.core.data.report import analyze
from ftwizard.core.data.tokens import TokenCountError, count_with_tokenizer


@pytest.fixture(scope="module")
def tiny_tok(tmp_path_factory):
    from ftwizard.train.tiny import build_tokenizer

    out = tmp_path_factory.mktemp("tok")
    build_tokenizer(out)
    return out


def test_counts_match_the_tokenizer_and_template(tiny_tok):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_tok))
    msgs = [{"role": "user", "content": "2021-03-04"}, {"role": "assistant", "content": "04/03/2021"}]
    rows = [{"messages": msgs}, {"prompt": msgs[:1], "completion": msgs[1:]}, {"text": "hello world"},
            {"prompt": "ab", "chosen": "cde", "rejected": "fghij"}]
    tc = count_with_tokenizer(str(tiny_tok), rows)
    full = len(tok(tok.apply_chat_template(msgs, tokenize=False), add_special_tokens=False)["input_ids"])
    prompt = len(tok(tok.apply_chat_template(msgs[:1], tokenize=False, add_generation_prompt=True),
                     add_special_tokens=False)["input_ids"])
    assert tc.full[:2] == [full, full] and tc.prompt[:2] == [0, prompt]
    assert tc.full[2] == len(tok("hello world", add_special_tokens=False)["input_ids"])
    assert tc.full[3] == len(tok("abfghij", add_special_tokens=False)["input_ids"])  # the longer answer counts
    assert "chat template" in tc.method


def test_analyze_uses_the_tokenizer_or_says_it_falls_back(tmp_path, tiny_tok):
    p = tmp_path / "d.jsonl"
    p.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"question {i}"},
                                                  {"role": "assistant", "content": f"answer {i}"}]}) + "\n"
                         for i in range(15)))
    rep = analyze(str(p), tokenizer=str(tiny_tok))
    assert rep.stats["tokens"]["method"].startswith(f"tokenizer: {tiny_tok}")
    assert rep.stats["tokens"]["min"] > 20  # character-level: far more than chars/4
    rep = analyze(str(p), tokenizer=str(tmp_path / "no-such-model"))
    assert rep.stats["tokens"]["method"].startswith("approximate")
    assert any("token lengths are approximate" in w for w in rep.warnings)
    with pytest.raises(TokenCountError, match="cannot use tokenizer"):
        count_with_tokenizer(str(tmp_path / "no-such-model"), [{"text": "x"}])
