"""Monkey test: Pilot drives every screen with random keys and pastes and asserts the app never crashes.

Seeded, so a failure replays. Short by default (CI); `FTWIZARD_MONKEY_KEYS=5000 pytest tests/ui/test_monkey.py`
runs a long one locally. This is the test that would have caught the Plan's DuplicateIds crash."""

from __future__ import annotations

import json
import os
import random

import pytest
from textual import events

from ftwizard.core.plan.hardware import FakeProbe
from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.layout import RunDir
from ftwizard.core.wizard import Answers
from ftwizard.ui.app import make_app

KEYS_PER_SCREEN = int(os.environ.get("FTWIZARD_MONKEY_KEYS", "100"))
SEED = int(os.environ.get("FTWIZARD_MONKEY_SEED", "13"))
# quitting, the palette (it can start the demo build) and suspend are left out; everything else is fair game
KEYS = (list("abcdefghijklmnoprstuvwxyz0123456789.-,e ") + ["1", "2", "3", "4", "5"] * 3 +
        ["tab", "shift+tab", "enter", "escape", "up", "down", "left", "right", "backspace", "delete", "home", "end",
         "pageup", "pagedown", "space", "ctrl+n", "ctrl+f", "ctrl+s", "ctrl+l", "ctrl+t", "alt+1", "alt+2", "alt+3"])
PASTES = ["4096", "-5", "0", "1e-3", "nan", "1.5k", "[b]bold[/b] :100: [/]", "qwen2.5-7b", "llama-3.2-1b",
          "data/train.jsonl", "9" * 40, "line one\nline two", "", "ünïcödé 🦙", "all-linear", "q_proj,v_proj"]
SCREENS = ["decide", "task", "hardware", "model", "data", "plan", "launch", "estimator", "monitor", "runs",
           "checklist", "tryit"]


class NoLauncher:
    def __call__(self, run, resume=False, num_gpus=1, extra_env=None):  # noqa: ANN001, ANN204
        RunDir(run).write_status(state="starting", pid=None)
        return None


@pytest.fixture
def playground(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
            for i in range(40)]
    (tmp_path / "chat.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    rd = RunDir(tmp_path / "runs" / "old").create(RunConfig(model="m", data="d", estimate_gib=2.0))
    rd.write_status(state="stopped", max_steps=50)
    for s in range(1, 30):
        rd.append_event({"type": "log", "step": s, "max_steps": 50, "loss": 2 / s, "learning_rate": 1e-4,
                         "grad_norm": 1.0, "time": 1000.0 + s, "elapsed_s": float(s)})
    return tmp_path


@pytest.mark.parametrize("start", SCREENS)
async def test_random_keys_and_pastes_never_crash(playground, start):
    rng = random.Random(f"{SEED}-{start}")
    answers = Answers(model="qwen2.5-7b", gpu="NVIDIA GeForce RTX 3060", rows=300, data="chat.jsonl",
                      data_errors=0, step=start if start in ("decide", "task", "hardware", "model", "data", "plan",
                                                            "launch") else "decide")
    app = make_app(FakeProbe.of("3060"), launcher=NoLauncher(), runs_root=playground / "runs", answers=answers,
                   start=start)
    app.stamp = lambda: f"m{rng.randrange(10**9)}"
    async with app.run_test(size=(80, 24)) as pilot:
        if start in ("monitor", "checklist", "tryit"):
            app.open_run(playground / "runs" / "old")
            app.switch_mode(start)
        for i in range(KEYS_PER_SCREEN):
            if rng.random() < 0.08:
                target = app.focused or app.screen
                target.post_message(events.Paste(rng.choice(PASTES)))
            else:
                await pilot.press(rng.choice(KEYS))
            if i % 25 == 0:
                await pilot.pause()
            assert app.is_running, f"the app stopped after {i} keys on {start} (seed {SEED})"
        await pilot.pause()
        assert app.return_code in (None, 0)
