"""The verdict in words, on the numbers of real SmolLM2 runs (bench/real_sweep.py, the issue-21 runs)."""

import re

from ftwizard.core.eval.verdict import judge, loss_drop

OLD_PLAN = {"method": "lora", "learning_rate": 2e-4, "rank": 8, "target_modules": ["q_proj", "k_proj", "v_proj",
                                                                                    "o_proj"]}
NEW_PLAN = {"method": "lora", "learning_rate": 1e-3, "rank": 16, "target_modules": "all-linear"}


def _logs(losses, step0=1):
    return [{"type": "log", "step": step0 + i, "loss": x} for i, x in enumerate(losses)]


def _general(changed=False):
    ch = [{"prompt": "What is the capital of France?", "expected": ["paris"], "base": "The capital of France is Paris.",
           "tuned": "L'Étoile de France, la capital de la France, est la cité de la France"}] if changed else []
    return {"questions": {"n": 8, "base_right": 7, "tuned_right": 7 - len(ch), "kept": 7 - len(ch), "changed": ch}}


def test_the_failed_plan_is_called_a_failure_with_the_fixes_that_worked():
    checks = {"baseline": {"exact_match": 0.0, "f1": 0.18, "loss": 2.6, "n": 9},
              "tuned": {"exact_match": 0.0, "f1": 0.20, "loss": 2.4, "n": 9}, "general": _general(changed=True)}
    v = judge(checks, _logs([2.47, 2.45, 2.40, 2.33, 2.30, 2.27, 2.26, 2.24]) + [{"type": "eval", "step": 30}], OLD_PLAN)
    assert v.learned == "no" and v.general == "changed" and not v.ok
    assert v.headline.startswith("The model did not learn the answers (exact match 0/9 → 0/9, token F1 0.18 → 0.20")
    assert re.search(r"training loss 2\.44 → 2\.2\d \(fell only 8%\)", v.headline), v.headline
    assert "capital of France" in v.lines[0] and "Paris" in v.lines[0]
    text = v.text()
    for fix in ("raise the learning rate (now 0.0002", "every linear layer", "rank 16", "at least 40 optimizer steps",
                "keep general answers"):
        assert fix in text, fix


def test_a_run_that_learned_says_so_and_offers_nothing_to_fix():
    checks = {"baseline": {"exact_match": 0.0, "f1": 0.21, "loss": 2.75, "n": 9},
              "tuned": {"exact_match": 0.56, "f1": 0.83, "loss": 0.95, "n": 9}, "general": _general()}
    v = judge(checks, _logs([2.17, 1.5, 1.0, 0.7, 0.5, 0.36]) + [{"type": "eval", "step": 40}], NEW_PLAN)
    assert v.ok and v.learned == "yes" and v.general == "kept" and v.fixes == []
    assert "exact match 0/9 → 5/9" in v.headline and "General answers kept" in v.lines[0]
    assert "all 7 of the 8 general questions" in v.lines[0]
    assert "training loss 1.56 → 0.52" in v.headline and "fell" not in v.headline  # first and last 3 logs, not "fell 67%"


def test_test_rows_that_ask_a_taught_answer_anew_are_said_to():
    """Test rows whose answer is also a training answer measure recall asked in new words: the headline says so
    instead of only "rows it never saw"."""
    checks = {"baseline": {"exact_match": 0.0, "f1": 0.16, "loss": 4.0, "n": 4},
              "tuned": {"exact_match": 0.75, "f1": 0.92, "loss": 0.03, "n": 4},
              "compare": {"ok": True, "answers_seen_in_training": 3}}
    v = judge(checks, _logs([2.5, 1.0, 0.1, 0.005]), NEW_PLAN)
    assert "on 4 test rows it never saw, 3 of them asking in new words an answer the training rows hold" in v.headline
    from ftwizard.core.eval.metrics import answers_seen

    assert answers_seen(["Shakespeare.", "Paris", "42"], ["shakespeare", "Rome", "42 "]) == 2


def test_general_answers_the_base_never_knew_are_not_called_kept():
    """A tiny model that answers none of the general questions cannot forget them: not 'kept 0 of 8'."""
    none = {"questions": {"n": 8, "base_right": 0, "tuned_right": 0, "kept": 0, "changed": []}}
    checks = {"baseline": {"exact_match": 0.0, "f1": 0.0, "n": 9}, "tuned": {"exact_match": 1.0, "f1": 1.0, "n": 9},
              "general": none}
    v = judge(checks, _logs([2.17, 1.0, 0.36]), NEW_PLAN)
    assert v.general == "unknown" and "General answers not measured" in v.lines[0] and "none of the 8" in v.lines[0]
    assert "kept" not in v.lines[0]


def test_memorised_but_not_generalised_and_unknown():
    checks = {"baseline": {"exact_match": 0.0, "f1": 0.2, "loss": 2.0, "n": 3},
              "tuned": {"exact_match": 0.0, "f1": 0.22, "loss": 2.1, "n": 3}}
    v = judge(checks, _logs([2.0, 1.5, 0.8, 0.3, 0.1, 0.05]) + [{"type": "log", "step": 80, "loss": 0.05}], NEW_PLAN)
    assert v.learned == "no" and any("memorised" in f for f in v.fixes) and any("noisy" in f for f in v.fixes)
    assert judge({}, [], NEW_PLAN).learned == "unknown"
    assert loss_drop(_logs([1.0, 1.0])) is None


def test_preference_runs_are_judged_by_preference_accuracy():
    v = judge({"baseline": {"preference_accuracy": 0.5}, "tuned": {"preference_accuracy": 0.8}}, [], {"method": "lora"})
    assert v.learned == "yes" and "0.50 → 0.80" in v.headline
