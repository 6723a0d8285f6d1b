"""The checks registry: one module per check, unknown names are one line listing the known ones (no model)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from ftwizard.core.run.checklist import ACTIONS


@pytest.mark.parametrize("name", ACTIONS)
def test_every_check_has_a_module_with_run_and_summary(name):
    mod = importlib.import_module(f"ftwizard.train.checks.{name}")
    assert callable(mod.run) and callable(mod.summary)


def test_unknown_check_is_one_line_listing_the_known_ones(tmp_path):
    from ftwizard.train.checks import check_module, run_checks, summary_line

    with pytest.raises(ValueError, match="known checks are compare, preference"):
        check_module("nope")
    assert callable(run_checks) and summary_line("card", {"card": {"path": "x"}}) == "written x"
    out = subprocess.run([sys.executable, "-m", "ftwizard", "check", str(tmp_path), "--only", "compare,nope"],
                         capture_output=True, text=True)
    text = (out.stderr + out.stdout).strip()
    assert out.returncode == 2 and "unknown check 'nope'" in text and "pass_at_k" in text and len(text.splitlines()) == 1


def _listed_run(tmp_path, trainer: str, answer: str):  # noqa: ANN202
    """A run with a (fake) trained adapter and test rows whose answers set the task (code or a short answer)."""
    import json

    from ftwizard.core.run.config import RunConfig
    from ftwizard.core.run.layout import RunDir

    rd = RunDir(tmp_path / trainer).create(RunConfig(model="m", data="d", trainer=trainer))
    rd.adapter.mkdir()
    rd.data_dir.mkdir()
    row = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": answer}]}
    rd.split_file("test").write_text((json.dumps(row) + "\n") * 3, encoding="utf-8")
    return rd.path


def _check(*args: str) -> str:
    import os

    out = subprocess.run([sys.executable, "-m", "ftwizard", "check", *args], capture_output=True, text=True,
                         env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}, timeout=300)
    assert out.returncode == 0, out.stderr + out.stdout
    return out.stdout


def test_check_lists_only_the_items_that_fit_the_run(tmp_path):
    sft = _listed_run(tmp_path, "sft", "03/02/2001")
    out = _check(str(sft), "--only", "card")
    assert "✔ Write a run card" in out and "Compare fine-tuned vs base" in out and "Safety evaluation" in out
    for title in ("Preference accuracy", "Mean reward", "pass@k", "LLM-as-judge"):
        assert title not in out
    everything = _check(str(sft), "--only", "card", "--all")
    assert "Preference accuracy" in everything and "Mean reward" in everything and "pass@k" in everything
    assert "pass@k on code tasks" in _check(str(sft), "--only", "card", "--task", "code")
    dpo = _check(str(_listed_run(tmp_path, "dpo", "03/02/2001")), "--only", "card")
    assert "Preference accuracy" in dpo and "Compare fine-tuned" not in dpo and "Mean reward" not in dpo
    grpo = _check(str(_listed_run(tmp_path, "grpo", "03/02/2001")), "--only", "card")
    assert "Mean reward" in grpo and "Preference accuracy" not in grpo and "Compare fine-tuned" not in grpo
    # a check named with --only still runs and is listed (with its result) where it does not fit
    out = _check(str(sft), "--only", "pass_at_k")
    assert "– pass@k on code tasks\n    skipped" in out and "Preference accuracy" not in out
