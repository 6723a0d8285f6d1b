"""Every assistant turn trained with a chat template that has no generation markers (`ftwizard/train/turn_mask.py`):
the mask itself on the tiny model's ChatML-without-markers tokenizer (plain turns, tool calls, a template that renders
the last turn differently), a real SFT run through the subprocess runner, truncation reported, and
`ftwizard data FILE --show-mask N`. Real tokenizers and TRL, no mocks."""

from __future__ import annotations

import json

import pytest

from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.launcher import launch, wait
from ftwizard.core.run.layout import RunDir

SYSTEM = "be brief"
QUESTIONS = ("q one", "q two", "q three")
ANSWERS = ("a uno", "a dos", "a tres")


def _conversation(i: int | str = "") -> list[dict]:
    """System + 3 user/assistant turns (126 tokens with the tiny tokenizer); `i` (< 26) tags the row with a letter."""
    i = chr(ord("a") + i) if isinstance(i, int) else i
    msgs = [{"role": "system", "content": SYSTEM}]
    for q, a in zip(QUESTIONS, ANSWERS, strict=True):
        msgs += [{"role": "user", "content": f"{q} {i}".strip()}, {"role": "assistant", "content": f"{a} {i}".strip()}]
    return msgs


def _weather_call() -> list[dict]:
    """A user question, an OpenAI-style tool call, its result and the answer."""
    return [{"role": "user", "content": "weather in paris"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"type": "function", "function": {"name": "weather", "arguments": {"city": "paris"}}}]},
            {"role": "tool", "name": "weather", "content": "sunny twenty"},
            {"role": "assistant", "content": "it is sunny"}]


def _runs(tm) -> list[list[int]]:
    """The trained token ids, as runs of consecutive trained tokens."""
    runs, prev = [], 0
    for t, m in zip(tm.input_ids, tm.assistant_masks, strict=True):
        if m and not prev:
            runs.append([])
        if m:
            runs[-1].append(t)
        prev = m
    return runs


@pytest.fixture(scope="module")
def chatml_dir(tmp_path_factory):
    from ftwizard.train.tiny import build_tokenizer

    out = tmp_path_factory.mktemp("chatml_tok")
    build_tokenizer(out, "chatml")
    return out


@pytest.fixture()
def tok(chatml_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(chatml_dir))


def test_plan_marks_turns_for_a_template_without_markers(tok):
    from ftwizard.train.templates import plan_sft

    plan, per_turn = plan_sft(tok, ["messages"], True, None, first_row={"messages": _conversation()})
    assert per_turn and plan.mode == "assistant_only", plan
    assert "turn by turn" in plan.message and "3 turns in the example row" in plan.message


def test_three_turns_all_trained_nothing_else(tok):
    from ftwizard.train.turn_mask import mask_conversation

    tm = mask_conversation(tok, _conversation())
    assert tm.fallbacks == []
    runs = [tok.decode(r) for r in _runs(tm)]
    # exactly the three answers, each with its end-of-turn token (so the model learns to stop)
    assert runs == [f"{a}<|im_end|>" for a in ANSWERS], runs
    trained = "".join(runs)
    masked = tok.decode([t for t, m in zip(tm.input_ids, tm.assistant_masks, strict=True) if not m])
    assert all(q not in trained for q in QUESTIONS) and SYSTEM not in trained and "user" not in trained
    assert all(q in masked for q in QUESTIONS) and SYSTEM in masked and "<|im_start|>assistant" in masked
    counts = tm.counts()
    assert set(counts["trained"]) == {"assistant"} and tm.trained_turns == 3
    assert {"system", "user"} <= set(counts["masked"])
    # the ids are the template's own tokenization of the whole conversation
    assert tm.input_ids == tok.apply_chat_template(_conversation(), tokenize=True, return_dict=True)["input_ids"]


def test_tool_calls_trained_observations_not(tok):
    """ShareGPT function_call/observation (converted by the repo's reader), and OpenAI `tool_calls` with a template
    that renders them."""
    from ftwizard.core.data import formats
    from ftwizard.train.turn_mask import mask_conversation, mask_row

    rec = {"system": SYSTEM, "conversations": [
        {"from": "human", "value": "weather in paris"},
        {"from": "function_call", "value": "call weather city paris"},
        {"from": "observation", "value": "sunny twenty"},
        {"from": "function_call", "value": "call wind city paris"},
        {"from": "observation", "value": "calm"},
        {"from": "gpt", "value": "it is sunny and calm"}]}
    tm = mask_row(tok, formats.to_trl("sharegpt", rec))
    runs = [tok.decode(r) for r in _runs(tm)]
    assert runs == ["call weather city paris<|im_end|>", "call wind city paris<|im_end|>",
                    "it is sunny and calm<|im_end|>"], runs
    assert "sunny twenty" not in "".join(runs) and "weather in paris" not in "".join(runs)
    counts = tm.counts()
    assert counts["trained"]["tool call"] > 0 and counts["trained"]["assistant"] > 0
    assert counts["masked"]["tool"] >= len("sunny twenty") + len("calm") and "tool" not in counts["trained"]

    tok.chat_template = (  # ChatML that renders OpenAI tool_calls (still no generation markers)
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
        "{% for c in m.get('tool_calls') or [] %}<tool_call>{{ c['function']['name'] }} "
        "{{ c['function']['arguments']['city'] }}</tool_call>{% endfor %}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    msgs = _weather_call()
    tm = mask_conversation(tok, msgs)
    runs = [tok.decode(r) for r in _runs(tm)]
    assert runs == ["<tool_call>weather paris</tool_call><|im_end|>", "it is sunny<|im_end|>"], runs
    assert tm.token_roles[tm.assistant_masks.index(1)] == "tool call"


def test_template_rendering_the_last_turn_differently_falls_back(tok):
    """Like Qwen3 with reasoning: the last assistant turn gets a think block the earlier ones do not, so a prefix
    rendered alone is not a prefix of the whole conversation. Every answer is still found and trained."""
    from ftwizard.train.turn_mask import mask_conversation

    tok.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
        "{% if m['role'] == 'assistant' and loop.last %}<think></think>{% endif %}{{ m['content'] }}<|im_end|>\n"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    tm = mask_conversation(tok, _conversation())
    runs = [tok.decode(r) for r in _runs(tm)]
    assert runs == ["a uno<|im_end|>", "a dos<|im_end|>", "<think></think>a tres<|im_end|>"], runs
    assert len(tm.fallbacks) == 2 and "turn 3" in tm.fallbacks[0]


def test_truncation_is_counted(tok):
    from ftwizard.train.turn_mask import mask_conversation, stats_events, tokenize_split

    tm = mask_conversation(tok, _conversation())
    second_end = [i for i, m in enumerate(tm.assistant_masks) if m][10]  # inside the 2nd answer
    c = tm.cut(second_end)
    assert c["turns_cut"] == 2 and c["turns_lost"] == 1 and 0 < c["trained_left"] < sum(tm.assistant_masks)
    assert tm.cut(5)["trained_left"] == 0 and tm.cut(None)["tokens_cut"] == 0

    from datasets import Dataset

    long_first = _conversation()
    long_first[1]["content"] = "x" * 200
    ds = Dataset.from_list([{"messages": _conversation(i)} for i in range(3)] + [{"messages": long_first}])
    out, st = tokenize_split(ds, tok, second_end)
    assert out.column_names == ["input_ids", "assistant_masks"] and len(out) == 4
    assert (st.rows, st.turns, st.rows_cut, st.rows_emptied) == (4, 12, 3, 1)
    kinds = {e["kind"] for e in stats_events(st, second_end)}
    assert "answers_cut" in kinds


@pytest.mark.slow
def _train_tiny_chatml(tmp_path, rows, max_seq: int, steps: int):
    """A real LoRA run (subprocess) of the tiny model whose ChatML template has no markers; (run dir, events)."""
    from ftwizard.train.tiny import build_tiny

    model = build_tiny(tmp_path / "model", layers=1, hidden=32, template="chatml")
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = RunConfig(model=str(model), data=str(data), method="lora", rank=4, alpha=8, max_seq_length=max_seq,
                    micro_batch=4, gradient_accumulation=1, epochs=1, max_steps=steps, logging_steps=1, eval_steps=50,
                    save_steps=50, preflight_steps=0, split=[0.8, 0.1, 0.1])
    run = tmp_path / "run"
    RunDir(run).create(cfg)
    st = wait(launch(run), run)
    assert st["state"] == "done", (run / "stdout.log").read_text()[-3000:]
    return run, RunDir(run).read_events()


def test_sft_run_trains_every_turn_without_markers(tmp_path):
    """A real run on the tiny model whose template has no markers: the `loss_tokens` note of the first row shows
    all three answers trained and no user/system text; rows whose answers fall past max_seq_length are reported."""
    run, events = _train_tiny_chatml(tmp_path, [{"messages": _conversation(i)} for i in range(20)], max_seq=128,
                                     steps=2)
    plan = next(e for e in events if e.get("kind") == "chat_template")
    assert plan["loss_on"] == "assistant_only" and "turn by turn" in plan["message"], plan
    tokens = next(e for e in events if e.get("kind") == "loss_tokens")
    trained, masked = tokens["trained_text"], tokens["masked_text"]
    assert all(a in trained for a in ANSWERS), tokens
    assert trained.count("<|im_end|>") == 3, tokens
    assert not any(q in trained for q in QUESTIONS) and SYSTEM not in trained, tokens
    assert all(q in masked for q in QUESTIONS) and SYSTEM in masked, tokens
    assert not [e for e in events if e.get("kind") in ("rows_dropped", "answers_cut")]
    assert "marked every assistant turn itself" in (run / "trl_sft.yaml").read_text()  # the export says what differs


@pytest.mark.slow
def test_sft_run_reports_rows_cut_by_max_seq_length(tmp_path):
    rows = [{"messages": _conversation(i)} for i in range(16)]
    for i in range(6):  # the first answer starts after max_seq_length: nothing left to learn from
        long = _conversation(i)
        long[1]["content"] = "x" * 70 + f" {i}"
        rows.append({"messages": long})
    _, events = _train_tiny_chatml(tmp_path, rows, max_seq=64, steps=1)
    dropped = next(e for e in events if e.get("kind") == "rows_dropped")
    cut = next(e for e in events if e.get("kind") == "answers_cut")
    assert "max_seq_length (64 tokens)" in dropped["message"] and "max_seq_length" in cut["message"], (dropped, cut)


def test_data_show_mask_prints_counts_per_role(tmp_path, chatml_dir, capsys):
    from ftwizard.cli import main

    data, tools = tmp_path / "chat.jsonl", tmp_path / "tools.jsonl"
    data.write_text(json.dumps({"messages": _conversation()}) + "\n")
    tools.write_text(json.dumps({"conversations": [{"from": "human", "value": "weather in paris"},
                                                   {"from": "function_call", "value": "call weather city paris"},
                                                   {"from": "observation", "value": "sunny"},
                                                   {"from": "gpt", "value": "it is sunny"}]}) + "\n")
    assert main(["data", str(data), "--tokenizer", str(chatml_dir), "--show-mask", "1"]) == 0
    out = capsys.readouterr().out
    for a in ANSWERS:
        assert f"⟦{a}<|im_end|>⟧" in out, out
    assert "⟦q one" not in out and f"in 3 turn(s) — assistant {sum(len(a) + 1 for a in ANSWERS)}" in out, out
    assert "masked:" in out and "system" in out and "user" in out and "nothing is cut" in out, out

    assert main(["data", str(data), "--tokenizer", str(chatml_dir), "--show-mask", "1", "--max-seq", "60"]) == 0
    assert "cut by max seq 60" in capsys.readouterr().out

    assert main(["data", str(tools), "--tokenizer", str(chatml_dir), "--show-mask", "1", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["trained"] == {"tool call": len("call weather city paris") + 1, "assistant": len("it is sunny") + 1}
    assert res["masked"]["tool"] > 0 and res["trained_turns"] == 2, res

    assert main(["data", str(data), "--show-mask", "1"]) == 2  # no tokenizer: one line, no traceback
    assert "--tokenizer" in capsys.readouterr().err


def test_tool_call_arguments_survive_the_dataset_exactly(tok, tmp_path):
    """Two rows whose calls take different arguments: through the run's split loading (Arrow), each call is rendered
    with its own arguments only — no other row's keys as nulls — and the plan marks the turns itself."""
    from ftwizard.train.data import load_splits
    from ftwizard.train.templates import plan_sft
    from ftwizard.train.turn_mask import mask_row

    tok.chat_template = (  # ChatML that writes each argument of OpenAI tool_calls (no generation markers)
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] or '' }}"
        "{% for c in m.get('tool_calls') or [] %}<tool_call>{{ c['function']['name'] }} "
        "{% for k, v in c['function']['arguments'].items() %}{{ k }} {{ v }} {% endfor %}</tool_call>{% endfor %}"
        "<|im_end|>\n{% endfor %}")

    def row(name, args):
        return {"messages": [{"role": "user", "content": "q"},
                             {"role": "assistant", "content": "", "tool_calls": [
                                 {"type": "function", "function": {"name": name, "arguments": args}}]},
                             {"role": "tool", "content": "r"}, {"role": "assistant", "content": "done"}],
                "tools": [{"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}]}

    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(row("weather", {"city": "paris"})) + "\n" + json.dumps(row("add", {"a": 1, "b": 2}))
                    + "\n" + json.dumps({"messages": [{"role": "user", "content": "hi"},
                                                      {"role": "assistant", "content": "hello"}]}) + "\n")
    ds = load_splits({"train": path})["train"]
    rendered = [tok.decode(mask_row(tok, r).input_ids) for r in ds]
    assert "<tool_call>weather city paris </tool_call>" in rendered[0], rendered[0]
    assert "<tool_call>add a 1 b 2 </tool_call>" in rendered[1], rendered[1]
    assert "None" not in "".join(rendered) and "<unk>" not in "".join(rendered) and "<tool_call>" not in rendered[2]
    plan, per_turn = plan_sft(tok, ds.column_names, True, first_row=ds[2])
    assert per_turn and "Tool calls in the data" in plan.message


def test_weight_zero_turns_are_context_not_trained(tok):
    """OpenAI's `weight: 0` (LLaMA-Factory's loss_weight 0): that answer is shown to the model, not trained; the plan
    routes such data through ftwizard's own masking whatever the template."""
    from ftwizard.train.templates import plan_sft
    from ftwizard.train.turn_mask import mask_row

    row = {"messages": [{"role": "user", "content": "one"}, {"role": "assistant", "content": "first", "weight": 0},
                        {"role": "user", "content": "two"}, {"role": "assistant", "content": "second", "weight": 1}]}
    runs = [tok.decode(r) for r in _runs(mask_row(tok, row))]
    assert runs == ["second<|im_end|>"], runs
    plan, per_turn = plan_sft(tok, ["messages"], True, first_row=row)
    assert per_turn and "weight 0" in plan.message


def test_a_tool_call_the_template_cannot_write_is_trained_as_text(tok):
    """The tiny ChatML template has no tool-call syntax. The trainer's rows (`mask_row`) get the call written into
    the turn as JSON, trained; rendered as they are (`mask_conversation`), the turn would be an empty answer, and
    training its end-of-turn token would teach the model to answer with nothing: such a turn is masked. (A template
    that writes the calls trains them its way: test_tool_calls_trained_observations_not.)"""
    from ftwizard.train.turn_mask import mask_conversation, mask_row

    msgs = _weather_call()
    tm = mask_conversation(tok, msgs)
    assert [tok.decode(r) for r in _runs(tm)] == ["it is sunny<|im_end|>"]
    assert tm.counts()["trained"].get("tool call", 0) == 0 and tm.trained_turns == 1
    tm = mask_row(tok, {"messages": msgs})
    runs = [tok.decode(r) for r in _runs(tm)]  # the tiny tokenizer has no braces: <unk>
    assert len(runs) == 2 and '"name": "weather", "arguments":' in runs[0] and '"city": "paris"' in runs[0]
    assert runs[1] == "it is sunny<|im_end|>" and tm.counts()["trained"]["tool call"] > 0
    reasoning_only = [{"role": "user", "content": "why"},
                      {"role": "assistant", "content": "", "reasoning_content": "because the sky is blue"}]
    assert not any(mask_conversation(tok, reasoning_only).assistant_masks)


def test_axolotl_per_turn_train_flags_are_honoured(tok):
    """axolotl's `"train": false` on a turn (ShareGPT from/value, or role/content) is context, like OpenAI's
    weight 0; a row whose every answer is off has nothing to learn and is refused with its line."""
    from ftwizard.core.data import formats
    from ftwizard.train.turn_mask import mask_row

    rec = {"conversations": [{"from": "human", "value": "q one", "train": False},
                             {"from": "gpt", "value": "a draft", "train": False},
                             {"from": "human", "value": "q two"},
                             {"from": "gpt", "value": "a final", "train": True}]}
    assert formats.validate("sharegpt", rec) == []
    tm = mask_row(tok, formats.to_trl("sharegpt", rec))
    assert [tok.decode(r) for r in _runs(tm)] == ["a final<|im_end|>"]
    off = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "train": False}]}
    assert formats.to_trl("openai", off)["messages"][1]["weight"] == 0


def test_the_data_check_knows_whether_the_template_writes_tool_schemas(tok):
    """`tools` schemas a template does not write are worth a warning (the model would not see the tools): the
    probe that decides it, on a template without tools and one with them."""
    from ftwizard.train.tokcount import renders

    assert renders(tok)["tools"] is False
    tok.chat_template = ("{% if tools %}<|im_start|>system\n{% for t in tools %}{{ t['function']['name'] }}"
                         "{% endfor %}<|im_end|>\n{% endif %}{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
                         "{{ m['content'] }}<|im_end|>\n{% endfor %}")
    assert renders(tok)["tools"] is True
