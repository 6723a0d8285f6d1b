"""The Data step shows what will be trained: row 1 through the model's chat template, trained tokens highlighted
(the same mask as `ftwizard data --show-mask 1`, computed in its own process)."""

from __future__ import annotations

from ftwizard.core.plan.hardware import FakeProbe
from ftwizard.core.wizard import Answers
from ftwizard.ui.app import make_app
from tests.helpers import pilot_wait


async def test_data_step_shows_the_trained_tokens_of_row_one(tmp_path, tiny_model, date_data):
    app = make_app(FakeProbe({"gpus": []}), answers=Answers(task_kind="format", model=str(tiny_model), gpu="cpu"),
                   start="data", runs_root=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.analyze(str(date_data))
        await pilot_wait(pilot, lambda: "What is trained" in str(app.screen.query_one("#mask").render()), timeout=90)
        shown = str(app.screen.query_one("#mask").render())
        first = date_data.read_text().splitlines()[0]
        assert "trained tokens: assistant" in shown and "in 1 turn(s)" in shown
        import json

        answer = json.loads(first)["messages"][-1]["content"]
        assert answer in shown
