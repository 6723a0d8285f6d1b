"""After-training checks on one tiny LoRA run trained once for this module (real trainer subprocess, no mocks)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.launcher import launch, wait
from ftwizard.core.run.layout import RunDir

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny matrices: one torch thread is faster than several fighting over 2 shared cores."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny) -> Path:
    model, data = tiny
    cfg = RunConfig(model=str(model), data=str(data), method="lora", rank=4, alpha=8, max_seq_length=48, micro_batch=8,
                    gradient_accumulation=1, learning_rate=2e-3, max_steps=10, logging_steps=5, eval_steps=100,
                    save_steps=100, preflight_steps=0, target_modules="all-linear")
    path = tmp_path_factory.mktemp("checks") / "run"
    RunDir(path).create(cfg)
    st = wait(launch(path), path)
    assert st["state"] == "done", (path / "stdout.log").read_text()[-3000:]
    return path


def test_metrics_safety_production_and_exports(run, tiny, tmp_path):
    from ftwizard.train.checks import Options, run_checks

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("1999-12-31\n2024-02-29\n")
    opts = Options(limit=12, prompts_file=str(prompts), judge_model=str(tiny[0]), bertscore_model=str(tiny[0]),
                   max_new_tokens=8)
    res = run_checks(run, only=["compare", "safety", "production", "bertscore", "judge", "pass_at_k", "modelfile",
                                "gguf", "card"], options=opts)
    for side in ("baseline", "tuned"):
        assert {"exact_match", "f1", "bleu", "rouge_l", "loss", "perplexity", "n", "bertscore", "judge",
                "refused"} <= set(res[side])
        assert all(0 <= res[side][m] <= 1 for m in ("exact_match", "f1", "bleu", "rouge_l"))
        assert -1 <= res[side]["bertscore"] <= 1
    assert res["task"]["kind"] == "short" and "bleu" in res["task"]["metrics"]
    assert res["safety"]["n"] == 20 and len(res["safety"]["samples"]) == 20
    assert res["production"]["n"] == 2 and res["production"]["samples"][0]["prompt"] == "1999-12-31"
    judge = res["judge"]  # the tiny model cannot follow the judge prompt: failures are counted, not raised
    assert judge["baseline"]["n"] == 12 and judge["baseline"]["parse_failures"] + judge["baseline"]["scored"] == 12
    assert res["pass_at_k"]["skipped"].startswith("generated code runs only when you allow it")
    assert "convert_hf_to_gguf.py" in res["gguf"]["skipped"]
    text = (run / "Modelfile").read_text()
    assert f"ADAPTER {RunDir(run).adapter.resolve()}" in text and 'PARAMETER stop "<eos>"' in text
    assert '"""{{ if .System }}<s>{{ .System }}\n<u>{{ else }}<u>{{ end }}{{ .Prompt }}\n<a>{{ .Response }}<eos>"""' in text
    state = json.loads((run / "checklist.json").read_text())["items"]
    assert state["safety"]["done"] and state["pass_at_k"]["done"] is False
    assert "tuned" in json.loads((run / "run_card.json").read_text())["results"]


def test_pass_at_k_runs_code_only_when_allowed(run, tmp_path):
    from ftwizard.core.eval.sandbox import isolation
    from ftwizard.train.checks import Options, run_checks

    tests = tmp_path / "code.jsonl"
    tests.write_text(json.dumps({"prompt": "write add(a, b)", "test": "assert add(2, 3) == 5"}) + "\n")
    no_sandbox = isolation() is None  # a machine without bubblewrap: the user's explicit opt-in path
    res = run_checks(run, only=["pass_at_k"], options=Options(allow_code_exec=True, code_tests=str(tests), samples=2,
                                                               k=(1, 2), max_new_tokens=8,
                                                               allow_unsandboxed_code=no_sandbox))
    assert set(res["tuned"]["pass_at_k"]) == {"pass@1", "pass@2"} and res["pass_at_k"]["problems"] == 1
    assert res["pass_at_k"]["tuned"]["details"][0]["passed"] == 0  # a date model does not write `add`


def test_preference_accuracy_on_pairs(run, tmp_path):
    from ftwizard.train.checks import run_checks

    pref = tmp_path / "pref"
    shutil.copytree(run, pref, ignore=shutil.ignore_patterns("checks.json", "checklist.json", "predictions.jsonl"))
    rows = [{"prompt": [{"role": "user", "content": f"200{i}-01-02"}],
             "chosen": [{"role": "assistant", "content": f"02/01/200{i}"}],
             "rejected": [{"role": "assistant", "content": "ab/cd/efgh"}]} for i in range(6)]
    RunDir(pref).split_file("test").write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = run_checks(pref, only=["preference"])
    assert res["preference"]["n"] == 6
    for side in ("baseline", "tuned"):
        assert 0 <= res[side]["preference_accuracy"] <= 1 and isinstance(res[side]["preference_margin"], float)
    assert res["tuned"]["preference_accuracy"] == 1.0  # trained on dates: a date beats letters
    kto = [{"prompt": [{"role": "user", "content": f"200{i}-01-02"}], "label": i % 2 == 0,
            "completion": [{"role": "assistant", "content": f"02/01/200{i}" if i % 2 == 0 else "ab/cd/efgh"}]}
           for i in range(6)]
    RunDir(pref).split_file("test").write_text("".join(json.dumps(r) + "\n" for r in kto))
    res = run_checks(pref, only=["preference"])
    assert res["preference"]["kind"] == "kto" and res["tuned"]["preference_accuracy"] == 1.0
    assert res["tuned"]["preference_margin"] > 0


def test_reward_on_test_prompts(run, tmp_path):
    from ftwizard.train.checks import Options, run_checks

    grpo = tmp_path / "grpo"
    shutil.copytree(run, grpo, ignore=shutil.ignore_patterns("checks.json", "checklist.json", "predictions.jsonl"))
    rows = [{"prompt": [{"role": "user", "content": f"200{i}-03-04"}], "answer": f"04/03/200{i}"} for i in range(4)]
    RunDir(grpo).split_file("test").write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = run_checks(grpo, only=["reward"], options=Options(reward="char_match,length_penalty", max_new_tokens=12))
    assert res["reward"]["rewards"] == ["char_match", "length_penalty"] and res["reward"]["n"] == 4
    for side in ("baseline", "tuned"):
        assert 0 <= res[side]["reward"] + 1 and -1 <= res["reward"][side]["length_penalty"] <= 0
    assert res["reward"]["tuned"]["char_match"] >= res["reward"]["baseline"]["char_match"]
