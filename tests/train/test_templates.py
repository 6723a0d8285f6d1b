"""Loss on the right tokens for any tokenizer: the tiny model with (a) its marked template, (b) a ChatML template
without generation markers (like most real chat models) and (c) no template at all (a base model), each on chat data
and on Alpaca data — trained for real through the subprocess runner. The trainer reports which tokens of the first
row carry loss (labels ≠ -100); the test checks that exactly the answer does and the system/user tokens do not."""

from __future__ import annotations

import json

import pytest

from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.launcher import launch, wait
from ftwizard.core.run.layout import RunDir

pytestmark = pytest.mark.slow

SYSTEM, QUESTION, ANSWER = "be brief", "what is 2 and 2", "four"


def _chat_rows(n: int) -> list[dict]:
    return [{"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"{QUESTION} {i}"},
                          {"role": "assistant", "content": f"{ANSWER} {i}"}]} for i in range(n)]


def _alpaca_rows(n: int) -> list[dict]:
    return [{"instruction": f"{QUESTION} {i}", "input": "", "output": f"{ANSWER} {i}"} for i in range(n)]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from ftwizard.train.tiny import build_tiny

    root = tmp_path_factory.mktemp("templates")
    return {t: build_tiny(root / t, layers=1, hidden=32, template=t) for t in ("marked", "chatml", "none")}


# ("chatml", "chat"): no markers and TRL cannot patch it, so ftwizard marks every assistant turn (turn_mask.py)
EXPECTED_MODE = {("marked", "chat"): "assistant_only", ("chatml", "chat"): "assistant_only",
                 ("none", "chat"): "assistant_only", ("marked", "alpaca"): "completion_only",
                 ("chatml", "alpaca"): "completion_only", ("none", "alpaca"): "completion_only"}


@pytest.mark.parametrize("data_kind", ["chat", "alpaca"])
@pytest.mark.parametrize("template", ["marked", "chatml", "none"])
def test_loss_only_on_the_answer(tmp_path, models, template, data_kind):
    rows = _chat_rows(24) if data_kind == "chat" else _alpaca_rows(24)
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = RunConfig(model=str(models[template]), data=str(data), method="lora", rank=4, alpha=8, max_seq_length=128,
                    micro_batch=4, gradient_accumulation=1, epochs=1, max_steps=2, logging_steps=1, eval_steps=50,
                    save_steps=50, preflight_steps=0, split=[0.8, 0.1, 0.1])
    run = tmp_path / "run"
    RunDir(run).create(cfg)
    st = wait(launch(run), run)
    assert st["state"] == "done", (run / "stdout.log").read_text()[-3000:]
    events = RunDir(run).read_events()
    plan = next(e for e in events if e.get("kind") == "chat_template")
    assert plan["loss_on"] == EXPECTED_MODE[(template, data_kind)], plan
    tokens = next(e for e in events if e.get("kind") == "loss_tokens")
    trained, masked = tokens["trained_text"], tokens["masked_text"]
    assert ANSWER in trained and QUESTION not in trained and SYSTEM not in trained, tokens
    assert QUESTION in masked, tokens
    if data_kind == "chat":
        assert SYSTEM in masked
    # the answer ends with the turn's end / EOS token, so the model learns to stop
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(models[template]))
    assert tokens["trained_ids"][-1] in (tok.eos_token_id, tok.convert_tokens_to_ids("\n")), tokens
    assert tok.eos_token_id in tokens["trained_ids"], tokens
    # the saved tokenizer keeps the model's pad token and carries the template that was trained with
    saved = AutoTokenizer.from_pretrained(str(RunDir(run).adapter))
    assert saved.pad_token == tok.pad_token
    if template == "none" and data_kind == "chat":
        assert plan["source"] == "chatml" and "<|im_start|>" in saved.chat_template
