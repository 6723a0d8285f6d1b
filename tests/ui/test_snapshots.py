"""Snapshot tests of each screen (pytest-textual-snapshot). Update with `pytest --snapshot-update` after an
intended layout change, and look at the SVGs in tests/ui/__snapshots__/ before committing."""

from __future__ import annotations

import json
import os

import pytest

from ftwizard.core.plan.hardware import FakeProbe
from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.layout import RunDir
from ftwizard.core.wizard import Answers
from ftwizard.ui.app import make_app

SIZE = (100, 32)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _app(start: str, answers: Answers | None = None, gpu: str = "4090"):
    app = make_app(FakeProbe.of(gpu) if gpu else FakeProbe({"gpus": [], "reason": "No NVIDIA driver was found."}),
                   runs_root="runs", answers=answers, start=start)
    app.stamp = lambda: "20260101-000000"
    return app


@pytest.mark.parametrize("start", ["decide", "task", "hardware", "estimator", "runs", "checklist"])
def test_screen_snapshots(snap_compare, in_tmp, start):
    assert snap_compare(_app(start), terminal_size=SIZE)


def test_hardware_without_gpu_snapshot(snap_compare, in_tmp):
    assert snap_compare(_app("hardware", gpu=""), terminal_size=SIZE)


def test_model_snapshot(snap_compare, in_tmp):
    assert snap_compare(_app("model", Answers(model="qwen2.5-7b")), terminal_size=SIZE)


def test_plan_snapshot_does_not_fit(snap_compare, in_tmp):
    ans = Answers(model="llama-3.1-8b", task_kind="domain", rows=3000, seq_p99=900, overrides={"micro_batch": 8})
    assert snap_compare(_app("plan", ans), terminal_size=SIZE)


def test_plan_snapshot_80x24(snap_compare, in_tmp):
    assert snap_compare(_app("plan", Answers(model="llama-3.2-1b", rows=800)), terminal_size=(80, 24))


def test_launch_snapshot_blocked(snap_compare, in_tmp):
    assert snap_compare(_app("launch", Answers(model="llama-3.1-8b")), terminal_size=SIZE)


def test_data_snapshot_with_errors(snap_compare, in_tmp):
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
            for i in range(30)]
    lines = [json.dumps(r) for r in rows]
    lines[4] = '{"messages": [{"role": "user", "content": "no answer"}]}'
    lines[9] = "{oops"
    (in_tmp / "chat.jsonl").write_text("\n".join(lines) + "\n")

    async def analyze(pilot):
        pilot.app.screen.query_one("#data-path").value = "chat.jsonl"
        pilot.app.screen.analyze("chat.jsonl")
        for _ in range(100):
            if pilot.app.answers.data_errors is not None:
                break
            await pilot.pause(0.05)

    assert snap_compare(_app("data"), terminal_size=SIZE, run_before=analyze)


def test_monitor_snapshot(snap_compare, in_tmp):
    rd = RunDir("runs/demo").create(RunConfig(model="m", data="d", estimate_gib=3.2))
    rd.write_status(state="running", pid=os.getpid(), max_steps=200)
    for s in range(1, 121):
        rd.append_event({"type": "log", "step": s, "max_steps": 200, "epoch": s / 100, "loss": 3.0 / (1 + s / 20),
                         "learning_rate": 2e-4 * min(1, s / 10), "grad_norm": 1 + (s % 5) / 10,
                         "tokens_per_s": 1234.0, "time": 1000.0 + s, "elapsed_s": float(s)})
        if s % 40 == 0:
            rd.append_event({"type": "eval", "step": s, "eval_loss": 3.2 / (1 + s / 25), "time": 1000.0 + s})

    async def open_run(pilot):
        pilot.app.open_run("runs/demo")
        for _ in range(100):
            if pilot.app.run_state and pilot.app.run_state.events >= 123:
                break
            await pilot.pause(0.05)
        await pilot.pause(0.8)

    assert snap_compare(_app("decide"), terminal_size=SIZE, run_before=open_run)
