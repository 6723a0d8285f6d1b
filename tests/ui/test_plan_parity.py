"""The CLI and the app plan the same run for the same model, data and hardware: both call `wizard.make_plan`, and
this test holds them to it through their front doors (`ftwizard plan --json` in a subprocess, the app's Data →
Plan steps with Pilot)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ftwizard.core.plan.hardware import FakeProbe
from ftwizard.core.wizard import Answers
from ftwizard.ui.app import make_app
from tests.helpers import pilot_wait as _wait


@pytest.mark.parametrize("task", ["identity", "format"])
async def test_cli_and_app_give_the_same_plan(tmp_path, tiny_model, date_data, task):
    cli = subprocess.run([sys.executable, "-m", "ftwizard", "plan", str(tiny_model), "--data", str(date_data),
                          "--task", task, "--gpu", "cpu", "--json"], capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    out = json.loads(cli.stdout)
    want = {k: v["value"] for k, v in out["choices"].items()}
    ans = Answers(task_kind=task, model=str(tiny_model), gpu="cpu")
    app = make_app(FakeProbe({"gpus": []}), answers=ans, start="data", runs_root=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.analyze(str(date_data))
        await _wait(pilot, lambda: app.answers.data_errors == 0, timeout=60)
        await pilot.press("ctrl+n")
        assert app.current_mode == "plan"
        got = dict(app.screen.view.values)
        ram = app.screen.view.estimate.peak_gib
    assert got == want
    # one memory figure for a CPU plan: the RAM (tensors + the runtime), not the tensors in one place and the tensors
    # plus a CUDA context in the other
    assert ram == pytest.approx(out["memory"]["peak_gib"], abs=0.01) and out["memory"]["inputs"]["device"] == "cpu"
    assert want["learning_rate"] == 1e-3 and want["rank"] == 16  # a model under 0.5B parameters, a behaviour task
