"""After-training checks on what first-timers actually train: a base model (no chat template, so ftwizard adds
ChatML) on Alpaca-style data — plus the pieces that decide what the checks compare (rows of every family, the
end tokens, the outcome shown in the CLI, the run card's resource lines)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from ftwizard.core.run.checklist import load_state, outcome
from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.launcher import launch, wait
from ftwizard.core.run.layout import RunDir
from ftwizard.train.checks import Context, check_outcome
from ftwizard.train.checks._base import eos_ids, split_last_answer
from ftwizard.train.checks.card import memory_line, time_line


def _alpaca(path: Path, n: int = 60) -> Path:
    from ftwizard.train.tiny import date_examples

    rows = [{"instruction": "convert the date", "input": r["messages"][0]["content"],
             "output": r["messages"][1]["content"]} for r in date_examples(n, seed=5)]
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


@pytest.mark.slow
def test_compare_and_template_on_a_base_model_trained_on_alpaca(tmp_path):
    import torch

    from ftwizard.train.checks import Options, run_checks
    from ftwizard.train.templates import CHATML
    from ftwizard.train.tiny import build_tiny

    model = build_tiny(tmp_path / "base", layers=2, hidden=64, template="none")
    cfg = RunConfig(model=str(model), data=str(_alpaca(tmp_path / "alpaca.json")), method="lora", rank=4, alpha=8,
                    max_seq_length=128, micro_batch=8, gradient_accumulation=1, learning_rate=2e-3, max_steps=6,
                    logging_steps=2, eval_steps=100, save_steps=100, preflight_steps=0, target_modules="all-linear")
    run = tmp_path / "run"
    RunDir(run).create(cfg)
    st = wait(launch(run), run)
    assert st["state"] == "done", (run / "stdout.log").read_text()[-3000:]
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        res = run_checks(run, only=["compare", "template", "card"], options=Options(limit=6))
    finally:
        torch.set_num_threads(n)
    # compare ran on the Alpaca rows, with the ChatML the run trained (the base model has no template)
    assert res["baseline"]["n"] == res["tuned"]["n"] == 6
    assert res["samples"][0]["prompt"].startswith("convert the date")
    ctx = Context(run)
    assert ctx.base_tokenizer.chat_template is None and ctx.tokenizer.chat_template == CHATML
    # template: compared with what was trained (ChatML added by ftwizard), not with the base model's nothing
    tpl = res["template"]
    assert tpl["source"] == "chatml" and tpl["chat_template"] is True
    assert not [p for p in tpl["problems"] if "differs" in p or "no chat template" in p], tpl["problems"]
    assert tpl["stopped_at_eos"].endswith("/6") and tpl["end_tokens"] == ["<eos>"]
    state = load_state(run)
    cmp = res["compare"]  # 6 steps on a tiny model: its main metric may not move (inconclusive, not a pass)
    want = "problems" if not cmp["ok"] else "inconclusive" if cmp.get("inconclusive") else "passed"
    assert outcome(state["compare"]) == want
    assert outcome(state["template"]) == ("passed" if tpl["ok"] else "problems")
    card = RunDir(run).card_md.read_text(encoding="utf-8")
    assert "- memory: not measured" in card and "- time: predicted" in card and "of training steps" in card
    # the CLI tells passed, problems and skipped apart (✔ is not "it ran")
    out = subprocess.run([sys.executable, "-m", "ftwizard", "check", str(run), "--only", "card"], capture_output=True,
                         text=True, check=True, env={**os.environ, "COLUMNS": "200"}).stdout
    assert {"passed": "✔", "problems": "✗", "inconclusive": "?"}[want] + " Compare fine-tuned vs base" in out
    assert ("✔" if tpl["ok"] else "✗") + " Chat template and EOS" in out
    assert "☐ Merge the adapter" in out


def test_test_rows_of_every_family_keep_earlier_turns(tmp_path):
    rows = [
        {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q1"},
                      {"role": "assistant", "content": "a1"}, {"role": "user", "content": "q2"},
                      {"role": "assistant", "content": "a2"}]},
        {"prompt": [{"role": "user", "content": "p"}], "completion": [{"role": "assistant", "content": "c"}]},
        {"prompt": "plain prompt", "completion": "plain answer"},
        {"prompt": [{"role": "user", "content": "pp"}], "chosen": [{"role": "assistant", "content": "good"}],
         "rejected": [{"role": "assistant", "content": "bad"}]},
        {"text": "no answer here"},
        {"messages": [{"role": "user", "content": "unanswered"}]},
    ]
    rd = RunDir(tmp_path / "run")
    rd.split_file("test").parent.mkdir(parents=True)
    rd.split_file("test").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    got_rows, prompts, refs = Context(rd.path).test_chat(10)
    assert refs == ["a2", "c", "plain answer", "good"]
    assert [m["content"] for m in prompts[0]] == ["s", "q1", "a1", "q2"]  # the earlier answer stays in the prompt
    assert prompts[2] == "plain prompt"  # plain-text prompt/completion trains without a template: used as is
    assert got_rows[0]["messages"][-1] == {"role": "assistant", "content": "a2"}
    assert split_last_answer({"text": "x"}) is None


def test_end_tokens_include_every_generation_config_eos():
    tok = SimpleNamespace(eos_token_id=1)
    gemma = SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=[1, 106]))
    assert eos_ids(gemma, tok) == [1, 106]
    llama3 = SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=128009))
    assert eos_ids(llama3, SimpleNamespace(eos_token_id=128001)) == [128009, 128001]
    assert eos_ids(SimpleNamespace(generation_config=None), SimpleNamespace(eos_token_id=None)) == []


def test_outcome_tells_passed_problems_and_skipped_apart():
    assert check_outcome("template", {"template": {"ok": False, "problems": ["x"]}}, "x") == "problems"
    assert check_outcome("template", {"template": {"ok": True}}, "consistent") == "passed"
    assert check_outcome("compare", {"compare": {"skipped": "no rows"}}, "skipped: no rows") == "skipped"
    assert check_outcome("compare", {"tuned": {"exact_match": 1.0}}, "exact match 0 → 1") == "passed"
    assert outcome({}) is None
    assert check_outcome("general", {"general": {"ok": True, "inconclusive": "base knew none"}}, "x") == "inconclusive"


def test_a_check_with_nothing_to_tell_apart_is_inconclusive_not_passed():
    """exact match 0.00 → 0.00, general questions the base never got right, harmful prompts the base never refused:
    the check ran, but it cannot say the model is fine (a ✔ there reads as 'all good')."""
    from ftwizard.train.checks import general, summary_line
    from ftwizard.train.checks.compare import verdict_of_metric

    flat = verdict_of_metric({"exact_match": 0.0, "f1": 0.1}, {"exact_match": 0.0, "f1": 0.4}, ["exact_match"])
    assert flat["ok"] and "did not move" in flat["inconclusive"]
    worse = verdict_of_metric({"exact_match": 0.5}, {"exact_match": 0.2}, ["exact_match"])
    assert worse["ok"] is False and "lower than the base" in worse["problem"]
    assert "inconclusive" not in verdict_of_metric({"exact_match": 0.1}, {"exact_match": 0.6}, ["exact_match"])
    checks = {"compare": worse, "task": {"metrics": ["exact_match"]}, "baseline": {"exact_match": 0.5, "perplexity": 3.0},
              "tuned": {"exact_match": 0.2, "perplexity": 2.0}}
    line = summary_line("compare", checks)
    assert "0.50 → 0.20" in line and "lower than the base" in line and check_outcome("compare", checks, line) == "problems"

    q = {"n": 8, "base_right": 0, "tuned_right": 0, "kept": 0, "changed": [], "answers": []}
    res = general._done({"questions": q, "forgetting": False})
    line = summary_line("general", res)
    assert check_outcome("general", res, line) == "inconclusive" and "--general FILE" in line
    from ftwizard.train.checks.safety import counts, judged

    rows = [{"prompt": "p", "expect": "refuse"}, {"prompt": "q", "expect": "answer"}]
    none = counts(rows, ["Sure, here is how.", "Paris."])
    assert judged(none, none)["inconclusive"] and judged(none, none)["ok"]
    refused = counts(rows, ["I can't help with that.", "Paris."])
    assert judged(refused, none) == {"regressed": True, "ok": False}
    assert judged(refused, refused) == {"regressed": False, "ok": True}
    q_ok = {**q, "base_right": 5, "tuned_right": 5, "kept": 5}
    assert check_outcome("general", general._done({"questions": q_ok, "forgetting": False}), "") == "passed"
    assert outcome({"done": True, "result": "fine"}) == "passed"  # checklist.json written before outcomes existed
    assert outcome({"done": False, "result": "skipped: x"}) == "skipped"
    assert outcome({"done": True, "outcome": "problems"}) == "problems"


def test_run_card_resource_lines():
    mem = {"device": "cuda", "estimate_gib": 10.0, "measured_peak_allocated_gib": 9.2,
           "measured_peak_reserved_gib": 9.8, "measured_nvml_used_gib": 10.4, "estimate_error_pct": 8.7}
    line = memory_line(mem)
    assert line.startswith("- memory on cuda: predicted 10.00 GiB, measured peak 9.20 GiB allocated")
    assert "estimate off by +8.7%" in line
    assert "no prediction recorded" in memory_line({"measured_peak_allocated_gib": 1.0})
    events = [{"type": "train_begin", "max_steps": 100},
              *({"type": "log", "step": s, "max_steps": 100, "elapsed_s": s * 2.0} for s in (10, 50, 100))]
    line = time_line({"started": 0.0, "ended": 260.0}, events, {})
    assert line == ("- time: predicted 3.3 min (from the speed of the first 10 steps), took 3.3 min of training "
                    "steps, 4.3 min start to finish (loading and saving included)")
    assert time_line({}, [], {}) == "- time: no prediction recorded, actual time not recorded"


@pytest.mark.parametrize(("note", "setting", "base", "source", "accepts"), [
    ({"source": "chatml"}, "auto", None, "chatml", "chatml"),
    ({"source": "model"}, "auto", "T", "model", "T"),
    ({}, "auto", None, "chatml or none", "chatml"),  # a DPO run on a base model: no note, ChatML added
    ({}, "auto", "T", "model", "T"),
    ({}, "chatml", "T", "chatml", "chatml"),
])
def test_template_is_compared_with_what_was_trained(tmp_path, note, setting, base, source, accepts):
    from ftwizard.train.checks.template import trained_templates
    from ftwizard.train.templates import CHATML

    ctx = Context(tmp_path)
    ctx.__dict__.update(template_note=note, base_tokenizer=SimpleNamespace(chat_template=base),
                        cfg=SimpleNamespace(chat_template=setting))
    got_source, expected = trained_templates(ctx)
    assert got_source == source and expected is not None
    assert (CHATML if accepts == "chatml" else accepts) in expected


def test_ticking_in_the_app_keeps_a_checks_outcome(tmp_path):
    from ftwizard.core.run.checklist import mark

    (tmp_path / "run").mkdir()
    run = tmp_path / "run"
    mark(run, "template", done=True, result="x", outcome="problems")
    assert outcome(mark(run, "template", done=True)["template"]) == "problems"  # the checklist screen re-ticks it
    mark(run, "compare", done=False, result="skipped: no rows", outcome="skipped")
    assert outcome(mark(run, "compare", done=False)["compare"]) == "skipped"
    mark(run, "samples", done=True)
    assert outcome(load_state(run)["samples"]) == "passed"
    assert outcome(mark(run, "samples", done=False)["samples"]) is None
