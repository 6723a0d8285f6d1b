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
