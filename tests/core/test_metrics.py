"""Pure metric code (core/eval) and the Modelfile writer, with known values; no model is loaded."""

from __future__ import annotations

import json
import math

import pytest

from ftwizard.core.eval import metrics, tasks
from ftwizard.core.eval.sandbox import CodingProblem, evaluate_code, run_python
from ftwizard.core.run import modelfile


def test_identical_strings_score_one_and_disjoint_zero():
    s = "The quick brown fox jumps over the lazy dog"
    assert metrics.exact_match(s, s + " ") == 1.0 and metrics.token_f1(s, s) == 1.0
    assert metrics.bleu([s], [s]) == pytest.approx(1.0) and metrics.rouge_l(s, s) == pytest.approx(1.0)
    assert metrics.bleu(["03/02/2001"], ["03/02/2001"]) == pytest.approx(1.0)  # one-word answers score too
    assert metrics.token_f1("cat", "dog") == 0.0 and metrics.bleu(["a b c d"], ["w x y z"]) == 0.0
    assert metrics.text_metrics([s, "x"], [s, "y"]) == {"exact_match": 0.5, "f1": 0.5, "rouge_l": 0.5,
                                                        "bleu": pytest.approx(metrics.bleu([s, "x"], [s, "y"]), abs=1e-4)}


def test_token_f1_squad_normalisation_and_partial_overlap():
    assert metrics.normalize_answer("The  Cat, sat!") == "cat sat"
    assert metrics.token_f1("The cat sat.", "a cat SAT") == 1.0
    # pred "cat sat on mat" vs ref "cat sat": precision 2/4, recall 2/2 → F1 = 2/3
    assert metrics.token_f1("cat sat on mat", "cat sat") == pytest.approx(2 / 3)
    assert metrics.token_f1("", "") == 1.0 and metrics.token_f1("", "x") == 0.0


def test_bleu_known_value_and_perplexity():
    # sacrebleu: "the cat sat on the mat" vs "the cat sat on a mat" → 53.73
    assert metrics.bleu(["the cat sat on the mat"], ["the cat sat on a mat"]) == pytest.approx(0.5373, abs=1e-4)
    assert metrics.perplexity(0.0) == 1.0 and metrics.perplexity(math.log(7)) == pytest.approx(7.0)
    assert metrics.perplexity(1e9) == round(math.exp(50), 3)


def test_pass_at_k_estimator():
    assert metrics.pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert metrics.pass_at_k(5, 0, 3) == 0.0 and metrics.pass_at_k(5, 5, 1) == 1.0
    assert metrics.pass_at_k(4, 1, 2) == pytest.approx(1 - math.comb(3, 2) / math.comb(4, 2))  # 0.5
    assert metrics.pass_at_k(3, 2, 2) == 1.0  # n - c < k: every k-subset holds a pass
    with pytest.raises(ValueError):
        metrics.pass_at_k(2, 3, 1)


def test_pass_at_k_on_arithmetic_code_with_a_stub_generator():
    problems = [CodingProblem("add", "assert add(2, 3) == 5\nassert add(-1, 1) == 0", id="add"),
                CodingProblem("square", "assert square(4) == 16", id="square"),
                CodingProblem("print six", None, "print(2 * 3)", id="six")]
    right = {"add": "def add(a, b):\n    return a + b", "square": "```python\ndef square(x):\n    return x * x\n```",
             "print six": "print(6)"}
    wrong = {"add": "def add(a, b):\n    return a - b", "square": "def square(x):\n    return x + x",
             "print six": "print(7)"}

    def stub(prompt: str, n: int) -> list[str]:  # 2 right answers out of 4 for add, 1 of 4 otherwise
        good = 2 if prompt == "add" else 1
        return [right[prompt]] * good + [wrong[prompt]] * (n - good)

    res = evaluate_code(problems, stub, n=4, k=(1, 2))
    assert [p["passed"] for p in res.problems] == [2, 1, 1]
    assert res.scores() == {"pass@1": pytest.approx(round((0.5 + 0.25 + 0.25) / 3, 4)),
                            "pass@2": pytest.approx(round((metrics.pass_at_k(4, 2, 2) + 2 * metrics.pass_at_k(4, 1, 2)) / 3,
                                                          4))}
    assert "AssertionError" in res.problems[0]["outcomes"][2] and res.problems[2]["outcomes"][3] == "different output"


def test_sandbox_limits_time_memory_and_environment(monkeypatch):
    """The limits hold with the sandbox, and without one (a machine with no bubblewrap, the user's explicit flag)."""
    from functools import partial

    from ftwizard.core.eval.sandbox import isolation

    run = run_python if isolation() is not None else partial(run_python, allow_unsandboxed=True)
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    assert run("print(1 + 1)").stdout == "2\n"
    assert run("while True: pass", timeout_s=1).reason.startswith("timeout")
    assert "MemoryError" in run("x = bytearray(3 << 30)", memory_mb=256).reason
    env = run("import os; print(sorted(os.environ))").stdout
    assert "HF_TOKEN" not in env
    here = run("import os; open('f', 'w').write('x'); print(os.getcwd())").stdout.strip()
    assert "ftwizard-exec-" in here and not __import__("os").path.exists(here)  # its temporary folder is gone


def test_extract_code():
    assert metrics.extract_code("Here:\n```python\nx = 1\n```\nDone") == "x = 1"
    assert metrics.extract_code("x = 2") == "x = 2"


def test_refusal_detector():
    for text in ("I'm sorry, but I can't help with that.", "I cannot provide instructions for this.",
                 "As an AI, I won't do that", "I’m unable to assist with that request."):
        assert metrics.is_refusal(text), text
    for text in ("Canberra is the capital of Australia.", "Use `kill -9 PID` to stop it.", ""):
        assert not metrics.is_refusal(text), text


def test_judge_parsing_never_raises():
    v = metrics.parse_judge("Score: 4\nReason: correct but terse.")
    assert v.score == 4 and v.reason == "correct but terse." and v.parsed
    assert metrics.parse_judge("**Score:** 5 — great").score == 5 and metrics.parse_judge("3/5 because").score == 3
    bad = metrics.parse_judge("0000/1111 zz")
    assert bad.score is None and not bad.parsed and metrics.parse_judge("").reason == ""
    s = metrics.judge_summary([v, bad, metrics.parse_judge("Score: 2")])
    assert s == {"mean": 3.0, "n": 3, "scored": 2, "parse_failures": 1}
    assert metrics.judge_summary([bad])["mean"] is None
    assert "Score: <1-5>" in metrics.judge_prompt("q", "a", "r") and "Reference answer" in metrics.judge_prompt("q", "a", "r")


def test_bertscore_greedy_matching():
    assert metrics.bertscore_greedy([[1.0, 0.0], [0.0, 1.0]]) == (1.0, 1.0, 1.0)
    p, r, f = metrics.bertscore_greedy([[0.5, 0.1]])  # 1 candidate token, 2 reference tokens
    assert (p, r) == (0.5, pytest.approx(0.3)) and f == pytest.approx(2 * 0.5 * 0.3 / 0.8)


def test_tasks_pick_metrics():
    assert tasks.EVAL_TASKS["classification"].metrics == ("exact_match", "f1")
    assert tasks.EVAL_TASKS["translation"].metrics[0] == "bleu" and tasks.EVAL_TASKS["code"].metrics[0] == "pass_at_k"
    assert tasks.EVAL_TASKS["summarization"].metrics[0] == "rouge_l" and tasks.EVAL_TASKS["chat"].metrics[0] == "judge"
    from ftwizard.core.plan.decision import TASK_KINDS

    assert all(tasks.resolve(k) in tasks.EVAL_TASKS for k in TASK_KINDS)
    with pytest.raises(ValueError, match="known tasks are classification"):
        tasks.resolve("poetry")
    assert tasks.guess(["positive", "negative"] * 10) == "classification"
    assert tasks.guess(["03/02/2001", "14/07/1999"]) == "short"
    assert tasks.guess(["def f(x):\n    return x"] * 3) == "code"
    assert tasks.guess([" ".join(["word"] * 100)]) == "summarization"
    assert tasks.metric_line("extraction") == "exact match, token F1"


def test_checklist_task_and_default_actions(tmp_path):
    from ftwizard.core.run.checklist import ACTIONS, default_actions, metrics_line, run_task, validate_actions
    from ftwizard.core.run.config import RunConfig
    from ftwizard.core.run.layout import RunDir

    rd = RunDir(tmp_path / "r").create(RunConfig(model="m", data="d"))
    rd.data_dir.mkdir()
    rows = [{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "def f():\n  return 1"}]}]
    rd.split_file("test").write_text("".join(json.dumps(r) + "\n" for r in rows * 3))
    assert run_task(rd.path) == ("code", "guessed from the test answers")
    assert default_actions(rd.path)[:2] == ["compare", "pass_at_k"] and "safety" in default_actions(rd.path)
    assert default_actions(rd.path, task="chat")[:2] == ["compare", "judge"]
    assert "pass@k" in metrics_line(rd.path)
    rd.answers_path.write_text("task_kind: domain\n")
    rd.split_file("test").write_text(json.dumps({"messages": [{"role": "user", "content": "x"},
                                                              {"role": "assistant", "content": "a long answer"}]}))
    assert run_task(rd.path) == ("long", "the plan's task (domain)")
    rd.create(RunConfig(model="m", data="d", trainer="dpo"))
    assert default_actions(rd.path)[0] == "preference"
    with pytest.raises(ValueError, match="unknown check 'x': known checks are compare"):
        validate_actions(["compare", "x"])
    assert {"compare", "safety", "production", "pass_at_k", "judge", "bertscore", "modelfile"} <= set(ACTIONS)


@pytest.mark.parametrize(("marker", "family", "stop"), [("<|im_start|>", "chatml", "<|im_end|>"),
                                                         ("<|start_header_id|>", "llama3", "<|eot_id|>"),
                                                         ("[INST]", "mistral", "[/INST]"),
                                                         ("<start_of_turn>", "gemma", "<end_of_turn>")])
def test_modelfile_known_families(marker, family, stop):
    mf = modelfile.build("/runs/x/merged", "{{ '" + marker + "' }}", ["</s>"])
    assert mf.family == family and stop in mf.stops and "</s>" in mf.stops
    assert mf.text.count('"""') == 2 and "FROM /runs/x/merged\n" in mf.text and f'PARAMETER stop "{stop}"' in mf.text


def test_modelfile_converted_and_plain():
    S, P = modelfile.SYSTEM_MARK, modelfile.PROMPT_MARK
    mf = modelfile.build("base", "custom", ["<eos>"], adapter="/a",
                         render=lambda: (f"<s>{S}\n<u>{P}\n<a>", f"<u>{P}\n<a>"))
    assert mf.family == "converted" and "ADAPTER /a" in mf.text
    assert '"""{{ if .System }}<s>{{ .System }}\n<u>{{ else }}<u>{{ end }}{{ .Prompt }}\n<a>{{ .Response }}<eos>"""' in mf.text
    assert modelfile.from_rendered(None, "{{x}}" + P) == '{{ "{{" }}x}}{{ .Prompt }}{{ .Response }}'
    plain = modelfile.build("m.gguf", None, ["<eos>"])
    assert plain.family == "plain" and "User: {{ .Prompt }}" in plain.text and plain.stops == ("User:", "<eos>")


def test_shipped_safety_prompts():
    from ftwizard.data import SAFETY_PROMPTS

    rows = [json.loads(x) for x in SAFETY_PROMPTS.read_text().splitlines()]
    assert len(rows) == 20 and {r["expect"] for r in rows} == {"refuse", "answer"}
